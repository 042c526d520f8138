from django.core.management.base import BaseCommand, CommandError

from billing.catalog import model_from_label
from billing.reprice import usage_reprice
from dashboard.cli import day_option, team_option
from dashboard.progress import ProgressBar


class Command(BaseCommand):
    help = (
        "Price stored events again with the catalog and the teams' own prices (after a price "
        "was added or corrected) and rebuild their rollups. "
        "Example: reprice --since 2026-11-01 --team maven --model anthropic/claude-sonnet-4-5"
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="First day (UTC), YYYY-MM-DD.")
        parser.add_argument("--team", help="Only this team's events (its slug).")
        parser.add_argument(
            "--model",
            help="Only this model's events (and unresolved ones), as provider/model, "
            "e.g. chutes/deepseek-ai/DeepSeek-V3.",
        )

    def handle(self, *args, since, team, model, **options):
        start = day_option(since, "--since")
        team_obj = team_option(team)
        model_obj = None
        if model:
            model_obj = model_from_label(model)
            if model_obj is None:
                raise CommandError(
                    f"No catalog model is called {model!r}: write it as provider/model."
                )
        result = usage_reprice(
            since=start,
            team=team_obj,
            model=model_obj,
            progress=ProgressBar(self.stdout, "Repricing"),
        )
        if result.kept_before is not None:
            self.stdout.write(
                f"Events before {result.kept_before:%Y-%m} were left as they are: retention "
                "removed the raw events of those months (USAGE_RAW_RETENTION_MONTHS)."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Examined {result.examined:,} events, repriced {result.changed:,}, "
                f"rebuilt {result.rollups:,} rollup rows."
            )
        )
