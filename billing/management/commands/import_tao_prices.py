from django.core.management.base import BaseCommand, CommandError

from billing.ingest.files import ImportFileError
from billing.models import TaoPrice
from billing.tao_feed import TIME_COLUMNS, USD_COLUMNS, tao_prices_import
from dashboard.progress import ProgressBar


class Command(BaseCommand):
    help = (
        "Backfill TAO/USD history from a CSV file with a header: a time column "
        f"({', '.join(TIME_COLUMNS)}: ISO 8601 with an offset, epoch seconds or milliseconds, "
        f"or a date for midnight UTC) and a price column ({', '.join(USD_COLUMNS)}). "
        "Points already stored for the same time and source stay as they are. "
        "Example: tao_prices_import tao.csv --source coingecko-history"
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="A CSV file with a header row.")
        parser.add_argument(
            "--source", default="import", help="Stored with every point (default: import)."
        )

    def handle(self, *args, file, source, **options):
        source = source.strip()
        max_length = TaoPrice._meta.get_field("source").max_length
        if not source or len(source) > max_length:
            raise CommandError(f"--source must be 1 to {max_length} characters.")
        try:
            summary = tao_prices_import(
                file, source=source, progress=ProgressBar(self.stdout, "Importing")
            )
        except ImportFileError as error:
            raise CommandError(str(error)) from None
        for line, reason in summary.rejections:
            self.stdout.write(self.style.WARNING(f"line {line:,}: {reason}"))
        unreported = summary.rejected - len(summary.rejections)
        if unreported:
            self.stdout.write(self.style.WARNING(f"... and {unreported:,} more rejected rows"))
        style = self.style.WARNING if summary.rejected else self.style.SUCCESS
        self.stdout.write(
            style(
                f"{summary.added:,} added, {summary.existing:,} already there, "
                f"{summary.rejected:,} rejected (source {source!r})."
            )
        )
