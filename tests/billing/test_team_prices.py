"""A team's own (negotiated) prices: they price only its usage, in force by date, audited."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from billing.audit_actions import BillingAuditAction
from billing.catalog import team_price_add
from billing.costing import PriceBook
from billing.ingest.store import usage_ingest
from billing.models import CostSource, TeamModelPrice, UsageEvent
from dashboard.models import AuditEvent
from routing.models import Model
from tests.conftest import NOW
from tests.factories import canonical_event

# canonical_event(): claude-sonnet-4-5, 5,000 input and 2,000 output tokens; list price $3/$15,
# so $0.045 at the list price, $0.018 at $1/$6.5.
LIST_COST = Decimal("0.045")
TEAM_COST = Decimal("0.018")


@pytest.fixture
def sonnet(catalog):
    return Model.objects.get(name="claude-sonnet-4-5")


def _team_price(team, model, day=date(2026, 11, 1), **fields):
    values = {
        "effective_from": day,
        "input_per_mtok": Decimal("1"),
        "output_per_mtok": Decimal("6.5"),
        "cached_input_per_mtok": None,
        "cache_write_per_mtok": None,
        "reason": "contract 2026-11",
        **fields,
    }
    return team_price_add(team=team, model=model, user=None, **values)


def _ingest(team, *events):
    result = usage_ingest(team, list(events), now=NOW)
    assert result.accepted == len(events), result.rejected


def _event(team, event_id="evt-1") -> UsageEvent:
    return UsageEvent.objects.get(team=team, event_id=event_id)


# --- Costing --------------------------------------------------------------------------------


def test_a_team_price_prices_that_teams_calls(team, sonnet):
    _team_price(team, sonnet)
    _ingest(team, canonical_event())
    event = _event(team)
    assert (event.cost_usd, event.cost_source) == (TEAM_COST, CostSource.TEAM)
    assert event.team_price.reason == "contract 2026-11"
    assert event.price is None


def test_a_team_price_leaves_other_teams_at_the_list_price(team, other_team, sonnet):
    _team_price(team, sonnet)
    _ingest(other_team, canonical_event())
    event = _event(other_team)
    assert (event.cost_usd, event.cost_source) == (LIST_COST, CostSource.CATALOG)
    assert event.team_price is None


def test_calls_before_the_team_price_starts_keep_the_list_price(team, sonnet):
    _team_price(team, sonnet, day=date(2026, 11, 21))
    _ingest(
        team,
        canonical_event(id="before", timestamp="2026-11-20T23:59:00Z"),
        canonical_event(id="after", timestamp="2026-11-21T00:00:00Z"),
    )
    assert _event(team, "before").cost_usd == LIST_COST
    assert _event(team, "after").cost_usd == TEAM_COST


def test_a_later_row_of_the_same_day_corrects_the_team_price(team, sonnet):
    _team_price(team, sonnet, input_per_mtok=Decimal("9"))
    _team_price(team, sonnet, reason="typo in the input rate")
    _ingest(team, canonical_event())
    assert _event(team).cost_usd == TEAM_COST


def test_a_reported_cost_still_counts_and_is_compared_with_the_team_price(team, sonnet):
    _team_price(team, sonnet)
    _ingest(team, canonical_event(cost_usd=0.018))
    event = _event(team)
    assert (event.cost_source, event.catalog_cost_usd) == (CostSource.REPORTED, TEAM_COST)
    assert not event.cost_disagreement


def test_a_new_team_price_reaches_the_cached_price_book(team, sonnet):
    PriceBook.current()
    _team_price(team, sonnet)
    _ingest(team, canonical_event())
    assert _event(team).cost_usd == TEAM_COST


def test_reprice_applies_a_back_dated_team_price_to_that_team_only(team, other_team, sonnet):
    _ingest(team, canonical_event())
    _ingest(other_team, canonical_event())
    TeamModelPrice.objects.create(
        team=team,
        model=sonnet,
        effective_from=date(2026, 11, 1),
        input_per_mtok=Decimal("1"),
        output_per_mtok=Decimal("6.5"),
        reason="signed late",
    )
    call_command(
        "reprice",
        "--since",
        "2026-11-01",
        "--team",
        team.slug,
        "--model",
        "anthropic/claude-sonnet-4-5",
    )
    assert _event(team).cost_usd == TEAM_COST
    assert _event(other_team).cost_usd == LIST_COST


def test_reprice_refuses_an_unknown_model(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No catalog model"):
        call_command("reprice", "--since", "2026-11-01", "--model", "nope/nothing")


# --- Audit ----------------------------------------------------------------------------------


def test_adding_a_team_price_is_audited_with_the_list_price_it_replaces(team, sonnet):
    _team_price(team, sonnet)
    entry = AuditEvent.objects.get(team=team, action=BillingAuditAction.TEAM_PRICE_ADDED)
    assert entry.target == "anthropic/claude-sonnet-4-5 from 2026-11-01"
    assert entry.detail["old"].startswith("list price from")
    assert "input $3" in entry.detail["old"]
    assert entry.detail["new"].startswith("team price from 2026-11-01: input $1, output $6.5")
    assert entry.detail["reason"] == "contract 2026-11"


def test_a_correction_is_audited_with_the_team_price_it_corrects(team, sonnet):
    _team_price(team, sonnet, input_per_mtok=Decimal("9"))
    _team_price(team, sonnet, reason="typo")
    latest = AuditEvent.objects.filter(team=team).first()
    assert latest.detail["old"].startswith("team price from 2026-11-01: input $9")
    assert latest.detail["new"].startswith("team price from 2026-11-01: input $1")


# --- Pages ----------------------------------------------------------------------------------


def _form(model, **overrides):
    return {
        "model": model.pk,
        "effective_from": "2026-11-26",
        "input_per_mtok": "1",
        "output_per_mtok": "6.5",
        "cached_input_per_mtok": "",
        "cache_write_per_mtok": "",
        "reason": "contract 2026-11",
        **overrides,
    }


def _url(team, name="team_price_add"):
    return reverse(name, kwargs={"team": team.slug})


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("finance", 200), ("ops", 200), ("viewer", 200), ("outsider", 404)],
)
def test_every_member_reads_the_team_prices(client, users_by_role, team, role, status):
    client.force_login(users_by_role[role])
    assert client.get(_url(team, "team_prices")).status_code == status


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("finance", 200), ("ops", 403), ("viewer", 403), ("outsider", 404)],
)
def test_only_admins_and_finance_open_the_team_price_form(
    client, users_by_role, team, role, status
):
    client.force_login(users_by_role[role])
    assert client.get(_url(team)).status_code == status


@pytest.mark.parametrize(("role", "status"), [("ops", 403), ("viewer", 403), ("outsider", 404)])
def test_others_cannot_post_a_team_price(
    client, users_by_role, team, sonnet, frozen_now, role, status
):
    client.force_login(users_by_role[role])
    assert client.post(_url(team), _form(sonnet)).status_code == status
    assert not TeamModelPrice.objects.exists()


def test_a_finance_member_adds_a_team_price_from_today(
    client, finance_user, team, sonnet, frozen_now
):
    client.force_login(finance_user)
    response = client.post(_url(team), _form(sonnet), follow=True)
    price = TeamModelPrice.objects.get()
    assert (price.team, price.effective_from, price.created_by) == (
        team,
        date(2026, 11, 26),
        finance_user,
    )
    assert AuditEvent.objects.filter(team=team, action=BillingAuditAction.TEAM_PRICE_ADDED).exists()
    assert "anthropic/claude-sonnet-4-5" in response.content.decode()


def test_a_team_admin_cannot_back_date_a_team_price(client, admin_user, team, sonnet, frozen_now):
    client.force_login(admin_user)
    response = client.post(_url(team), _form(sonnet, effective_from="2026-11-01"))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Only site staff may record a price from a day already past" in page
    assert 'value="2026-11-01"' in page
    assert 'value="contract 2026-11"' in page
    assert not TeamModelPrice.objects.exists()


def test_staff_back_date_a_team_price_and_are_told_how_to_reprice(
    client, admin_user, team, sonnet, frozen_now
):
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    response = client.post(_url(team), _form(sonnet, effective_from="2026-11-01"), follow=True)
    assert TeamModelPrice.objects.get().effective_from == date(2026, 11, 1)
    assert (
        "python manage.py reprice --since 2026-11-01 --team maven "
        "--model anthropic/claude-sonnet-4-5" in response.content.decode()
    )


def test_a_future_team_price_needs_no_reprice(client, admin_user, team, sonnet, frozen_now):
    client.force_login(admin_user)
    response = client.post(_url(team), _form(sonnet, effective_from="2026-12-01"), follow=True)
    assert TeamModelPrice.objects.filter(effective_from=date(2026, 12, 1)).exists()
    assert "manage.py reprice" not in response.content.decode()


def test_a_team_price_needs_a_reason(client, admin_user, team, sonnet, frozen_now):
    client.force_login(admin_user)
    response = client.post(_url(team), _form(sonnet, reason=""))
    assert response.status_code == 400
    assert not TeamModelPrice.objects.exists()


def test_the_page_lists_the_teams_prices_only(client, viewer_user, team, other_team, sonnet):
    _team_price(team, sonnet, reason="our contract")
    _team_price(other_team, sonnet, reason="their secret contract")
    client.force_login(viewer_user)
    page = client.get(_url(team, "team_prices")).content.decode()
    assert "our contract" in page
    assert "their secret contract" not in page


def test_the_catalog_and_the_settings_link_to_the_team_prices(client, admin_user, team):
    client.force_login(admin_user)
    settings_page = client.get(reverse("team_settings", kwargs={"team": team.slug}))
    catalog_page = client.get(reverse("catalog"))
    assert _url(team, "team_prices") in settings_page.content.decode()
    assert _url(team, "team_prices") in catalog_page.content.decode()


# --- What applied, on screen ---------------------------------------------------------------


def test_the_event_detail_says_a_team_price_applied(client, viewer_user, team, sonnet):
    _team_price(team, sonnet)
    _ingest(team, canonical_event())
    client.force_login(viewer_user)
    url = reverse("usage_event", kwargs={"team": team.slug, "event_pk": _event(team).pk})
    page = client.get(url).content.decode()
    assert "team price from 2026-11-01" in page


def test_the_event_detail_says_a_list_price_applied(client, viewer_user, team, sonnet):
    _ingest(team, canonical_event())
    client.force_login(viewer_user)
    url = reverse("usage_event", kwargs={"team": team.slug, "event_pk": _event(team).pk})
    page = client.get(url).content.decode()
    assert "list price from" in page
    assert "team price from" not in page


def test_the_report_names_the_models_priced_at_team_prices(
    client, finance_user, team, sonnet, frozen_now
):
    _team_price(team, sonnet)
    _ingest(team, canonical_event())
    client.force_login(finance_user)
    page = client.get(reverse("report", kwargs={"team": team.slug, "month": "2026-11"}))
    section = page.content.decode().split('data-testid="report-team-prices"')[1]
    assert "anthropic/claude-sonnet-4-5" in section.split("</section>")[0]
    assert "2026-11-01" in section.split("</section>")[0]


def test_the_report_has_no_team_price_section_without_team_prices(
    client, finance_user, team, sonnet, frozen_now
):
    _ingest(team, canonical_event())
    client.force_login(finance_user)
    page = client.get(reverse("report", kwargs={"team": team.slug, "month": "2026-11"}))
    assert 'data-testid="report-team-prices"' not in page.content.decode()


def test_a_team_price_added_in_the_django_admin_is_audited(client, team, sonnet, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    form = {**_form(sonnet, effective_from="2026-11-01"), "team": team.pk}
    response = client.post(reverse("admin:billing_teammodelprice_add"), form)
    assert response.status_code == 302
    assert TeamModelPrice.objects.get().team == team
    assert AuditEvent.objects.filter(team=team, action=BillingAuditAction.TEAM_PRICE_ADDED).exists()
