"""What every alert check yields (a Condition) and what the checks share: the page a condition
links to, the zone its times are told in, and how its numbers are kept in the details.

The checks themselves, one per kind: conditions_money (TAO price, budgets) and
conditions_health (providers' error rate, latency and quality; proxies' heartbeats).
"""

from dataclasses import dataclass
from decimal import Decimal

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Condition:
    """Something a rule watches for that holds now."""

    key: str
    subject: str
    summary: str
    details: dict
    link: str


def team_path(team, page: str = "") -> str:
    """A page of the rule's team (overview, budgets/, alerts/), or the home page without one."""
    return f"/t/{team.slug}/{page}" if team is not None else "/"


def rule_zone(rule):
    """The time zone the rule's texts are told in: its team's, none for a global rule."""
    return rule.team.zone if rule.team_id else None


def decimal_text(value, places: str | None = None) -> str:
    """The number as plain text (quantized to `places` if given) for a condition's JSON details:
    Decimals travel there as strings, so no digit is lost to a float."""
    value = Decimal(str(value))
    if places is not None:
        value = value.quantize(Decimal(places))
    return f"{value.normalize():f}"
