from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from dashboard.models import Scope, Team
from dashboard.tokens import token_create


class Command(BaseCommand):
    help = (
        "Create a proxy token for a team. The token is shown only here, alone on the last line "
        "(`... | tail -n1`). Example: create_proxy_token --team maven --name litellm-prod "
        "--scopes usage:write,routes:read"
    )

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="The team's slug.")
        parser.add_argument("--name", required=True, help="What uses it, e.g. the proxy host.")
        parser.add_argument(
            "--scopes",
            default=Scope.USAGE_WRITE.value,
            help=f"Comma-separated, from {', '.join(Scope.values)} (default usage:write).",
        )

    def handle(self, *args, team, name, scopes, **options):
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team has the slug {team!r}. Create it with create_team first.")
        scope_list = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        try:
            proxy_token, token = token_create(team=team_obj, name=name, scopes=scope_list)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(
            f"Created proxy token {proxy_token.name} ({proxy_token.prefix}) for {team_obj.name} "
            f"with {', '.join(proxy_token.scopes)}."
        )
        self.stdout.write("Store it in the proxy's secrets now; it is not shown again:")
        self.stdout.write(token)
