"""The monthly report page: who may read it, which month and teams it shows, what it says."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.reports.month_report import month_report
from billing.reports.views import report_context
from dashboard.models import Role
from tests.factories import BudgetFactory, MembershipFactory, TeamFactory, event_at

# Mid-December in New York: the last full month is November.
NOW = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
MINI = {"provider": "openai", "model": "gpt-5-mini"}


pytestmark = pytest.mark.usefixtures("frozen_now")


def _url(team, month="2026-11", name="report", query=""):
    return reverse(name, kwargs={"team": team.slug, "month": month}) + query


@pytest.fixture
def usage(team, catalog):
    events = [
        event_at("oct", datetime(2026, 10, 10, 15, tzinfo=UTC), cost_usd=Decimal("2")),
        event_at("nov-1", datetime(2026, 11, 10, 15, tzinfo=UTC), cost_usd=Decimal("2.5")),
        event_at("nov-2", datetime(2026, 11, 11, 15, tzinfo=UTC), cost_usd=Decimal("1.25"), **MINI),
    ]
    assert usage_ingest(team, events, now=NOW).rejected == []


# --- Who may read it -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "ops", "finance", "viewer"])
def test_it_shows_the_report_to_every_role(client, users_by_role, team, role):
    client.force_login(users_by_role[role])
    assert client.get(_url(team)).status_code == 200
    assert client.get(reverse("reports", kwargs={"team": team.slug})).status_code == 302


def test_it_offers_ops_no_month_close(client, ops_user, team):
    client.force_login(ops_user)
    assert client.get(_url(team)).context["close_context"]["may_close"] is False


def test_it_hides_the_report_from_outsiders(client, outsider, team):
    client.force_login(outsider)
    assert client.get(_url(team)).status_code == 404
    assert client.get(reverse("reports", kwargs={"team": team.slug})).status_code == 404


def test_it_sends_anonymous_visitors_to_log_in(client, team):
    response = client.get(_url(team))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


# --- Which month -----------------------------------------------------------------------------


def test_it_opens_last_month_from_the_reports_link(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(reverse("reports", kwargs={"team": team.slug}))
    assert response["Location"] == _url(team, "2026-11")


def test_it_opens_the_month_the_picker_asks_for(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(reverse("reports", kwargs={"team": team.slug}), {"month": "2026-09"})
    assert response["Location"] == _url(team, "2026-09")


def test_it_keeps_all_teams_when_picking_a_month(client, viewer_user, team):
    client.force_login(viewer_user)
    url = reverse("reports", kwargs={"team": team.slug})
    response = client.get(url, {"month": "2026-09", "teams": "all"})
    assert response["Location"] == _url(team, "2026-09", query="?teams=all")


def test_it_says_why_when_the_picker_asks_for_a_future_month(client, viewer_user, team):
    client.force_login(viewer_user)
    url = reverse("reports", kwargs={"team": team.slug})
    response = client.get(url, {"month": "2027-02"}, follow=True)
    assert response.redirect_chain[-1][0] == _url(team, "2026-11")
    assert "February 2027 has not begun yet" in response.content.decode()


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2027-01"])
def test_it_answers_404_with_a_reason_for_a_month_it_cannot_show(client, viewer_user, team, month):
    client.force_login(viewer_user)
    response = client.get(_url(team, month))
    assert response.status_code == 404
    assert response.templates[0].name == "billing/report.html"
    assert b'data-testid="report-missing"' in response.content
    assert _url(team, "2026-11").encode() in response.content


def test_it_shows_the_current_month_to_date(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(_url(team, "2026-12"))
    assert response.status_code == 200
    assert b"month to date" in response.content
    assert b'data-testid="report-next"' not in response.content


def test_it_links_to_the_months_before_and_after(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(_url(team, "2026-10"))
    assert response.context["previous_url"] == _url(team, "2026-09")
    assert response.context["next_url"] == _url(team, "2026-11")


# --- This team or all my teams ---------------------------------------------------------------


@pytest.fixture
def teams_of_finance_user(finance_user, team):
    """Tokyo (viewer there) and Ops Only (ops there) are both reportable for the finance user."""
    tokyo = TeamFactory(slug="tokyo", name="Tokyo", time_zone="Asia/Tokyo")
    ops_only = TeamFactory(slug="ops-only", name="Ops Only")
    MembershipFactory(team=tokyo, user=finance_user, role=Role.VIEWER)
    MembershipFactory(team=ops_only, user=finance_user, role=Role.OPS)
    return tokyo, ops_only


def test_it_reports_every_team_the_user_may_read_with_all_teams(
    client, finance_user, team, other_team, teams_of_finance_user
):
    client.force_login(finance_user)
    report = client.get(_url(team, query="?teams=all")).context["report"]
    assert [t.slug for t in report.teams] == ["maven", "ops-only", "tokyo"]


def test_it_reports_this_team_alone_by_default(client, finance_user, team, teams_of_finance_user):
    client.force_login(finance_user)
    report = client.get(_url(team)).context["report"]
    assert [t.slug for t in report.teams] == ["maven"]


def test_it_offers_the_switch_only_to_members_of_several_reportable_teams(
    client, viewer_user, finance_user, team, teams_of_finance_user
):
    client.force_login(viewer_user)
    assert b'data-testid="report-all-teams"' not in client.get(_url(team)).content
    client.force_login(finance_user)
    assert b'data-testid="report-all-teams"' in client.get(_url(team)).content


def test_it_keeps_all_teams_in_its_links(client, finance_user, team, teams_of_finance_user):
    client.force_login(finance_user)
    context = client.get(_url(team, "2026-10", query="?teams=all")).context
    assert context["csv_url"] == _url(team, "2026-10", "report_csv", "?teams=all")
    assert context["focus_csv_url"] == _url(team, "2026-10", "report_focus_csv", "?teams=all")
    assert context["next_url"] == _url(team, "2026-11", query="?teams=all")


# --- What it shows ---------------------------------------------------------------------------


def test_it_marks_reports_active_in_the_navigation(client, viewer_user, team):
    client.force_login(viewer_user)
    content = client.get(_url(team)).content.decode()
    assert 'href="/t/maven/reports/" aria-current="page"' in content


def test_it_shows_the_total_exactly_and_against_the_month_before(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    content = client.get(_url(team)).content.decode()
    assert 'data-exact="3.75"' in content
    assert "$3.75" in content
    # $3.75 in November against $2 in October.
    assert "+$1.75 (+87.5%)" in content


def test_it_shows_spend_against_the_budget(client, viewer_user, team, usage):
    BudgetFactory(team=team, amount_usd=Decimal(5))
    client.force_login(viewer_user)
    content = client.get(_url(team)).content.decode()
    assert "75.0%" in content
    assert "of $5.00" in content


def test_it_marks_a_model_new_since_the_month_before(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    content = client.get(_url(team)).content.decode()
    by_model = content.split('data-testid="report-by-model"')[1].split("</section>")[0]
    mini_row = by_model.split('data-key="openai/gpt-5-mini"')[1].split("</tr>")[0]
    assert 'data-testid="change-new"' in mini_row


def test_it_calls_out_unpriced_usage(client, viewer_user, team, catalog):
    usage_ingest(team, [event_at("a", datetime(2026, 11, 10, 15, tzinfo=UTC), model="x")], now=NOW)
    client.force_login(viewer_user)
    content = client.get(_url(team)).content.decode()
    assert "1,500 tokens" in content
    assert "not in the spend above" in content


def test_it_says_when_a_month_has_no_usage(client, viewer_user, team):
    client.force_login(viewer_user)
    assert b'data-testid="report-empty"' in client.get(_url(team)).content


def test_it_links_both_downloads_and_the_print_stylesheet(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    content = client.get(_url(team)).content.decode()
    assert f'href="{_url(team, name="report_csv")}"' in content
    assert f'href="{_url(team, name="report_focus_csv")}"' in content
    assert 'href="/static/css/print.css" media="print"' in content


def test_its_context_leaves_room_for_close_adjustments_and_invoices(rf, viewer_user, team):
    request = rf.get(_url(team))
    request.user = viewer_user
    report = month_report(team, date(2026, 11, 1))
    context = report_context(request, team, date(2026, 11, 1), report)
    assert context["close_context"] is None
    assert context["adjustments"] == []
    assert context["invoice_lines"] is None
    assert context["report"] is report


def test_it_reads_a_fixed_number_of_queries_whatever_the_usage(
    client, viewer_user, team, usage, django_assert_num_queries
):
    client.force_login(viewer_user)
    many = [
        event_at(f"more-{n}", datetime(2026, 11, 1 + n % 28, 15, tzinfo=UTC), task_type=f"t{n}")
        for n in range(60)
    ]
    usage_ingest(team, many, now=NOW)
    # Session, user, membership; the month's standing close; the report's days, budgets and
    # disagreements (no baseline model, so no prices) and the list prices of the bridge; the
    # closes before it (for adjustments); the invoices and the providers they name; the
    # reportable teams; the navigation's teams and catalog rights; the session saved (in a
    # savepoint).
    with django_assert_num_queries(17):
        client.get(_url(team))
