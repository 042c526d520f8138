"""Budgets: saving and deleting them (audited), and how each one stands this month.

A budget covers the whole team, one provider, one task type or one API key alias (the calls
made with one of the proxy's keys), for one month or every
month; for a scope, the month's own row wins over the recurring one. Months are the team's
calendar months in its time zone, read from the daily rollups.

A budget may be set in another currency than USD (billing.fx): each day's spend is then
converted at that day's rate and held against the amount as set; `amount_usd` keeps its value
at the rate of the day it was saved, for places that show one USD figure.
"""

import copy
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing import fx
from billing.audit_actions import BillingAuditAction
from billing.models import Budget, UsageDailyRollup
from billing.overview.cube import Filters, load_cube, narrow
from billing.overview.month import MonthPanel, month_panel
from dashboard.audit import audit_record
from dashboard.models import Team

FIELDS = [
    "month",
    "provider",
    "task_type",
    "api_key_alias",
    "currency",
    "amount_usd",
    "amount_tao",
    "thresholds",
]

BOTH_SCOPES = (
    "A budget covers one provider, one task type or one API key alias, not several: "
    "clear all but one."
)

CURRENT, REPLACED, UPCOMING, PAST = "current", "replaced", "upcoming", "past"


# --- Describing a budget -------------------------------------------------------------------


def scope_label(budget: Budget) -> str:
    if budget.provider_id:
        return f"Provider {budget.provider.name}"
    if budget.task_type:
        return f"Task type {budget.task_type}"
    if budget.api_key_alias:
        return f"API key {budget.api_key_alias}"
    return "Whole team"


def month_label(budget: Budget) -> str:
    return f"{budget.month:%B %Y}" if budget.month else "Every month"


def budget_label(budget: Budget) -> str:
    """What the audit log and messages call the budget, e.g. "Whole team, every month"."""
    return f"{scope_label(budget)}, {month_label(budget).lower()}"


def thresholds_text(thresholds: list[int]) -> str:
    return ", ".join(str(value) for value in thresholds)


def plain_amount(value: Decimal) -> str:
    # 0.500000 from the database and 0.5 from a form are the same amount, written the same.
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def amount_label(budget: Budget) -> str:
    """ "$1,200.00", or "1,000.00 EUR" for a budget set in euros."""
    if budget.currency != "USD" and budget.amount_in_currency is not None:
        return f"{budget.amount_in_currency:,.2f} {budget.currency}"
    return f"${budget.amount_usd:,.2f}"


def _audit_values(budget: Budget) -> dict[str, str]:
    in_currency = budget.amount_in_currency
    return {
        "month": f"{budget.month:%Y-%m}" if budget.month else "every month",
        "provider": budget.provider.slug if budget.provider_id else "all",
        "task_type": budget.task_type or "all",
        "api_key_alias": budget.api_key_alias or "all",
        "currency": budget.currency,
        "amount_in_currency": f"{in_currency:.2f}" if in_currency is not None else "none",
        "amount_usd": f"{budget.amount_usd:.2f}",
        "amount_tao": plain_amount(budget.amount_tao) if budget.amount_tao is not None else "none",
        "thresholds": thresholds_text(budget.thresholds),
    }


def scope_key(budget: Budget) -> tuple:
    return (budget.provider_id, budget.task_type, budget.api_key_alias)


def scopes_set(data: dict) -> int:
    """How many of the narrowing fields a budget's data sets (at most one is allowed)."""
    return sum(
        1
        for value in (data.get("provider"), data.get("task_type"), data.get("api_key_alias"))
        if value
    )


KEY_ALIAS_CHOICES = 200


def known_key_aliases(team) -> list[str]:
    """The API key aliases the team's calls carried in the last 90 days, and those it budgets
    for: what the budget form suggests (a new key may be budgeted before its first call)."""
    since = timezone.now().astimezone(team.zone).date() - timedelta(days=90)
    used = (
        UsageDailyRollup.objects.filter(team=team, day__gte=since)
        .exclude(api_key_alias="")
        .values_list("api_key_alias", flat=True)
        .distinct()
        .order_by("api_key_alias")[:KEY_ALIAS_CHOICES]
    )
    budgeted = Budget.objects.filter(team=team).exclude(api_key_alias="")
    return sorted({*used, *budgeted.values_list("api_key_alias", flat=True)})


# --- Saving and deleting -------------------------------------------------------------------


def budget_save(*, team: Team, user, data: dict, budget: Budget | None = None) -> Budget:
    """Create a budget from `data` (the FIELDS, parsed), or change `budget` to it; audited.

    `amount_usd` is the amount in `currency` (USD when not given); in another currency it is
    kept as set, and its USD value at today's rate stored beside it.

    Raises ValidationError when the scope names both a provider and a task type, when the
    team already has a budget for the same month, provider and task type, or when no rate of
    the currency is stored yet.
    """
    if scopes_set(data) > 1:
        raise ValidationError({"task_type": BOTH_SCOPES})
    data = {**data, **_amounts(team, data)}
    with transaction.atomic():
        # Serialises the team's budget writes: no database constraint can cover the
        # duplicate check, since an empty month or provider is NULL.
        Team.objects.select_for_update().filter(pk=team.pk).first()
        if budget is not None:
            budget = Budget.objects.filter(pk=budget.pk, team=team).first()
            if budget is None:
                raise ValidationError("This budget was deleted meanwhile: add it again.")
        _refuse_duplicate(team, data, budget)
        if budget is None:
            budget = Budget(team=team, created_by=user)
            _assign(budget, data)
            budget.save()
            _audit(budget, BillingAuditAction.BUDGET_CREATED, user, _audit_values(budget))
            return budget
        old = _audit_values(budget)
        _assign(budget, data)
        new = _audit_values(budget)
        changes = {name: f"{old[name]} → {new[name]}" for name in old if old[name] != new[name]}
        if changes:
            budget.updated_at = timezone.now()
            budget.save()
            _audit(budget, BillingAuditAction.BUDGET_CHANGED, user, changes)
        return budget


def budget_delete(*, budget: Budget, user) -> None:
    with transaction.atomic():
        _audit(budget, BillingAuditAction.BUDGET_DELETED, user, _audit_values(budget))
        budget.delete()


def _amounts(team: Team, data: dict) -> dict:
    """The amount as stored: USD as given, or another currency's with its USD value today."""
    currency = data.get("currency") or "USD"
    if currency == "USD":
        return {"currency": "USD", "amount_in_currency": None}
    today = timezone.now().astimezone(team.zone).date()
    quote = fx.rate_on(currency, today)
    if quote is None:
        raise ValidationError(
            {"currency": f"No {currency} reference rate is stored yet: set the budget in USD."}
        )
    amount = data["amount_usd"]
    usd = (amount * quote.usd_per_eur / quote.per_eur).quantize(Decimal("0.01"))
    return {"currency": currency, "amount_in_currency": amount, "amount_usd": usd}


def _assign(budget: Budget, data: dict) -> None:
    budget.month = data.get("month")
    budget.provider = data.get("provider")
    budget.task_type = data.get("task_type") or ""
    budget.api_key_alias = data.get("api_key_alias") or ""
    budget.currency = data["currency"]
    budget.amount_in_currency = data["amount_in_currency"]
    budget.amount_usd = data["amount_usd"]
    budget.amount_tao = data.get("amount_tao")
    budget.thresholds = list(data["thresholds"])


def _refuse_duplicate(team: Team, data: dict, budget: Budget | None) -> None:
    same = Budget.objects.filter(
        team=team,
        month=data.get("month"),
        provider=data.get("provider"),
        task_type=data.get("task_type") or "",
        api_key_alias=data.get("api_key_alias") or "",
    )
    if budget is not None:
        same = same.exclude(pk=budget.pk)
    existing = same.select_related("provider").first()
    if existing is not None:
        raise ValidationError(
            f"{team.name} already has a budget for {budget_label(existing).lower()} "
            f"({amount_label(existing)}): edit that one instead."
        )


def _audit(budget: Budget, action: str, user, detail: dict) -> None:
    audit_record(
        team=budget.team, action=action, target=budget_label(budget), actor=user, detail=detail
    )


# --- How each budget stands this month -----------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    """A budget on the list: whether it applies this month and, if so, how it stands."""

    budget: Budget
    applies: str  # CURRENT, REPLACED (by a row for this month), UPCOMING or PAST
    replaced_by: Budget | None  # for a REPLACED recurring budget: this month's own row
    replaces: Budget | None  # for this month's own row: the recurring one it stands in for
    panel: MonthPanel | None  # this month's spend of the scope, for a CURRENT budget
    # For a CURRENT budget set in another currency: the month's spend in it, each day at its
    # own rate, and the forecast with the days left at the latest rate. None when no rate.
    spend_in_currency: Decimal | None = None
    forecast_in_currency: Decimal | None = None

    @property
    def in_currency(self) -> bool:
        """Held against its amount in another currency than USD, with rates to do it."""
        return self.spend_in_currency is not None

    @property
    def scope(self) -> str:
        return scope_label(self.budget)

    @property
    def month(self) -> str:
        return month_label(self.budget)

    @property
    def amount_tao(self) -> str:
        tao = self.budget.amount_tao
        return plain_amount(tao) if tao is not None else ""

    @property
    def used_pct(self) -> Decimal | None:
        if self.in_currency:
            return self.spend_in_currency * 100 / self.budget.amount_in_currency
        return self.panel.used_pct if self.panel else None

    @property
    def bar_pct(self) -> Decimal:
        used = self.used_pct
        return min(used, Decimal(100)) if used is not None else Decimal(0)

    @property
    def over(self) -> bool:
        if self.in_currency:
            return self.spend_in_currency > self.budget.amount_in_currency
        return bool(self.panel and self.panel.spend_usd > self.panel.budget_usd)

    @property
    def forecast_crosses(self) -> bool:
        """Under budget so far, over it by month end at this month's pace."""
        return bool(self.panel and not self.over and self.panel.crossing_day)

    @property
    def thresholds(self) -> list[tuple[int, bool]]:
        """Each threshold with whether this month's spend has reached it."""
        used = self.used_pct
        return [(pct, used is not None and used >= pct) for pct in self.budget.thresholds]


def budget_lines(team: Team, *, now: datetime) -> list[BudgetLine]:
    """The team's budgets, each with this month's status when it applies this month.

    Two queries whatever the number of budgets: the budgets, and one grouped read of the
    month's daily rollups that every scope is narrowed from; one more for each API key alias a
    budget in force covers, and one for the rates of each other currency than USD budgets are
    set in.
    """
    today = now.astimezone(team.zone).date()
    first = today.replace(day=1)
    budgets = sorted(Budget.objects.filter(team=team).select_related("provider"), key=_order)
    this_month = {scope_key(b): b for b in budgets if b.month == first}
    recurring = {scope_key(b): b for b in budgets if b.month is None}
    states = {b.pk: budget_applies(b, first, this_month) for b in budgets}
    aliases = {b.api_key_alias for b in budgets if states[b.pk] == CURRENT}
    # The whole usage under "", and each key alias a budget in force narrows to.
    cubes = {alias: load_cube(team, first, today, api_key_alias=alias) for alias in aliases}
    currencies = {
        b.currency for b in budgets if states[b.pk] == CURRENT and set_in_other_currency(b)
    }
    rates = {code: fx.fx_rates(code, first, today) for code in sorted(currencies)}
    lines = []
    for budget in budgets:
        state = states[budget.pk]
        key = scope_key(budget)
        replaced_by = this_month[key] if state == REPLACED else None
        replaces = recurring.get(key) if budget.month == first else None
        line = BudgetLine(budget, state, replaced_by, replaces, None)
        if state == CURRENT:
            cube = cubes[budget.api_key_alias]
            line = budget_standing(team, line, cube, first, today, rates.get(budget.currency))
        lines.append(line)
    return lines


def set_in_other_currency(budget: Budget) -> bool:
    return budget.currency != "USD" and budget.amount_in_currency is not None


def _order(budget: Budget) -> tuple:
    kind = 1 if budget.provider_id else 2 if budget.task_type else 3 if budget.api_key_alias else 0
    name = budget.provider.name if budget.provider_id else budget.task_type or budget.api_key_alias
    return (kind, name, budget.month is not None, budget.month or date.min)


def budget_applies(budget: Budget, first: date, this_month: dict) -> str:
    if budget.month is None:
        return REPLACED if scope_key(budget) in this_month else CURRENT
    if budget.month == first:
        return CURRENT
    return UPCOMING if budget.month > first else PAST


def budget_standing(team, line: BudgetLine, cube, first: date, today: date, rates) -> BudgetLine:
    budget = line.budget
    provider = budget.provider.slug if budget.provider_id else ""
    filters = Filters(first, today, provider=provider, task_type=budget.task_type)
    rows = narrow(cube, filters)
    if rates is None or rates.on(today) is None:
        return replace(line, panel=month_panel(team, rows, filters, budget, today))
    plain = month_panel(team, rows, filters, None, today)
    held, spend = _held_in_usd(budget, plain, rates, today)
    panel = month_panel(team, rows, filters, held, today)
    forecast = spend + rates.on(today).convert(panel.forecast_usd - panel.spend_usd)
    return replace(line, panel=panel, spend_in_currency=spend, forecast_in_currency=forecast)


def _held_in_usd(budget: Budget, plain: MonthPanel, rates, today: date) -> tuple[Budget, Decimal]:
    """A copy of the budget whose amount_usd stands for its amount as set, at the month's
    spend-weighted rate (amount * spend_usd / spend_in_currency): a month panel's used % is
    then the spend in the currency over the amount, and its forecast and crossing follow. With
    no spend yet, today's rate. Also the month's spend in the currency, each day at its rate."""
    latest = rates.on(today)
    spend = sum(
        ((rates.on(p.day) or latest).convert(p.cost_usd) for p in plain.points if p.cost_usd),
        Decimal(0),
    )
    held = copy.copy(budget)
    amount = budget.amount_in_currency
    if spend:
        held.amount_usd = amount * plain.spend_usd / spend
    else:
        held.amount_usd = amount * latest.usd_per_eur / latest.per_eur
    return held, spend


def budget_held_in_usd(team: Team, budget: Budget | None, rows, filters, today: date):
    """For a month panel of `rows` (the month's cube, narrowed) outside the Budgets page, e.g.
    the overview's: the budget as month_panel should hold it, its amount in USD standing for an
    amount set in another currency (see _held_in_usd); a USD budget, or one without rates, as
    it is. One query for a budget in another currency, none otherwise."""
    if budget is None or not set_in_other_currency(budget):
        return budget
    first = filters.first_day.replace(day=1)
    rates = fx.fx_rates(budget.currency, first, today)
    if rates.on(today) is None:
        return budget
    plain = month_panel(team, rows, filters, None, today)
    return _held_in_usd(budget, plain, rates, today)[0]
