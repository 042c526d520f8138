from django.core.management.base import BaseCommand

from billing.retention import raw_usage_since
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
        raw_since = raw_usage_since()
        if raw_since is not None and (start is None or start < raw_since):
            self.stdout.write(
                f"Rollups before {raw_since:%Y-%m} were kept as they are: retention removed "
                "their raw events (USAGE_RAW_RETENTION_MONTHS)."
            )
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {written:,} rollup rows."))
