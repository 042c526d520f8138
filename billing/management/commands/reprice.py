from django.core.management.base import BaseCommand

from billing.reprice import reprice_events
from dashboard.cli import day_option, team_option
from dashboard.progress import ProgressBar


class Command(BaseCommand):
    help = (
        "Price stored events again with the catalog (after a price was added or corrected) "
        "and rebuild their rollups. Example: reprice --since 2026-11-01 --team maven"
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="First day (UTC), YYYY-MM-DD.")
        parser.add_argument("--team", help="Only this team's events (its slug).")

    def handle(self, *args, since, team, **options):
        start = day_option(since, "--since")
        team_obj = team_option(team)
        result = reprice_events(
            since=start, team=team_obj, progress=ProgressBar(self.stdout, "Repricing")
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Examined {result.examined:,} events, repriced {result.changed:,}, "
                f"rebuilt {result.rollups:,} rollup rows."
            )
        )
