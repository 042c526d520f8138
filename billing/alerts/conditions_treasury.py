"""The alert checks on a team's TAO treasury (billing.treasury): the runway under a number of
days, and the balance under an amount, for the Chutes account or the account and the wallet
together. Their words are here too: they link to the treasury page."""

from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal

from billing.alerts.conditions import Condition, decimal_text, team_path
from billing.models import AlertRule
from billing.treasury.ledger import treasury_of
from billing.treasury.runway import ACCOUNT, BALANCES, balance_of, team_runway

TREASURY_PAGE = "treasury/"


def _tao(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.0001'), ROUND_DOWN).normalize():f} TAO"


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _balance_words(which: str) -> str:
    return "Chutes account" if which == ACCOUNT else "TAO (Chutes account and wallet)"


def tao_runway(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """Days left at the last `burn_days` days' burn under `days`; nothing while nothing burns
    or before the balance is known."""
    if rule.team_id is None:
        return []
    team, which, burn_days = rule.team, params["balance"], params["burn_days"]
    runway = team_runway(team, treasury_of(team), which=which, burn_days=burn_days, now=now)
    if runway is None or not runway.burning or runway.days_left >= params["days"]:
        return []
    days = runway.days_left.to_integral_value(ROUND_DOWN)
    subject = f"{_balance_words(which)} runs out in {days} days ({_day(runway.runs_out)})"
    summary = (
        f"{_tao(runway.balance)} on {BALANCES[which]} lasts {days} days at the last "
        f"{burn_days} days' burn of {_tao(runway.burn_per_day)} a day: it runs out on "
        f"{_day(runway.runs_out)} {runway.runs_out.year}, under the {params['days']} days "
        "this rule watches for. Send TAO to the Chutes account, or buy some, before then."
    )
    details = {
        "balance": which,
        "balance_tao": decimal_text(runway.balance, "0.0001"),
        "burn_days": burn_days,
        "burn_tao_per_day": decimal_text(runway.burn_per_day, "0.0001"),
        "days_left": decimal_text(runway.days_left, "0.1"),
        "runs_out": runway.runs_out.isoformat(),
        "threshold_days": params["days"],
    }
    return [Condition(f"tao_runway:{which}", subject, summary, details, _link(rule))]


def tao_balance(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """The balance under `tao`; nothing before the balance is known."""
    if rule.team_id is None:
        return []
    team, which, limit = rule.team, params["balance"], params["tao"]
    balance = balance_of(treasury_of(team), which)
    if balance is None or balance >= limit:
        return []
    subject = f"{_balance_words(which)} down to {_tao(balance)}, under {_tao(limit)}"
    summary = (
        f"{BALANCES[which].capitalize()} holds {_tao(balance)}, under the {_tao(limit)} this "
        "rule watches for. Send TAO to the Chutes account, or buy some, before calls to "
        "TAO-billed providers stop."
    )
    details = {
        "balance": which,
        "balance_tao": decimal_text(balance, "0.0001"),
        "threshold_tao": decimal_text(limit),
    }
    return [Condition(f"tao_balance:{which}", subject, summary, details, _link(rule))]


def _link(rule: AlertRule) -> str:
    return team_path(rule.team, TREASURY_PAGE)
