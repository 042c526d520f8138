from django.core.management.base import BaseCommand

from billing.retention import usage_raw_drop


class Command(BaseCommand):
    help = (
        "Drop whole months of raw usage events older than USAGE_RAW_RETENTION_MONTHS, oldest "
        "first, once every team with usage in them has closed them (what the daily job does)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be dropped; drop nothing."
        )

    def handle(self, *args, dry_run, **options):
        result = usage_raw_drop(dry_run=dry_run)
        self.stdout.write(result.summary(dry_run=dry_run))
