"""The alert checks on money: the TAO price (a spike, no fresh price, too few sources) and the
budgets (a threshold reached, a forecast over). Each takes a rule, its params and the moment,
and returns the conditions that hold then."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from billing.alerts import messages as words
from billing.alerts.conditions import HUNDRED, Condition, decimal_text, rule_zone, team_path
from billing.budgets import CURRENT, amount_label, budget_lines
from billing.models import AlertRule, Budget, TaoPrice, TaoQuote

# --- TAO price ----------------------------------------------------------------------------


def tao_price_spike(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """The latest price against the last one at or before now - window, beyond the threshold."""
    minutes = params["window_minutes"]
    latest = TaoPrice.objects.latest_at(now)
    then = (
        TaoPrice.objects.filter(at__lte=now - timedelta(minutes=minutes))
        .order_by("-at", "-id")
        .first()
    )
    if latest is None or then is None or then.at >= latest.at:
        return []
    move = (latest.usd - then.usd) * HUNDRED / then.usd
    direction = "up" if move > 0 else "down"
    if abs(move) < params["threshold_pct"] or params["direction"] not in ("both", direction):
        return []
    subject, summary = words.tao_spike_text(
        direction=direction,
        move=move,
        minutes=minutes,
        threshold=params["threshold_pct"],
        from_usd=then.usd,
        to_usd=latest.usd,
        from_at=then.at,
        to_at=latest.at,
        zone=rule_zone(rule),
    )
    details = {
        "direction": direction,
        "move_pct": decimal_text(move, "0.01"),
        "window_minutes": minutes,
        "threshold_pct": decimal_text(params["threshold_pct"]),
        "from_usd": decimal_text(then.usd),
        "from_at": then.at.isoformat(),
        "to_usd": decimal_text(latest.usd),
        "to_at": latest.at.isoformat(),
    }
    key = f"tao_price_spike:{direction}:{minutes}"
    return [Condition(key, subject, summary, details, team_path(rule.team))]


def tao_price_stale(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """No TAO price newer than `minutes` (or none at all)."""
    limit = params["minutes"]
    latest = TaoPrice.objects.latest_at(now)
    if latest is not None and now - latest.at <= timedelta(minutes=limit):
        return []
    age = now - latest.at if latest else None
    subject, summary = words.tao_stale_text(
        age=age,
        limit_minutes=limit,
        last_usd=latest.usd if latest else None,
        last_at=latest.at if latest else None,
        zone=rule_zone(rule),
    )
    details = {"limit_minutes": limit}
    if latest is not None:
        details |= {
            "last_usd": decimal_text(latest.usd),
            "last_at": latest.at.isoformat(),
            "age_minutes": int(age.total_seconds() // 60),
        }
    return [Condition("tao_price_stale", subject, summary, details, team_path(rule.team))]


def tao_price_degraded(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """Every poll of the price sources for at least `minutes` stored a degraded price or none
    (fewer than two sources fresh and agreeing), up to the latest: naming what failed then."""
    polls = TaoQuote.objects.filter(polled_at__lte=now)
    latest = polls.order_by("-polled_at").values_list("polled_at", flat=True).first()
    healthy = (
        polls.filter(price__degraded=False)
        .order_by("-polled_at")
        .values_list("polled_at", flat=True)
        .first()
    )
    if latest is None or healthy == latest:
        return []
    since = polls.filter(polled_at__gt=healthy) if healthy else polls
    since = since.order_by("polled_at").values_list("polled_at", flat=True).first()
    limit = params["minutes"]
    if now - since < timedelta(minutes=limit):
        return []
    quotes = list(TaoQuote.objects.filter(polled_at=latest).select_related("price"))
    failing = [(quote.source, quote.note) for quote in quotes if quote.note]
    price = next((quote.price for quote in quotes if quote.price is not None), None)
    subject, summary = words.tao_degraded_text(
        since=since,
        latest_at=latest,
        limit_minutes=limit,
        failing=failing,
        price_usd=price.usd if price else None,
        price_source=price.source if price else "",
        zone=rule_zone(rule),
        now=now,
    )
    details = {
        "limit_minutes": limit,
        "since": since.isoformat(),
        "latest_at": latest.isoformat(),
        "failing": [{"source": source, "note": note} for source, note in failing],
    }
    if price is not None:
        details |= {"price_usd": decimal_text(price.usd), "price_source": price.source}
    return [Condition("tao_price_degraded", subject, summary, details, team_path(rule.team))]


# --- Budgets ------------------------------------------------------------------------------


def thresholds_of(budget: Budget) -> list[Decimal]:
    """The budget's threshold percentages, sorted; what is not a positive number is skipped."""
    found = set()
    for value in budget.thresholds or []:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            continue
        if number.is_finite() and number > 0 and not isinstance(value, bool):
            found.add(number.normalize())
    return sorted(found)


@dataclass(frozen=True)
class BudgetMonth:
    """A budget and its scope's spend this team month (the overview's month panel)."""

    budget: Budget
    first_day: object
    today: object
    panel: object
    scope: str

    @property
    def period(self) -> str:
        return f"{self.first_day:%Y-%m}"


def budget_months(team, now: datetime) -> list[BudgetMonth]:
    """Each budget in force this team month, with its scope's month so far (as the Budgets
    page shows it): two queries."""
    today = now.astimezone(team.zone).date()
    first = today.replace(day=1)
    months = []
    for line in budget_lines(team, now=now):
        if line.applies != CURRENT:
            continue
        budget = line.budget
        scope = words.budget_scope(
            budget.provider.name if budget.provider else "",
            budget.task_type,
            budget.api_key_alias,
        )
        if line.in_currency:
            # The USD figures hold the amount as set at the month's spend-weighted rate.
            scope += f" (set as {amount_label(budget)}, converted at each day's rate)"
        months.append(BudgetMonth(budget, first, today, line.panel, scope))
    return months


def _budget_details(month: BudgetMonth) -> dict:
    budget = month.budget
    return {
        "budget_id": budget.id,
        "month": month.period,
        "provider": budget.provider.slug if budget.provider else "",
        "task_type": budget.task_type,
        "api_key_alias": budget.api_key_alias,
    }


def budget_threshold(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """Every threshold of every applicable budget that month-to-date spend has reached."""
    currencies = {"usd", "tao"} if params["currency"] == "both" else {params["currency"]}
    conditions = []
    for month in budget_months(rule.team, now):
        budget, panel = month.budget, month.panel
        amounts = [("usd", panel.spend_usd, panel.budget_usd)]
        if budget.amount_tao:
            amounts.append(("tao", panel.tao_used, budget.amount_tao))
        for threshold in thresholds_of(budget):
            for currency, spent, amount in amounts:
                if currency not in currencies or spent * HUNDRED < amount * threshold:
                    continue
                subject, summary = words.budget_threshold_text(
                    team_name=rule.team.name,
                    month=month.first_day,
                    scope=month.scope,
                    threshold=threshold,
                    currency=currency,
                    spent=spent,
                    amount=amount,
                )
                details = _budget_details(month) | {
                    "currency": currency,
                    "threshold": decimal_text(threshold),
                    "spent": decimal_text(spent),
                    "amount": decimal_text(amount),
                    "used_pct": decimal_text(spent * HUNDRED / amount, "0.1"),
                }
                key = f"budget_threshold:{budget.id}:{month.period}:{threshold:f}:{currency}"
                link = team_path(rule.team, "budgets/")
                conditions.append(Condition(key, subject, summary, details, link))
    return conditions


def budget_forecast(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """Each applicable budget that this month's pace takes past it by the month's end."""
    conditions = []
    for month in budget_months(rule.team, now):
        budget, panel = month.budget, month.panel
        if panel.today is None or panel.forecast_usd <= panel.budget_usd:
            continue
        subject, summary = words.budget_forecast_text(
            team_name=rule.team.name,
            month=month.first_day,
            scope=month.scope,
            crossing_day=panel.crossing_day,
            today=month.today,
            spent=panel.spend_usd,
            forecast=panel.forecast_usd,
            amount=panel.budget_usd,
        )
        details = _budget_details(month) | {
            "spent_usd": decimal_text(panel.spend_usd),
            "forecast_usd": decimal_text(panel.forecast_usd, "0.01"),
            "amount_usd": decimal_text(panel.budget_usd, "0.01"),
            "crossing_day": panel.crossing_day.isoformat(),
        }
        key = f"budget_forecast:{budget.id}:{month.period}"
        link = team_path(rule.team, "budgets/")
        conditions.append(Condition(key, subject, summary, details, link))
    return conditions
