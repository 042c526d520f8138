from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from billing.alerts.evaluation import alerts_evaluate


class Command(BaseCommand):
    help = (
        "Evaluate every enabled alert rule once: open, refresh and resolve alerts and queue "
        "their notifications. Example: evaluate_alerts --now 2026-05-14T09:00:00Z"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--now", help="Evaluate as of this moment (ISO 8601 with an offset); default now."
        )

    def handle(self, *args, now, **options):
        result = alerts_evaluate(now=moment_option(now))
        style = self.style.ERROR if result.failed else self.style.SUCCESS
        self.stdout.write(style(result.summary))
        if result.failed:
            raise CommandError(f"{len(result.failed)} rules failed.")


def moment_option(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--now {value!r} is not a time like 2026-05-14T09:00:00Z.") from None
    if moment.tzinfo is None:
        raise CommandError(f"--now {value!r} needs an offset, e.g. 2026-05-14T09:00:00Z.")
    return moment
