from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from dashboard.models import Team
from dashboard.teams import team_create


class Command(BaseCommand):
    help = "Create a team. Example: create_team --slug maven --name Maven --tz America/New_York"

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True, help="Short name used in URLs, e.g. maven.")
        parser.add_argument("--name", required=True, help="Display name, e.g. 'Maven'.")
        parser.add_argument("--tz", default="UTC", help="Area/City time zone (default UTC).")

    def handle(self, *args, slug, name, tz, **options):
        if Team.objects.filter(slug=slug).exists():
            raise CommandError(f"A team with slug {slug!r} already exists.")
        try:
            team = team_create(slug=slug, name=name, time_zone=tz)
        except ValidationError as error:
            raise CommandError(_describe(error)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Created team {team.name} ({team.slug}, {team.time_zone}).")
        )


def _describe(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)
