"""Reading usage for pages: the usage explorer, one event, and the catalog's usage sections."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Max, Q, Sum

from billing.costing import disagrees
from billing.models import Budget, CostSource, UsageEvent, UsageRollup
from routing.models import Model, Provider, RoutingRule

PAGE_SIZE = 50
PRESET_RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
PRESET_RANGES["90d"] = timedelta(days=90)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A cursor's value by sort column, bounded so that any match is a valid datetime (before
# year 5000), a cost that fits USD_DIGITS or a latency that fits its column; then a 64-bit id.
CURSOR_VALUES = {
    "occurred_at": r"\d{1,17}",
    "cost_usd": r"-?\d{1,12}(?:\.\d{1,12})?",
    "latency_ms": r"\d{1,10}",
}
NULL_CURSOR_VALUE = "null"
MAX_LATENCY_MS = 2**31 - 1


@dataclass(frozen=True)
class UsageFilters:
    """What the explorer shows: events from `start` (inclusive) to `end` (exclusive)."""

    start: datetime | None = None
    end: datetime | None = None
    provider: str = ""
    model: str = ""
    task_type: str = ""
    status: str = ""
    route_version: int | None = None
    unpriced_only: bool = False
    disagreement_only: bool = False
    # The proxy's event id, or its beginning.
    request_id: str = ""
    # As the proxy sent them, matched exactly; empty for any.
    end_user: str = ""
    api_key_alias: str = ""


def time_bounds(
    *, preset: str, start: date | None, end: date | None, zone: ZoneInfo, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """A preset counts back from now; custom days run from the team's midnight to midnight."""
    if preset in PRESET_RANGES:
        return now - PRESET_RANGES[preset], None
    start_at = datetime.combine(start, time.min, tzinfo=zone) if start else None
    end_at = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone) if end else None
    return start_at, end_at


@dataclass(frozen=True)
class UsageSort:
    """One order of the explorer: a column and direction, ties broken by id the same way.

    Calls without a value (unpriced, or no latency reported) come last in both directions.
    """

    label: str
    field: str
    descending: bool
    nullable: bool
    # What the pager calls the pages toward the top and toward the bottom of the list.
    previous_label: str
    next_label: str

    def ordering(self, *, reverse: bool = False) -> list:
        descending = self.descending != reverse
        if self.nullable:
            nulls = {"nulls_first": True} if reverse else {"nulls_last": True}
            value = F(self.field).desc(**nulls) if descending else F(self.field).asc(**nulls)
        else:
            # Plain, so the (team, occurred_at) index serves the order on PostgreSQL too.
            value = f"-{self.field}" if descending else self.field
        return [value, "-pk" if descending else "pk"]

    def below(self, cursor: "Cursor") -> Q:
        """The events after `cursor` in this order."""
        return self._beyond(cursor, "lt" if self.descending else "gt", nulls_beyond=True)

    def above(self, cursor: "Cursor") -> Q:
        """The events before `cursor` in this order."""
        return self._beyond(cursor, "gt" if self.descending else "lt", nulls_beyond=False)

    def _beyond(self, cursor: "Cursor", op: str, *, nulls_beyond: bool) -> Q:
        field, value = self.field, cursor.value
        pk_beyond = Q(**{f"pk__{op}": cursor.pk})
        if value is None:
            null = Q(**{f"{field}__isnull": True})
            return null & pk_beyond if nulls_beyond else ~null | pk_beyond
        beyond = Q(**{f"{field}__{op}": value}) | Q(**{field: value}) & pk_beyond
        if self.nullable and nulls_beyond:
            return beyond | Q(**{f"{field}__isnull": True})
        # The redundant bound on the column alone lets an index on it do the work.
        return Q(**{f"{field}__{op}e": value}) & beyond


USAGE_SORTS = {
    "newest": UsageSort("Newest first", "occurred_at", True, False, "Newer", "Older"),
    "oldest": UsageSort("Oldest first", "occurred_at", False, False, "Older", "Newer"),
    "cost_desc": UsageSort("Most expensive first", "cost_usd", True, True, "Previous", "Next"),
    "cost_asc": UsageSort("Cheapest first", "cost_usd", False, True, "Previous", "Next"),
    "latency_desc": UsageSort("Slowest first", "latency_ms", True, True, "Previous", "Next"),
    "latency_asc": UsageSort("Fastest first", "latency_ms", False, True, "Previous", "Next"),
}
DEFAULT_SORT = "newest"
EXPORT_SORT = "oldest"


@dataclass(frozen=True)
class Cursor:
    """A position in one of the explorer's orders: (value of the sorted column, id) of an event.

    Written as `<value>_<id>`: a time in microseconds since 1970, a cost, a latency, or `null`.
    """

    value: datetime | Decimal | int | None
    pk: int

    def __str__(self):
        if self.value is None:
            text = NULL_CURSOR_VALUE
        elif isinstance(self.value, datetime):
            text = str((self.value - EPOCH) // timedelta(microseconds=1))
        elif isinstance(self.value, Decimal):
            text = format(self.value, "f")
        else:
            text = str(self.value)
        return f"{text}_{self.pk}"

    @classmethod
    def parse(cls, text: str, sort: UsageSort) -> "Cursor":
        pattern = rf"^({NULL_CURSOR_VALUE}|{CURSOR_VALUES[sort.field]})_(\d{{1,18}})$"
        match = re.match(pattern, text)
        if not match or (match[1] == NULL_CURSOR_VALUE and not sort.nullable):
            raise ValueError(f"not a page cursor: {text!r}")
        pk = int(match[2])
        if match[1] == NULL_CURSOR_VALUE:
            return cls(None, pk)
        if sort.field == "occurred_at":
            return cls(EPOCH + timedelta(microseconds=int(match[1])), pk)
        if sort.field == "cost_usd":
            return cls(Decimal(match[1]), pk)
        if int(match[1]) > MAX_LATENCY_MS:
            raise ValueError(f"not a page cursor: {text!r}")
        return cls(int(match[1]), pk)

    @classmethod
    def of(cls, event: UsageEvent, sort: UsageSort) -> "Cursor":
        return cls(getattr(event, sort.field), event.pk)


@dataclass(frozen=True)
class UsageTotals:
    """All the calls the filters match, not only the page's."""

    calls: int
    cost_usd: Decimal | None
    tao: Decimal | None
    unpriced: int


@dataclass
class UsagePage:
    events: list[UsageEvent]
    totals: UsageTotals
    sort: UsageSort
    # Cursors of the pages toward the top and the bottom of the list, when there are such.
    previous: Cursor | None = None
    next: Cursor | None = None
    # Whether this is a page away from the top, reached through a cursor.
    paged: bool = False

    @property
    def has_demo(self) -> bool:
        return any(event.is_demo for event in self.events)


@dataclass(frozen=True)
class UsageChoices:
    providers: list[str]
    models: list[str]
    task_types: list[str]

    @property
    def any_usage(self) -> bool:
        """Rollups always cover every event, so no rollup means no event at all."""
        return bool(self.providers)


def usage_choices(team) -> UsageChoices:
    """The providers, models and task types the team has used, from its rollups."""
    keys = set(
        UsageRollup.objects.filter(team=team)
        .order_by()
        .values_list("provider_name", "model_name", "task_type")
        .distinct()
    )
    return UsageChoices(
        providers=sorted({provider for provider, _, _ in keys}),
        models=sorted({model for _, model, _ in keys}),
        task_types=sorted({task for _, _, task in keys if task}),
    )


def known_task_types(team) -> list[str]:
    """The task types the team has used, routes by a rule, or budgets for: the ones it may name."""
    used = UsageRollup.objects.filter(team=team).exclude(task_type="").values_list("task_type")
    ruled = RoutingRule.objects.filter(team=team).exclude(task_type=RoutingRule.DEFAULT_TASK)
    budgeted = Budget.objects.filter(team=team).exclude(task_type="").values_list("task_type")
    names = used.order_by().union(ruled.order_by().values_list("task_type"), budgeted.order_by())
    return sorted(name for (name,) in names)


def _filtered_events(team, filters: UsageFilters):
    events = UsageEvent.objects.filter(team=team)
    if filters.start is not None:
        events = events.filter(occurred_at__gte=filters.start)
    if filters.end is not None:
        events = events.filter(occurred_at__lt=filters.end)
    exact = {
        "provider_name": filters.provider,
        "model_name": filters.model,
        "task_type": filters.task_type,
        "status": filters.status,
        "end_user": filters.end_user,
        "api_key_alias": filters.api_key_alias,
    }
    events = events.filter(**{name: value for name, value in exact.items() if value})
    if filters.route_version is not None:
        events = events.filter(route_version=filters.route_version)
    if filters.unpriced_only:
        events = events.filter(cost_source=CostSource.UNPRICED)
    if filters.disagreement_only:
        events = events.filter(cost_disagreement=True)
    if filters.request_id:
        events = events.filter(event_id__startswith=filters.request_id)
    return events


def usage_events(*, team, filters: UsageFilters, sort: UsageSort):
    """Every event the filters match in the sort's order, for the explorer's CSV download."""
    return _filtered_events(team, filters).order_by(*sort.ordering())


def usage_totals(events) -> UsageTotals:
    """How many calls `events` holds and what they cost, in one aggregate query."""
    return UsageTotals(
        **events.aggregate(
            calls=Count("pk"),
            cost_usd=Sum("cost_usd"),
            tao=Sum("tao_amount"),
            unpriced=Count("pk", filter=Q(cost_source=CostSource.UNPRICED)),
        )
    )


def usage_page(
    *,
    team,
    filters: UsageFilters,
    sort: UsageSort = USAGE_SORTS[DEFAULT_SORT],
    before: Cursor | None = None,
    after: Cursor | None = None,
) -> UsagePage:
    """One page of events in the sort's order, read by keyset on (sorted value, id), and the
    totals of all of them.

    `before` gives the page below the cursor, `after` the page above it (the names are those
    of the newest-first order: older and newer).
    """
    matching = _filtered_events(team, filters)
    totals = usage_totals(matching)
    events = matching.defer("metadata", "quality_comment").annotate(
        is_demo=ExpressionWrapper(Q(metadata__demo=True), output_field=BooleanField())
    )
    if after is not None:
        events = events.filter(sort.above(after)).order_by(*sort.ordering(reverse=True))
        rows = list(events[: PAGE_SIZE + 1])
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        if not rows:
            return UsagePage([], totals, sort, paged=True)
        return UsagePage(
            rows,
            totals,
            sort,
            previous=Cursor.of(rows[0], sort) if more else None,
            next=Cursor.of(rows[-1], sort),
            paged=True,
        )
    if before is not None:
        events = events.filter(sort.below(before))
    rows = list(events.order_by(*sort.ordering())[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if not rows:
        return UsagePage([], totals, sort, paged=before is not None)
    return UsagePage(
        rows,
        totals,
        sort,
        previous=Cursor.of(rows[0], sort) if before is not None else None,
        next=Cursor.of(rows[-1], sort) if more else None,
        paged=before is not None,
    )


def usage_event(*, team, event_pk: int) -> UsageEvent | None:
    """One event of the team with the catalog rows it was priced with, or None."""
    return (
        UsageEvent.objects.select_related("provider", "model", "price", "team_price")
        .filter(team=team, pk=event_pk)
        .first()
    )


def tao_note(event: UsageEvent) -> str:
    """Why an event has no TAO amount, in a sentence; empty when it has one."""
    if event.tao_amount is not None:
        return ""
    if event.provider is None:
        return "The provider is not in the catalog, so its billing currency is unknown."
    if event.provider.billing_currency != "TAO":
        return f"{event.provider.name} bills in {event.provider.billing_currency}, not TAO."
    if event.cost_usd is None:
        return "The call has no USD cost to convert (it is unpriced)."
    return "No TAO price was recorded shortly enough before the call to convert its cost."


@dataclass
class UnpricedUsage:
    provider_name: str
    model_name: str
    requests: int
    tokens: int
    last_seen: datetime
    # The catalog rows to extend: a model without a price, or a provider missing the model.
    model: Model | None = None
    provider: Provider | None = None


def unpriced_usage(*, teams) -> list[UnpricedUsage]:
    """Provider/model pairs with unpriced calls in the teams, most tokens first."""
    rows = [
        UnpricedUsage(**row)
        for row in UsageRollup.objects.filter(team__in=teams, unpriced_requests__gt=0)
        .values("provider_name", "model_name")
        .annotate(
            requests=Sum("unpriced_requests"),
            tokens=Sum("unpriced_tokens"),
            last_seen=Max("hour"),
        )
        .order_by("-tokens", "provider_name", "model_name")
    ]
    if not rows:
        return rows
    providers = {
        p.slug: p for p in Provider.objects.filter(slug__in={r.provider_name for r in rows})
    }
    models = {
        (m.provider.slug, m.name): m
        for m in Model.objects.select_related("provider").filter(
            name__in={r.model_name for r in rows}
        )
    }
    for row in rows:
        row.provider = providers.get(row.provider_name)
        row.model = models.get((row.provider_name, row.model_name))
    return rows


@dataclass
class CostDisagreement:
    provider_name: str
    model_name: str
    requests: int
    reported_usd: Decimal
    catalog_usd: Decimal

    @property
    def percent_off(self) -> Decimal | None:
        """How far the reported total is from the catalog's, in percent of the catalog's."""
        if not self.catalog_usd:
            return None
        return (100 * (self.reported_usd - self.catalog_usd) / self.catalog_usd).quantize(
            Decimal("0.1")
        )


def disagreements_over_threshold(rows) -> list[CostDisagreement]:
    """The rows whose totals are still off by more than the threshold (billing.costing's
    DISAGREEMENT): calls that agree, summed in, can bring a model's totals back within it."""
    return [
        row
        for row in rows
        if row.reported_usd is None
        or row.catalog_usd is None
        or disagrees(row.reported_usd, row.catalog_usd)
    ]


def cost_disagreements(*, teams) -> list[CostDisagreement]:
    """Models whose proxy-reported cost was more than 5% off the catalog's, by hour rollups.

    The totals are those of the rollup rows (team, hour, model, task type, status) that hold
    a disagreement, so they include the other calls of those rows too; a model whose totals
    are within 5% is left out.
    """
    return disagreements_over_threshold(
        CostDisagreement(**row)
        for row in UsageRollup.objects.filter(team__in=teams, disagreement_requests__gt=0)
        .values("provider_name", "model_name")
        .annotate(
            requests=Sum("disagreement_requests"),
            reported_usd=Sum("reported_cost_usd"),
            catalog_usd=Sum("catalog_cost_usd"),
        )
        .order_by("-requests", "provider_name", "model_name")
    )
