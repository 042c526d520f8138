"""A demo team's treasury: three TAO purchases over the last two months at prices around the
demo's TAO walk ($146, billing.demo), and two transfers to the Chutes account, the second
stating the balance after it. Sized on the team's own recent burn so its runway is believable.

Everything it makes has a reference starting with "demo-"; seeding twice adds nothing."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Sum

from billing.models import TaoLot, TaoTransfer, UsageRollup
from billing.treasury.fifo import ZERO
from billing.treasury.ledger import tao_provider_slugs
from billing.treasury.runway import tao_burnt, team_today

DEMO_PREFIX = "demo-"
TAO_PLACES = Decimal("0.0001")
# (days ago, days of burn bought, USD per TAO, venue)
DEMO_LOTS = [
    (62, 30, Decimal("128.40"), "Kraken"),
    (35, 30, Decimal("151.75"), "OTC desk"),
    (8, 25, Decimal("169.20"), "Coinbase"),
]
# Without usage to size on, a day's burn is taken as this much TAO.
DEFAULT_BURN = Decimal(1)


def treasury_demo_seed(team, now: datetime) -> int:
    """Add the demo lots and transfers unless the team has them; returns how many were added."""
    if TaoLot.objects.filter(team=team, reference__startswith=DEMO_PREFIX).exists():
        return 0
    daily = tao_burnt(team, days=30, today=team_today(team, now)) / 30 or DEFAULT_BURN
    lots = []
    for number, (days_ago, days_bought, price, venue) in enumerate(DEMO_LOTS, start=1):
        tao = (daily * days_bought).quantize(TAO_PLACES)
        lots.append(
            TaoLot.objects.create(
                team=team,
                bought_at=now - timedelta(days=days_ago),
                tao=tao,
                usd_paid=(tao * price).quantize(Decimal("0.01")),
                venue=venue,
                reference=f"{DEMO_PREFIX}order-{number}",
            )
        )
    first_at = lots[0].bought_at + timedelta(hours=2)
    first = TaoTransfer.objects.create(
        team=team, sent_at=first_at, tao=lots[0].tao, reference=f"{DEMO_PREFIX}tx-1"
    )
    second_at = lots[1].bought_at + timedelta(hours=3)
    used = _used_between(team, first_at, second_at)
    TaoTransfer.objects.create(
        team=team,
        sent_at=second_at,
        tao=lots[1].tao,
        balance_after=max(first.tao - used, ZERO) + lots[1].tao,
        reference=f"{DEMO_PREFIX}tx-2",
    )
    return len(lots) + 2


def _used_between(team, start: datetime, end: datetime) -> Decimal:
    used = UsageRollup.objects.filter(
        team=team, provider_name__in=tao_provider_slugs(), hour__gte=start, hour__lt=end
    ).aggregate(tao=Sum("tao_amount"))["tao"]
    return (used or ZERO).quantize(TAO_PLACES)
