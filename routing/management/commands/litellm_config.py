import os
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from dashboard.models import Team
from routing.companion import RUN_COMMAND, companion_files, dashboard_url_check


class Command(BaseCommand):
    help = (
        "Write a ready LiteLLM proxy set-up for a team into DIR: config.yaml (loads the LLM Spend "
        "companion, no model list of its own), llm_spend.py (the companion) and proxy.env (with a "
        "new proxy token). Then: cd DIR && env $(cat proxy.env) litellm --config config.yaml"
    )

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="The team's slug.")
        parser.add_argument(
            "--dashboard-url",
            required=True,
            help="This dashboard's address as the proxy reaches it, e.g. https://spend.example.com",
        )
        parser.add_argument("--out", required=True, help="The directory to write.")
        parser.add_argument(
            "--force", action="store_true", help="Write into a directory that is not empty."
        )

    def handle(self, *args, team, dashboard_url, out, force, **options):
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team has the slug {team!r}. Create it with create_team first.")
        try:
            dashboard_url = dashboard_url_check(dashboard_url)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        directory = Path(out)
        if directory.exists() and not directory.is_dir():
            raise CommandError(f"{directory} exists and is not a directory.")
        if directory.is_dir() and any(directory.iterdir()) and not force:
            raise CommandError(f"{directory} is not empty; use --force to write into it anyway.")
        directory.mkdir(parents=True, exist_ok=True)
        files = companion_files(team=team_obj, dashboard_url=dashboard_url)
        for name, text in files.items():
            path = directory / name
            path.write_text(text, encoding="utf-8")
            if name == "proxy.env":
                # It holds the proxy token and the master key.
                os.chmod(path, 0o600)
            self.stdout.write(f"Wrote {path}")
        self.stdout.write(
            f"A proxy token for {team_obj.name} (usage:write routes:read keys:read) is in "
            f"{directory / 'proxy.env'}; it is not shown anywhere else."
        )
        self.stdout.write(f"Start the proxy: cd {directory} && {RUN_COMMAND}")
