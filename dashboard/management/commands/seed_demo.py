from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db.models import Sum
from django.utils import timezone

from billing.alerts.rules import alert_rules_add_recommended
from billing.catalog import catalog_load, team_price_add
from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.experiments.evidence import ArmRef
from billing.experiments.gates import StepGates
from billing.experiments.plans import rollout_create
from billing.fx import fx_demo_seed
from billing.models import AlertRule, Budget, TeamModelPrice, UsageRollup
from billing.treasury.demo import treasury_demo_seed
from dashboard.models import Role, Team
from dashboard.progress import ProgressBar
from dashboard.teams import member_set_role
from routing.keys import DEMO_KEY_LABEL, DEMO_SECRET_PREFIX, key_add
from routing.models import Model, Provider, ProviderKey, RolloutPlan, RoutingRule
from routing.publish import latest_version, routing_publish
from routing.rules import rule_save

DEMO_PASSWORD = "spend-demo"  # noqa: S105 - printed on purpose: this is the local demo

DEMO_TEAMS = [
    # slug, name, time zone, baseline model (provider, name), tasks on a weekday
    ("maven", "Maven", "America/New_York", ("anthropic", "claude-sonnet-4-5"), 320),
    ("pantheon", "Pantheon", "Europe/London", ("openai", "gpt-5.2"), 170),
    ("atlas", "Atlas", "Asia/Tokyo", ("anthropic", "claude-sonnet-4-5"), 460),
]
# Pantheon budgets in pounds: its pages show GBP at the (demo) daily reference rates.
DEMO_DISPLAY_CURRENCY = {"pantheon": "GBP"}
# Each demo budget is the team's recent pace for a whole month times this: Maven runs over,
# Atlas close to its limit, Pantheon comfortably under.
DEMO_BUDGET_HEADROOM = {
    "maven": Decimal("0.9"),
    "pantheon": Decimal("1.4"),
    "atlas": Decimal("1.05"),
}
DEMO_TARGET_SHARE = (55, 70)
DEMO_DAYS = 90
# How long ago the demo's routing version was published: its experiments' age.
DEMO_ROUTED_FOR = timedelta(days=21)

# username, what the role is for, {team slug: role}
DEMO_USERS = [
    (
        "admin",
        "everything, incl. members, tokens and /admin/",
        {"maven": Role.ADMIN, "pantheon": Role.ADMIN, "atlas": Role.ADMIN},
    ),
    (
        "ops",
        "keys, routing and alert rules",
        {"maven": Role.OPS, "pantheon": Role.VIEWER, "atlas": Role.OPS},
    ),
    (
        "finance",
        "budgets and reports",
        {"maven": Role.FINANCE, "pantheon": Role.FINANCE, "atlas": Role.FINANCE},
    ),
    ("viewer", "read only", {"maven": Role.VIEWER, "pantheon": Role.VIEWER, "atlas": Role.VIEWER}),
]


class Command(BaseCommand):
    help = (
        "Load the catalog, the demo teams and users (one per role) and their demo usage; "
        "safe to run again: it only adds what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=DEMO_DAYS, help=f"Days of demo usage (default {DEMO_DAYS})."
        )

    def handle(self, *args, days, **options):
        self.stdout.write(f"Catalog: {catalog_load()}.")
        teams = {}
        for slug, name, tz, (provider, model), _ in DEMO_TEAMS:
            teams[slug], created = Team.objects.get_or_create(
                slug=slug, defaults={"name": name, "time_zone": tz}
            )
            if created:
                teams[slug].baseline_model = Model.objects.get(provider__slug=provider, name=model)
                teams[slug].target_share_min, teams[slug].target_share_max = DEMO_TARGET_SHARE
                teams[slug].display_currency = DEMO_DISPLAY_CURRENCY.get(slug, "USD")
                teams[slug].save()
        users = get_user_model().objects
        for username, _, roles in DEMO_USERS:
            user, created = users.get_or_create(
                username=username, defaults={"email": f"{username}@demo.invalid"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                # The demo admin also opens Django's admin site.
                user.is_staff = user.is_superuser = username == "admin"
                user.save()
            for slug, role in roles.items():
                if not teams[slug].memberships.filter(user=user).exists():
                    member_set_role(team=teams[slug], user=user, role=role)
        self._seed_keys(teams)
        self._seed_routing(teams)
        self._seed_rollout(teams["maven"])
        self._seed_team_price(teams["maven"])
        self._seed_usage(teams, days)
        self._seed_budgets(teams)
        self._seed_treasury(teams)
        self._seed_alert_rules(teams)
        self.stdout.write(self.style.SUCCESS("Demo teams, users and usage are ready."))
        self.stdout.write(demo_logins())

    def _seed_keys(self, teams):
        """A fake key per demo team for each provider its routes use, so no rule warns of none."""
        admin = get_user_model().objects.get(username="admin")
        slugs = {p for _, targets, fallbacks in DEMO_ROUTES for p, *_ in [*targets, *fallbacks]}
        for team in teams.values():
            for provider in Provider.objects.filter(slug__in=slugs):
                if ProviderKey.objects.active().filter(team=team, provider=provider).exists():
                    continue
                secret = f"{DEMO_SECRET_PREFIX}{provider.slug}-{team.slug}"
                key_add(
                    team=team, provider=provider, label=DEMO_KEY_LABEL, secret=secret, user=admin
                )
        self.stdout.write(
            f"Keys: a fake demo key per provider for each demo team ({DEMO_KEY_LABEL})."
        )

    def _seed_routing(self, teams):
        """A published routing version per demo team, like the mix its demo traffic follows."""
        admin = get_user_model().objects.get(username="admin")
        for team in teams.values():
            if RoutingRule.objects.filter(team=team).exists():
                continue
            for task_type, targets, fallbacks in DEMO_ROUTES:
                rule_save(
                    team=team,
                    user=admin,
                    task_type=task_type,
                    targets=[{"model_id": _model(p, m).pk, "weight": w} for p, m, w in targets],
                    fallbacks=[_model(p, m).pk for p, m in fallbacks],
                )
            version = routing_publish(
                team=team, user=admin, comment="Demo: 60-70% of requests to Chutes"
            )
            # Published weeks ago, so its splits run as experiments over the demo's usage.
            version.published_at = timezone.now() - DEMO_ROUTED_FOR
            version.save(update_fields=["published_at"])
            self._seed_second_publish(team, admin)
        self.stdout.write("Routing: a published version for each demo team, its splits pilots.")

    def _seed_second_publish(self, team, admin):
        """A later publish, so the charts mark a change within the demo's days."""
        rule = RoutingRule.objects.get(team=team, task_type=DEMO_SECOND_PUBLISH_TASK)
        rule_save(
            team=team,
            user=admin,
            task_type=rule.task_type,
            targets=[
                {"model_id": _model(p, m).pk, "weight": w}
                for p, m, w in DEMO_SECOND_PUBLISH_TARGETS
            ],
            fallbacks=rule.fallbacks,
            rule=rule,
        )
        version = routing_publish(team=team, user=admin, comment=DEMO_SECOND_PUBLISH_COMMENT)
        version.published_at = timezone.now() - DEMO_SECOND_PUBLISH_AGO
        version.save(update_fields=["published_at"])

    def _seed_team_price(self, team):
        """Maven's negotiated Sonnet price, from a date within the demo's days: the charts mark
        it and the month's bridge shows it as a unit price effect."""
        sonnet = _model(*SONNET)
        if TeamModelPrice.objects.filter(team=team, model=sonnet).exists():
            return
        team_price_add(
            team=team,
            model=sonnet,
            user=get_user_model().objects.get(username="admin"),
            effective_from=(timezone.now() - DEMO_TEAM_PRICE_AGO).date(),
            reason="Demo: a negotiated price, 10% off the list price",
            **DEMO_TEAM_PRICE,
        )
        self.stdout.write(f"Team price: {team.name}'s negotiated Sonnet price.")

    def _seed_rollout(self, team):
        """A rollout plan running since the demo version: DeepSeek growing on code completion."""
        if RolloutPlan.objects.filter(team=team).exists():
            return
        version = latest_version(team)
        if version is None:
            return
        plan = rollout_create(
            team=team,
            user=get_user_model().objects.get(username="admin"),
            task_type=DEMO_ROLLOUT_TASK,
            candidate=ArmRef(*DEEPSEEK),
            control=ArmRef("openai", "gpt-5-mini"),
            steps=[StepGates.of(DEMO_ROLLOUT_GATES | {"weight": w}) for w in DEMO_ROLLOUT_WEIGHTS],
            auto_advance=False,
            auto_rollback=False,
        )
        # Started with the version it runs on, weeks ago, as the demo's experiments did.
        RolloutPlan.objects.filter(pk=plan.pk).update(created_at=version.published_at)
        plan.events.update(at=version.published_at)
        state = plan.get_state_display().lower()
        self.stdout.write(f"Rollout: a plan for {team.name}'s code completion, {state}.")

    def _seed_budgets(self, teams):
        """A recurring monthly budget per demo team, sized from its last 30 days of usage."""
        now = timezone.now()
        for slug, team in teams.items():
            if Budget.objects.filter(team=team).exists():
                continue
            recent = UsageRollup.objects.filter(team=team, hour__gte=now - timedelta(days=30))
            sums = recent.aggregate(usd=Sum("cost_usd"), tao=Sum("tao_amount"))
            if not sums["usd"]:
                continue
            headroom = DEMO_BUDGET_HEADROOM[slug]
            usd = max(Decimal(10), (sums["usd"] * headroom / 10).quantize(Decimal(1)) * 10)
            tao = (sums["tao"] * headroom).quantize(Decimal("0.0001")) if sums["tao"] else None
            Budget.objects.create(team=team, amount_usd=usd, amount_tao=tao or None)
        self.stdout.write("Budgets: a monthly demo budget for each demo team.")

    def _seed_treasury(self, teams):
        """TAO lots and transfers sized on each team's own Chutes burn (after its usage)."""
        now = timezone.now()
        added = sum(treasury_demo_seed(team, now) for team in teams.values())
        self.stdout.write(f"TAO treasury: {added} demo purchases and transfers added.")

    def _seed_alert_rules(self, teams):
        """The recommended alert rules for each demo team: the worker's beat evaluates them."""
        admin = get_user_model().objects.get(username="admin")
        for team in teams.values():
            if not AlertRule.objects.filter(team=team).exists():
                alert_rules_add_recommended(team=team, actor=admin)
        self.stdout.write("Alert rules: the recommended set for each demo team.")

    def _seed_usage(self, teams, days):
        now = timezone.now()
        added = demo_tao_prices(now - timedelta(days=days + 1), now)
        self.stdout.write(f"TAO prices: {added:,} demo points added.")
        rates = fx_demo_seed((now - timedelta(days=days + 7)).date(), now.date())
        self.stdout.write(f"Currency rates: {rates:,} demo reference rates added.")
        for slug, *_, per_weekday in DEMO_TEAMS:
            bar = ProgressBar(self.stdout, f"Usage for {teams[slug].name:<9}")
            versions = teams[slug].routing_versions.values_list("published_at", "number")
            count = demo_usage_seed(
                teams[slug],
                DemoProfile(per_weekday),
                days=days,
                now=now,
                routes=list(versions),
                progress=bar,
            )
            self.stdout.write(f"  {count:,} demo events added for {teams[slug].name}.")


SONNET = ("anthropic", "claude-sonnet-4-5")
LLAMA = ("chutes", "unsloth/Llama-3.3-70B-Instruct")
DEEPSEEK = ("chutes", "deepseek-ai/DeepSeek-V3")
# A second publish, days after the first: a change the charts mark.
DEMO_SECOND_PUBLISH_AGO = timedelta(days=8)
DEMO_SECOND_PUBLISH_TASK = "extraction"
DEMO_SECOND_PUBLISH_TARGETS = [
    ("chutes", "unsloth/Llama-3.3-70B-Instruct", 90),
    ("openai", "gpt-5-mini", 10),
]
DEMO_SECOND_PUBLISH_COMMENT = "Demo: extraction leans further on Llama, whose quality held"
DEMO_TEAM_PRICE_AGO = timedelta(days=12)
DEMO_TEAM_PRICE = {"input_per_mtok": Decimal("2.70"), "output_per_mtok": Decimal("13.50")}
# The demo plan starts at the live weight, so it runs at once on the demo's evidence.
DEMO_ROLLOUT_TASK = "code_completion"
DEMO_ROLLOUT_WEIGHTS = [80, 90, 95]
DEMO_ROLLOUT_GATES = {
    "min_days": 7,
    "min_scored": 150,
    "max_error_increase_pts": "3",
    "max_p95_ratio": "2.5",
}
DEMO_ROUTES = [
    # task type, targets (provider, model, weight), fallbacks (provider, model)
    ("*", [(*SONNET, 100)], []),
    ("summarization", [(*LLAMA, 80), (*SONNET, 20)], [DEEPSEEK]),
    ("extraction", [(*LLAMA, 85), ("openai", "gpt-5-mini", 15)], [SONNET]),
    ("code_completion", [(*DEEPSEEK, 80), ("openai", "gpt-5-mini", 20)], [SONNET]),
    ("code_generation", [(*SONNET, 70), (*DEEPSEEK, 30)], [("openai", "gpt-5.2")]),
    ("complex_analysis", [(*SONNET, 80), (*DEEPSEEK, 20)], [("anthropic", "claude-opus-4-5")]),
    ("financial_reasoning", [(*SONNET, 50), ("openai", "gpt-5.2", 50)], []),
]


def _model(provider: str, name: str) -> Model:
    return Model.objects.get(provider__slug=provider, name=name)


def demo_logins() -> str:
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for username, purpose, roles in DEMO_USERS:
        where = ", ".join(f"{role} in {slug}" for slug, role in roles.items())
        lines.append(f"  {username:<8} {purpose} ({where})")
    return "\n".join(lines)
