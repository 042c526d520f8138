from django.core.management.base import BaseCommand

from billing.rollups import rollups_rebuild
from dashboard.cli import day_option, team_option
from dashboard.progress import ProgressBar


class Command(BaseCommand):
    help = "Recompute the hourly usage rollups from the raw events."

    def add_arguments(self, parser):
        parser.add_argument("--team", help="Only this team (its slug).")
        parser.add_argument("--since", help="From this day (UTC) on, YYYY-MM-DD.")

    def handle(self, *args, team, since, **options):
        start = day_option(since, "--since")
        team_obj = team_option(team)
        written = rollups_rebuild(
            team=team_obj, since=start, progress=ProgressBar(self.stdout, "Rebuilding")
        )
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {written:,} rollup rows."))
