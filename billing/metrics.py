"""What GET /metrics tells Prometheus: each team's month so far, budgets, alerts, ingest and
proxies, and the TAO price, read fresh at every scrape.

Everything is read from rollups and small tables, with as many queries for one team as for a
hundred: one for the four month-to-date families, one for each other family, and for budgets
two plus one per currency other than USD that budgets are set in.

Label values come from teams, members and proxies: the Prometheus client escapes them, and
their number stays bounded: `provider` and `model` name catalog entries only (anything else is
"other"), `status` and `kind` are enumerations, and `proxy` covers the proxies seen in the
last few minutes.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Case, CharField, Exists, F, OuterRef, Q, Sum, Value, When
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from billing import fx
from billing.budgets import (
    CURRENT,
    BudgetLine,
    budget_applies,
    budget_standing,
    scope_key,
    set_in_other_currency,
)
from billing.ingest.events import TOKEN_FIELDS
from billing.models import (
    Alert,
    AlertKind,
    AlertState,
    Budget,
    IngestTally,
    TaoPrice,
    UsageDailyRollup,
)
from billing.overview.cube import HUNDRED, CubeRow, whole
from dashboard.models import Team
from routing.fleet import RECENT
from routing.models import Model, Provider, ProxyInstance

# What a provider or model outside the catalog is labelled: proxies may send any name.
OTHER = "other"
# Proxies heartbeat every few seconds; one silent for longer is not what the fleet counts as
# running, and dropping it keeps a churning fleet's `proxy` series few.
PROXY_WINDOW = RECENT
MONTHLY = (
    "Month to date in the team's time zone; a gauge, not a counter, since it restarts from 0 "
    "on the first of each month."
)


def metrics_exposition(teams: Iterable, *, now: datetime) -> bytes:
    """The Prometheus text exposition of these teams' series (and the TAO price)."""
    registry = CollectorRegistry()
    registry.register(SpendCollector(list(teams), now))
    return generate_latest(registry)


class SpendCollector:
    """A collector for one scrape: its families are read when the registry collects them."""

    def __init__(self, teams: list, now: datetime):
        self.teams = teams
        self.now = now

    def collect(self) -> Iterator[Metric]:
        yield team_info_family(self.teams)
        yield from month_to_date_families(self.teams, self.now)
        yield budget_family(self.teams, self.now)
        yield from tao_price_families(self.now)
        yield alerts_family(self.teams)
        yield ingest_family(self.teams)
        yield from proxy_families(self.teams, self.now)


# --- Teams ---------------------------------------------------------------------------------


def team_info_family(teams: list) -> Metric:
    family = InfoMetricFamily(
        "llmspend_team",
        "Each team: its slug (the team label elsewhere), name and time zone.",
        labels=["team"],
    )
    for team in teams:
        family.add_metric([team.slug], {"name": team.name, "time_zone": team.time_zone})
    return family


# --- Month to date -------------------------------------------------------------------------


def month_to_date_families(teams: list, now: datetime) -> list[Metric]:
    """Requests, tokens, USD and TAO of each team's month so far, from one grouped query."""
    requests = GaugeMetricFamily(
        "llmspend_month_to_date_requests",
        f"Requests by provider, model and status (success or error). {MONTHLY}",
        labels=["team", "provider", "model", "status"],
    )
    tokens = GaugeMetricFamily(
        "llmspend_month_to_date_tokens",
        f"Tokens by provider, model and type (input, output, cached_input, cache_write). {MONTHLY}",
        labels=["team", "provider", "model", "type"],
    )
    cost_usd = GaugeMetricFamily(
        "llmspend_month_to_date_cost_usd",
        f"Spend in US dollars by provider and model. {MONTHLY}",
        labels=["team", "provider", "model"],
    )
    cost_tao = GaugeMetricFamily(
        "llmspend_month_to_date_cost_tao",
        f"TAO used by provider and model (only where some was). {MONTHLY}",
        labels=["team", "provider", "model"],
    )
    slugs = {team.id: team.slug for team in teams}
    token_sums: dict[tuple, int] = defaultdict(int)
    money: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in _month_rows(teams, now):
        where = (slugs[row["team_id"]], row["provider_label"], row["model_label"])
        requests.add_metric([*where, row["status"]], row["requests"] or 0)
        for name in TOKEN_FIELDS:
            token_sums[(*where, name.removesuffix("_tokens"))] += row[name] or 0
        money[where][0] += row["cost"] or 0
        money[where][1] += row["tao"] or 0
    for labels, count in token_sums.items():
        tokens.add_metric(list(labels), count)
    for labels, (usd, tao) in money.items():
        cost_usd.add_metric(list(labels), float(usd))
        if tao:
            cost_tao.add_metric(list(labels), float(tao))
    return [requests, tokens, cost_usd, cost_tao]


def _month_rows(teams: list, now: datetime):
    """Sums per team, catalog provider, catalog model and status, each team from the first of
    its month to its today; names outside the catalog summed as "other" by the database."""
    return (
        UsageDailyRollup.objects.filter(_month_so_far(teams, now))
        .annotate(provider_label=_provider_label(), model_label=_model_label())
        .values("team_id", "provider_label", "model_label", "status")
        .annotate(
            requests=whole(Sum("requests")),
            cost=Sum("cost_usd"),
            tao=Sum("tao_amount"),
            **{name: whole(Sum(name)) for name in TOKEN_FIELDS},
        )
        .order_by()
    )


def _month_so_far(teams: list, now: datetime) -> Q:
    """Daily rollups of each team's month so far: one term per distinct team today (teams in
    zones on the same date share it), so the query stays small with many teams. No team, no
    row (an empty Q would match them all)."""
    by_today: dict[date, list[int]] = defaultdict(list)
    for team in teams:
        by_today[now.astimezone(team.zone).date()].append(team.id)
    condition = Q(pk__in=[])
    for today, team_ids in by_today.items():
        condition |= Q(team_id__in=team_ids, day__gte=today.replace(day=1), day__lte=today)
    return condition


def _provider_label():
    known = Exists(Provider.objects.filter(slug=OuterRef("provider_name")))
    return Case(
        When(known, then=F("provider_name")), default=Value(OTHER), output_field=CharField()
    )


def _model_label():
    known = Exists(
        Model.objects.filter(provider__slug=OuterRef("provider_name"), name=OuterRef("model_name"))
    )
    return Case(When(known, then=F("model_name")), default=Value(OTHER), output_field=CharField())


# --- Budgets -------------------------------------------------------------------------------


def budget_family(teams: list, now: datetime) -> Metric:
    family = GaugeMetricFamily(
        "llmspend_budget_used_ratio",
        "Share of each budget in force this month already spent (1 = all of it), as the "
        "Budgets page shows it; provider, task_type and api_key_alias are empty for a "
        "whole-team budget.",
        labels=["team", "provider", "task_type", "api_key_alias"],
    )
    for team, line in budget_standings(teams, now):
        used = line.used_pct
        if used is None:
            continue
        budget = line.budget
        provider = budget.provider.slug if budget.provider is not None else ""
        labels = [team.slug, provider, budget.task_type, budget.api_key_alias]
        family.add_metric(labels, float(used / HUNDRED))
    return family


def budget_standings(teams: list[Team], now: datetime) -> list[tuple[Team, BudgetLine]]:
    """billing.budgets.budget_lines' standing of every budget in force this month, for many
    teams at once: one query for the budgets, one for the month's spend, and one per other
    currency than USD that budgets are set in, whatever the number of teams."""
    todays = {team.id: now.astimezone(team.zone).date() for team in teams}
    firsts = {team_id: today.replace(day=1) for team_id, today in todays.items()}
    budgets: dict[int, list[Budget]] = defaultdict(list)
    rows = Budget.objects.filter(team_id__in=list(todays)).filter(
        Q(month=None) | Q(month__in=set(firsts.values()))
    )
    for budget in rows.select_related("provider"):
        budgets[budget.team_id].append(budget)
    current = []
    for team in teams:
        first = firsts[team.id]
        this_month = {scope_key(b): b for b in budgets[team.id] if b.month == first}
        current += [
            (team, b) for b in budgets[team.id] if budget_applies(b, first, this_month) == CURRENT
        ]
    if not current:
        return []
    cubes = _month_cubes(list({team.id: team for team, _ in current}.values()), now)
    currencies = sorted({b.currency for _, b in current if set_in_other_currency(b)})
    span = min(firsts.values()), max(todays.values())
    rates = {code: fx.fx_rates(code, *span) for code in currencies}
    standings = []
    for team, budget in current:
        line = BudgetLine(budget, CURRENT, None, None, None)
        first, today = firsts[team.id], todays[team.id]
        cube = cubes[(team.id, budget.api_key_alias)]
        standings.append(
            (team, budget_standing(team, line, cube, first, today, rates.get(budget.currency)))
        )
    return standings


def _month_cubes(teams: list, now: datetime) -> dict[tuple[int, str], list[CubeRow]]:
    """Each team's month so far as cube rows per day, provider and task type: what a budget's
    standing narrows (billing.overview.cube.load_cube's sums, for many teams in one query).
    Keyed by (team id, "") for all the team's calls, and (team id, alias) for one API key's."""
    rows = (
        UsageDailyRollup.objects.filter(_month_so_far(teams, now))
        .values("team_id", "day", "provider_name", "task_type", "api_key_alias")
        .annotate(
            cost=Sum("cost_usd"),
            tao=Sum("tao_amount"),
            tao_cost=Sum("cost_usd", filter=Q(tao_amount__gt=0)),
        )
        .order_by()
    )
    cubes: dict[tuple[int, str], list[CubeRow]] = defaultdict(list)
    for row in rows:
        cube_row = CubeRow(
            day=row["day"],
            provider=row["provider_name"],
            model="",
            task_type=row["task_type"],
            cost_usd=row["cost"] or Decimal(0),
            tao_amount=row["tao"] or Decimal(0),
            tao_cost_usd=row["tao_cost"] or Decimal(0),
        )
        cubes[(row["team_id"], "")].append(cube_row)
        if row["api_key_alias"]:
            cubes[(row["team_id"], row["api_key_alias"])].append(cube_row)
    return cubes


# --- TAO price -----------------------------------------------------------------------------


def tao_price_families(now: datetime) -> list[Metric]:
    price = GaugeMetricFamily("llmspend_tao_price_usd", "The latest TAO price in US dollars.")
    age = GaugeMetricFamily(
        "llmspend_tao_price_age_seconds", "How long ago the latest TAO price was observed."
    )
    degraded = GaugeMetricFamily(
        "llmspend_tao_price_degraded",
        "1 when the latest TAO price is the median of fewer than two fresh sources, else 0.",
    )
    latest = TaoPrice.objects.latest_at(now)
    if latest is not None:
        price.add_metric([], float(latest.usd))
        age.add_metric([], (now - latest.at).total_seconds())
        degraded.add_metric([], 1 if latest.degraded else 0)
    return [price, age, degraded]


# --- Alerts --------------------------------------------------------------------------------


def alerts_family(teams: list) -> Metric:
    """Firing alerts per team and kind, as each team's alerts page counts them: its own, and
    the global ones (TAO price) it has not acknowledged. Every kind of every team is listed,
    0 when none fires, so a rule on it sees the count fall back."""
    family = GaugeMetricFamily(
        "llmspend_alerts_firing",
        "Alerts firing now by kind, global ones included until the team acknowledges them.",
        labels=["team", "kind"],
    )
    by_id = {team.id: team for team in teams}
    counts: dict[tuple[int, str], int] = defaultdict(int)
    global_alerts: dict[int, str] = {}
    acknowledged: dict[int, set[int]] = defaultdict(set)
    rows = (
        Alert.objects.filter(state=AlertState.FIRING)
        .filter(Q(team_id__in=list(by_id)) | Q(team=None))
        .values_list("pk", "team_id", "rule__kind", "acknowledgements__team_id")
    )
    for pk, team_id, kind, acknowledged_by in rows:
        if team_id is not None:
            counts[(team_id, kind)] += 1
            continue
        global_alerts[pk] = kind
        if acknowledged_by is not None:
            acknowledged[pk].add(acknowledged_by)
    for pk, kind in global_alerts.items():
        for team_id in by_id:
            if team_id not in acknowledged[pk]:
                counts[(team_id, kind)] += 1
    for team in teams:
        for kind in AlertKind.values:
            family.add_metric([team.slug, kind], counts[(team.id, kind)])
    return family


# --- Ingest --------------------------------------------------------------------------------


def ingest_family(teams: list) -> Metric:
    family = CounterMetricFamily(
        "llmspend_ingest_events",
        "Usage events posted to /api/v1/usage by outcome: accepted (stored), duplicate (an "
        "event id sent before) or rejected (invalid).",
        labels=["team", "outcome"],
    )
    tallies = {tally.team_id: tally for tally in IngestTally.objects.filter(team__in=teams)}
    for team in teams:
        tally = tallies.get(team.id)
        counts = (tally.accepted, tally.duplicates, tally.rejected) if tally else (0, 0, 0)
        for outcome, count in zip(("accepted", "duplicate", "rejected"), counts, strict=True):
            family.add_metric([team.slug, outcome], count)
    return family


# --- Proxies -------------------------------------------------------------------------------


def proxy_families(teams: list, now: datetime) -> list[Metric]:
    """The proxies seen in the last PROXY_WINDOW, as their companion plugin reports them.

    A proxy's id is the `proxy` label: Prometheus sets `instance` to the scraped target itself,
    and would rename ours to exported_instance."""
    info = InfoMetricFamily(
        "llmspend_proxy",
        f"Each LiteLLM proxy seen in the last {PROXY_WINDOW.total_seconds() / 60:.0f} minutes, "
        "with its LiteLLM and plugin versions.",
        labels=["team", "proxy"],
    )
    routing = GaugeMetricFamily(
        "llmspend_proxy_routing_version",
        "The routing version each proxy has applied (absent before its first).",
        labels=["team", "proxy"],
    )
    spool = GaugeMetricFamily(
        "llmspend_proxy_spool_depth",
        "Usage events waiting in each proxy's spool to be sent.",
        labels=["team", "proxy"],
    )
    seen = GaugeMetricFamily(
        "llmspend_proxy_last_seen_age_seconds",
        "How long ago each proxy last reported.",
        labels=["team", "proxy"],
    )
    slugs = {team.id: team.slug for team in teams}
    proxies = ProxyInstance.objects.filter(
        team_id__in=list(slugs), last_seen_at__gte=now - PROXY_WINDOW
    ).order_by("team_id", "instance_id")
    for proxy in proxies:
        labels = [slugs[proxy.team_id], proxy.instance_id]
        versions = {
            "litellm_version": proxy.litellm_version,
            "plugin_version": proxy.plugin_version,
        }
        info.add_metric(labels, versions)
        if proxy.routing_version is not None:
            routing.add_metric(labels, proxy.routing_version)
        spool.add_metric(labels, proxy.spool_depth)
        seen.add_metric(labels, max((now - proxy.last_seen_at).total_seconds(), 0))
    return [info, routing, spool, seen]
