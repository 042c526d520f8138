from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.audit_actions import BillingAuditAction
from billing.ingest.store import usage_ingest
from billing.models import MonthClose
from billing.reports.month_close import adjustments_for, month_close, month_reopen, provider_totals
from dashboard.models import AuditEvent
from tests.factories import canonical_event

# Mid-December in New York: October and November are over, December is open.
NOW = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
OCTOBER, NOVEMBER, DECEMBER = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
SONNET_CALL = Decimal("0.045")  # 5,000 input and 2,000 output tokens of Sonnet


pytestmark = pytest.mark.usefixtures("frozen_now")


def _call(team, id, at, **fields):
    usage_ingest(team, [canonical_event(id=id, timestamp=at.isoformat(), **fields)], now=NOW)


@pytest.fixture
def october(team, catalog):
    _call(team, "oct-1", datetime(2026, 10, 10, 15, tzinfo=UTC))
    _call(team, "oct-2", datetime(2026, 10, 20, 15, tzinfo=UTC))


def _close(team, user, month):
    return month_close(team=team, month=month, user=user, report={"total": "frozen"})


def test_closing_freezes_the_month_s_totals_per_provider(team, finance_user, october):
    close = _close(team, finance_user, OCTOBER)
    assert Decimal(close.snapshot["totals"]["anthropic"]["cost_usd"]) == 2 * SONNET_CALL
    assert close.snapshot["report"] == {"total": "frozen"}
    assert AuditEvent.objects.filter(
        action=BillingAuditAction.MONTH_CLOSED, target="2026-10"
    ).exists()


def test_a_month_that_is_not_over_cannot_be_closed(team, finance_user, october):
    with pytest.raises(ValidationError, match="not over yet"):
        _close(team, finance_user, DECEMBER)


def test_a_month_closes_once(team, finance_user, october):
    _close(team, finance_user, OCTOBER)
    with pytest.raises(ValidationError, match="already closed"):
        _close(team, finance_user, OCTOBER)


def test_a_late_call_for_a_closed_month_is_an_adjustment_on_the_next_open_month(
    team, finance_user, october
):
    close = _close(team, finance_user, OCTOBER)
    # 23:30 on October 31st in New York arrives after the close.
    _call(team, "late", datetime(2026, 11, 1, 3, 30, tzinfo=UTC))
    [line] = adjustments_for(team, NOVEMBER)
    assert (line.closed_month, line.provider, line.requests) == (OCTOBER, "anthropic", 1)
    assert line.cost_usd == SONNET_CALL
    close.refresh_from_db()
    assert close.snapshot["totals"]["anthropic"]["requests"] == "2"


def test_a_closed_month_carries_its_adjustments_and_they_are_not_counted_again(
    team, finance_user, october
):
    _close(team, finance_user, OCTOBER)
    _call(team, "late-1", datetime(2026, 10, 30, 15, tzinfo=UTC))
    november = _close(team, finance_user, NOVEMBER)
    assert [Decimal(a["cost_usd"]) for a in november.snapshot["adjustments"]] == [SONNET_CALL]
    assert adjustments_for(team, DECEMBER) == []
    _call(team, "late-2", datetime(2026, 10, 29, 15, tzinfo=UTC))
    [line] = adjustments_for(team, DECEMBER)
    assert (line.closed_month, line.requests, line.cost_usd) == (OCTOBER, 1, SONNET_CALL)


def test_an_open_month_before_breaks_the_chain(team, finance_user, october):
    _close(team, finance_user, OCTOBER)
    _call(team, "late", datetime(2026, 10, 30, 15, tzinfo=UTC))
    # November is open: October's change shows there, not in December.
    assert adjustments_for(team, DECEMBER) == []
    assert len(adjustments_for(team, NOVEMBER)) == 1


def test_reopening_needs_a_reason_and_is_audited(team, finance_user, admin_user, october):
    _close(team, finance_user, OCTOBER)
    with pytest.raises(ValidationError, match="Say why"):
        month_reopen(team=team, month=OCTOBER, user=admin_user, reason=" ")
    month_reopen(team=team, month=OCTOBER, user=admin_user, reason="Invoice credit")
    event = AuditEvent.objects.get(action=BillingAuditAction.MONTH_REOPENED)
    assert (event.actor, event.detail["reason"]) == (admin_user, "Invoice credit")


def test_a_reopened_month_moves_again_and_closes_anew(team, finance_user, admin_user, october):
    _close(team, finance_user, OCTOBER)
    _call(team, "late", datetime(2026, 10, 30, 15, tzinfo=UTC))
    month_reopen(team=team, month=OCTOBER, user=admin_user, reason="late usage")
    assert adjustments_for(team, NOVEMBER) == []
    again = _close(team, finance_user, OCTOBER)
    assert again.snapshot["totals"]["anthropic"]["requests"] == "3"
    assert MonthClose.objects.filter(team=team, month=OCTOBER).count() == 2


def test_provider_totals_follow_the_team_s_calendar_month(team, catalog):
    # 23:30 on October 31st in New York is November 1st in UTC.
    _call(team, "edge", datetime(2026, 11, 1, 3, 30, tzinfo=UTC))
    assert provider_totals(team, OCTOBER)["anthropic"]["requests"] == 1
    assert provider_totals(team, NOVEMBER) == {}


def test_closing_one_team_s_month_leaves_another_team_s_open(
    team, other_team, finance_user, october
):
    _close(team, finance_user, OCTOBER)
    assert not MonthClose.objects.filter(team=other_team).exists()
    assert adjustments_for(other_team, NOVEMBER) == []


def test_nothing_changed_means_no_adjustment(team, finance_user, october):
    _close(team, finance_user, OCTOBER)
    assert adjustments_for(team, NOVEMBER) == []
