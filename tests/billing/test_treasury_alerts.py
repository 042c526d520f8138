from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.alerts.evaluation import alerts_evaluate
from billing.alerts.forms import AlertRuleForm
from billing.alerts.params import params_of
from billing.alerts.rules import params_in_words
from billing.models import Alert, AlertKind, AlertNotification, AlertState, TaoLot, TaoTransfer
from tests.billing.test_treasury_fifo import chutes_call
from tests.factories import AlertRuleFactory

NOW = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
D = Decimal

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def low_account(team, catalog, finance_user):
    """4 TAO stated on the account on December 1st, 2 TAO used on December 10th: 2 left,
    burning 2 TAO a week."""
    TaoTransfer.objects.create(
        team=team, sent_at=datetime(2026, 12, 1, tzinfo=UTC), tao=D(4), balance_after=D(4)
    )
    chutes_call(team, "dec", datetime(2026, 12, 10, 15, tzinfo=UTC), 800)
    return team


def _rule(team, kind, **params):
    return AlertRuleFactory(team=team, kind=kind, params=params, recipient_roles=["finance"])


def test_the_runway_alert_fires_when_days_left_are_under_the_limit(low_account):
    _rule(low_account, AlertKind.TAO_RUNWAY, days=14)
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(state=AlertState.FIRING)
    # 2 TAO at 2 TAO in 7 days: 7 days, until December 22nd.
    assert alert.subject == "Chutes account runs out in 7 days (Tue 22 Dec)"
    assert alert.link == "/t/maven/treasury/"
    assert AlertNotification.objects.get().recipients == ["finance-user@example.com"]


def test_the_runway_alert_resolves_when_a_transfer_arrives(low_account):
    _rule(low_account, AlertKind.TAO_RUNWAY, days=14)
    alerts_evaluate(now=NOW)
    TaoTransfer.objects.create(team=low_account, sent_at=NOW, tao=D(10))
    alerts_evaluate(now=NOW + timedelta(minutes=1))
    assert Alert.objects.get().state == AlertState.RESOLVED


def test_the_runway_alert_is_quiet_at_the_longer_burn(low_account):
    # 2 TAO over 30 days: 30 days left.
    _rule(low_account, AlertKind.TAO_RUNWAY, days=14, burn_days=30)
    alerts_evaluate(now=NOW)
    assert not Alert.objects.exists()


def test_the_runway_alert_is_quiet_when_nothing_burns(team, catalog):
    TaoTransfer.objects.create(team=team, sent_at=NOW, tao=D(1))
    _rule(team, AlertKind.TAO_RUNWAY, days=14)
    alerts_evaluate(now=NOW)
    assert not Alert.objects.exists()


def test_the_balance_alert_fires_under_the_amount_and_resolves(low_account):
    _rule(low_account, AlertKind.TAO_BALANCE, tao=3)
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(state=AlertState.FIRING)
    assert alert.subject == "Chutes account down to 2 TAO, under 3 TAO"
    TaoTransfer.objects.create(team=low_account, sent_at=NOW, tao=D(5))
    alerts_evaluate(now=NOW + timedelta(minutes=1))
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_the_balance_alert_can_count_the_wallet_too(low_account):
    TaoLot.objects.create(team=low_account, bought_at=NOW, tao=D(10), usd_paid=D(1500))
    _rule(low_account, AlertKind.TAO_BALANCE, tao=3, balance="total")
    alerts_evaluate(now=NOW)
    # 6 TAO in the wallet (10 bought, 4 sent) and 2 on the account.
    assert not Alert.objects.exists()


def test_the_balance_alert_waits_for_a_transfer(team, catalog):
    _rule(team, AlertKind.TAO_BALANCE, tao=3)
    alerts_evaluate(now=NOW)
    assert not Alert.objects.exists()


def test_the_params_are_read_and_refused_like_the_other_kinds(team):
    rule = _rule(team, AlertKind.TAO_RUNWAY, balance="wallet")
    with pytest.raises(ValueError, match="balance must be one of"):
        params_of(rule)
    rule.params = {"burn_days": "30"}
    assert params_of(rule) == {"days": 14, "burn_days": 30, "balance": "account"}


def test_the_rules_table_says_what_the_rule_watches():
    words = params_in_words(AlertKind.TAO_RUNWAY, {"days": 10, "balance": "total"})
    assert (
        words == "the Chutes account and the wallet lasting under 10 days at the last 7 days' burn"
    )


def test_the_rule_form_takes_the_treasury_params():
    data = {
        "kind": AlertKind.TAO_BALANCE,
        "name": "Chutes low",
        "recipient_roles": ["finance"],
        "cooldown_minutes": "60",
        "tao_balance-balance": "total",
        "tao_balance-tao": "2.5",
    }
    form = AlertRuleForm(data)
    assert form.is_valid(), form.errors | form.params_form.errors
    assert form.params_form.params() == {"balance": "total", "tao": 2.5}
