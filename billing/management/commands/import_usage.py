from django.core.management.base import BaseCommand, CommandError

from billing.ingest.files import Counts, ImportFileError, usage_file_import
from dashboard.cli import team_option
from dashboard.progress import ProgressBar


def _counts(counts: Counts) -> str:
    return (
        f"{counts.accepted:,} accepted, {counts.duplicates:,} duplicates, "
        f"{counts.rejected:,} rejected"
    )


class Command(BaseCommand):
    help = (
        "Import usage events from a JSON Lines (canonical events or LiteLLM payloads) or CSV "
        "file, gzipped or not; safe to run again. Example: import_usage usage.jsonl.gz --team maven"
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="A .jsonl, .ndjson, .json or .csv file, or .gz of one.")
        parser.add_argument(
            "--team", help="The team of every row (its slug); else each row's team column."
        )

    def handle(self, *args, file, team, **options):
        team_obj = team_option(team)
        try:
            summary = usage_file_import(
                file, team=team_obj, progress=ProgressBar(self.stdout, "Importing")
            )
        except ImportFileError as error:
            raise CommandError(str(error)) from None
        style = self.style.WARNING if summary.total.rejected else self.style.SUCCESS
        self.stdout.write(
            style(
                f"{summary.rows:,} rows read: {_counts(summary.total)} "
                f"in {summary.seconds:.1f}s ({summary.rows_per_second:,.0f} rows/s)."
            )
        )
        if len(summary.teams) > 1:
            for slug, counts in sorted(summary.teams.items()):
                self.stdout.write(f"  {slug}: {_counts(counts)}")
        if summary.rejected_path:
            self.stdout.write(f"Rejected rows and their errors: {summary.rejected_path}")
