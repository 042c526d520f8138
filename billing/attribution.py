"""Spend per end user or per API key alias over a range of team days: the top values by cost,
the rest summed as "others", and the calls that carried none kept apart.

Read from the daily rollups only: the end user and the key alias are part of their key, so
their sums per value are exact. Two queries whatever the number of values: the ranked top, and
one aggregate for the range's totals.
"""

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import BigIntegerField, Count, F, Q, Sum
from django.db.models.functions import Cast

from billing.models import Status, UsageDailyRollup
from billing.months import month_start
from billing.spend import day_param
from dashboard.models import Team

ATTRIBUTES = {"end_user": "End user", "api_key_alias": "API key alias"}
# How a sentence names one value and several.
NOUNS = {"end_user": ("end user", "end users"), "api_key_alias": ("key alias", "key aliases")}
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_DAYS = 366
# As long as the columns: a longer text can match nothing.
MAX_TEXT = 200
LARGEST_VERSION = 2**31 - 1
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class SpendLine:
    """The calls of one value (or of several: others, the range's total)."""

    value: str
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    tao: Decimal = Decimal(0)
    # Of the range's cost, in percent; None when the range cost nothing.
    share_pct: Decimal | None = None

    def less(self, lines: Iterable["SpendLine"]) -> "SpendLine":
        """What is left of this line once `lines` are taken out of it (share not set)."""
        lines = list(lines)
        return SpendLine(
            value=self.value,
            requests=self.requests - sum(line.requests for line in lines),
            errors=self.errors - sum(line.errors for line in lines),
            tokens=self.tokens - sum(line.tokens for line in lines),
            cost_usd=self.cost_usd - sum((line.cost_usd for line in lines), Decimal(0)),
            tao=self.tao - sum((line.tao for line in lines), Decimal(0)),
        )


@dataclass(frozen=True)
class SpendBy:
    attribute: str
    first_day: date
    last_day: date
    search: str
    # The top values by cost, then requests, then name.
    top: list[SpendLine]
    # The other values (that match the search), summed; None when there are none.
    others: SpendLine | None
    other_values: int
    # The calls sent without a value; None when there are none or a search is on.
    not_sent: SpendLine | None
    # Every call of the range (the search aside): what the shares are of.
    total: SpendLine

    @property
    def label(self) -> str:
        return ATTRIBUTES[self.attribute]

    @property
    def noun(self) -> str:
        return NOUNS[self.attribute][0]

    @property
    def nouns(self) -> str:
        return NOUNS[self.attribute][1]

    @property
    def rows(self) -> list[tuple[str, SpendLine]]:
        """The table's rows as (kind, line): each top value, others, not sent, all calls."""
        rows = [("value", line) for line in self.top]
        rows += [("others", self.others)] if self.others else []
        rows += [("not_sent", self.not_sent)] if self.not_sent else []
        return [*rows, ("total", self.total)]


def spend_by(
    teams_or_team,
    *,
    first_day: date,
    last_day: date,
    attribute: str,
    search: str = "",
    limit: int = DEFAULT_LIMIT,
    provider: str = "",
    model: str = "",
    task_type: str = "",
    route_version: int | None = None,
) -> SpendBy:
    """The spend of the team (or teams) on team days first_day..last_day per value of
    `attribute` ("end_user" or "api_key_alias"), narrowed as asked."""
    if attribute not in ATTRIBUTES:
        raise ValueError(f"not an attribute: {attribute!r}")
    rollups = UsageDailyRollup.objects.filter(
        _teams(teams_or_team), day__gte=first_day, day__lte=last_day
    )
    exact = {"provider_name": provider, "model_name": model, "task_type": task_type}
    rollups = rollups.filter(**{name: value for name, value in exact.items() if value})
    if route_version is not None:
        rollups = rollups.filter(route_version=route_version)
    matching = ~Q(**{attribute: ""})
    if search:
        matching &= Q(**{f"{attribute}__icontains": search})
    sums = rollups.aggregate(
        **_sums("all", None),
        **_sums("none", Q(**{attribute: ""})),
        **_sums("matching", matching),
        values=Count(attribute, distinct=True, filter=matching),
    )
    total = _line("", sums, "all")
    ranked = (
        rollups.filter(matching)
        .values(attribute)
        .annotate(**_sums("value", None))
        .order_by("-value_cost_usd", "-value_requests", attribute)[:limit]
    )
    top = [_shared(_line(row[attribute], row, "value"), total) for row in ranked]
    other_values = (sums["values"] or 0) - len(top)
    others = _shared(_line("", sums, "matching").less(top), total) if other_values else None
    not_sent = _shared(_line("", sums, "none"), total)
    return SpendBy(
        attribute=attribute,
        first_day=first_day,
        last_day=last_day,
        search=search,
        top=top,
        others=others,
        other_values=other_values,
        not_sent=not_sent if not_sent.requests and not search else None,
        total=_shared(total, total),
    )


def _teams(teams_or_team) -> Q:
    if isinstance(teams_or_team, Team):
        return Q(team=teams_or_team)
    return Q(team__in=list(teams_or_team))


def _sums(prefix: str, where: Q | None) -> dict:
    """The sums of a line, named `<prefix>_<figure>`, over the rows `where` picks (all of them
    for None: a grouped query)."""
    errors = Q(status=Status.ERROR) if where is None else where & Q(status=Status.ERROR)
    return {
        f"{prefix}_requests": _whole(Sum("requests", filter=where)),
        f"{prefix}_errors": _whole(Sum("requests", filter=errors)),
        f"{prefix}_tokens": _whole(Sum(F("input_tokens") + F("output_tokens"), filter=where)),
        f"{prefix}_cost_usd": Sum("cost_usd", filter=where),
        f"{prefix}_tao": Sum("tao_amount", filter=where),
    }


def _whole(total):
    # PostgreSQL sums bigints as numeric, which arrives as a (slow to read) Decimal.
    return Cast(total, BigIntegerField())


def _line(value: str, sums: dict, prefix: str) -> SpendLine:
    return SpendLine(
        value=value,
        requests=sums[f"{prefix}_requests"] or 0,
        errors=sums[f"{prefix}_errors"] or 0,
        tokens=sums[f"{prefix}_tokens"] or 0,
        cost_usd=sums[f"{prefix}_cost_usd"] or Decimal(0),
        tao=sums[f"{prefix}_tao"] or Decimal(0),
    )


def _shared(line: SpendLine, total: SpendLine) -> SpendLine:
    share = line.cost_usd * HUNDRED / total.cost_usd if total.cost_usd else None
    return replace(line, share_pct=share)


# --- What a page asks for ---------------------------------------------------------------------


class AttributionInvalid(ValueError):
    """Said back to the reader as a 400."""


@dataclass(frozen=True)
class AttributionAsked:
    attribute: str
    first_day: date
    last_day: date
    search: str = ""
    limit: int = DEFAULT_LIMIT
    provider: str = ""
    model: str = ""
    task_type: str = ""
    route_version: int | None = None

    def narrowing(self) -> dict:
        """What spend_by takes besides the teams: each field is one of its keywords."""
        return asdict(self)

    def explorer_query(self) -> str:
        """The usage explorer's query string for the same calls: a value's filter goes after."""
        params = {
            "range": "custom",
            "start": self.first_day.isoformat(),
            "end": self.last_day.isoformat(),
            "provider": self.provider,
            "model": self.model,
            "task_type": self.task_type,
            # The explorer has no filter for calls sent without a version.
            "route_version": self.route_version or "",
        }
        return urlencode({name: value for name, value in params.items() if value})


def attribution_asked(attribute: str, params, *, today: date) -> AttributionAsked:
    """The attribute and the query string's first and last team days (this month so far by
    default), q, provider, model, task_type, version and limit; AttributionInvalid saying
    what is wrong otherwise."""
    if attribute not in ATTRIBUTES:
        raise AttributionInvalid(
            f"Spend can be shown per {' or per '.join(ATTRIBUTES)}, not {attribute[:40]!r}."
        )
    last = _day(params, "last", today)
    first = _day(params, "first", month_start(min(last, today)))
    if last < first:
        raise AttributionInvalid(f"The last day ({last}) is before the first ({first}).")
    if (last - first).days >= MAX_DAYS:
        raise AttributionInvalid(f"Ask for at most {MAX_DAYS} days at a time.")
    texts = {name: _text(params, name) for name in ("q", "provider", "model", "task_type")}
    return AttributionAsked(
        attribute=attribute,
        first_day=first,
        last_day=last,
        search=texts.pop("q"),
        limit=_whole_number(params, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT),
        route_version=_whole_number(params, "version", None, low=0, high=LARGEST_VERSION),
        **texts,
    )


def _day(params, name: str, default: date) -> date:
    try:
        return day_param(params, name, default)
    except ValueError as error:
        raise AttributionInvalid(str(error)) from None


def _text(params, name: str) -> str:
    text = params.get(name, "").strip()
    if len(text) > MAX_TEXT:
        raise AttributionInvalid(f"{name} has at most {MAX_TEXT} characters.")
    return text


def _whole_number(params, name: str, default, *, low: int, high: int):
    text = params.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or not low <= int(text) <= high:
        raise AttributionInvalid(f"{name} must be a whole number from {low} to {high}.")
    return int(text)
