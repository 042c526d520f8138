from datetime import date

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.queries import cost_disagreements, unpriced_usage
from dashboard.models import Team
from routing.models import Provider
from tests.conftest import NOW
from tests.factories import ModelFactory, ModelPriceFactory, canonical_event


def _ingest(team, *events):
    result = usage_ingest(team, list(events), now=NOW)
    assert result.accepted == len(events), result.rejected


def _site_staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def _catalog(client) -> str:
    response = client.get(reverse("catalog"))
    assert response.status_code == 200
    return response.content.decode()


def test_it_sums_unpriced_calls_and_tokens_per_model(catalog, team):
    _ingest(
        team,
        canonical_event(id="a", model="mystery", input_tokens=1000, output_tokens=500),
        canonical_event(id="b", model="mystery", input_tokens=200, output_tokens=100),
        canonical_event(id="c"),
    )
    [row] = unpriced_usage(teams=Team.objects.all())
    assert (row.provider_name, row.model_name) == ("anthropic", "mystery")
    assert (row.requests, row.tokens) == (2, 1800)


def test_it_lists_unpriced_models_with_their_token_volume(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(model="mystery", input_tokens=12000, output_tokens=345))
    client.force_login(viewer_user)
    page = _catalog(client)
    assert "<code>mystery</code>" in page
    assert "12,345" in page


def test_it_lists_only_the_users_own_teams(client, catalog, viewer_user, team, other_team):
    _ingest(other_team, canonical_event(model="their-secret-model"))
    client.force_login(viewer_user)
    assert "their-secret-model" not in _catalog(client)


def test_it_lists_every_team_for_a_superuser(client, catalog, other_team, django_user_model):
    _ingest(other_team, canonical_event(model="their-model"))
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    assert "<code>their-model</code>" in _catalog(client)


def test_it_offers_editors_to_add_a_missing_model(client, catalog, ops_user, team):
    _ingest(team, canonical_event(model="mystery"))
    client.force_login(_site_staff(ops_user))
    page = _catalog(client)
    assert f"{reverse('catalog_model_add')}?provider=" in page


def test_it_offers_editors_to_price_a_known_model(client, ops_user, team):
    # The model is in the catalog, but its only price starts after the call.
    model = ModelFactory(name="later-priced", provider__slug="acme")
    ModelPriceFactory(model=model, effective_from=date(2027, 1, 1))
    _ingest(team, canonical_event(provider="acme", model="later-priced"))
    client.force_login(_site_staff(ops_user))
    assert f"{reverse('catalog_price_add')}?model={model.pk}" in _catalog(client)


def test_it_offers_no_catalog_links_to_viewers(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(model="mystery"))
    client.force_login(viewer_user)
    page = _catalog(client)
    assert f"{reverse('catalog_model_add')}?provider=" not in page


def test_it_offers_no_catalog_links_to_a_team_admin(client, catalog, admin_user, team):
    _ingest(team, canonical_event(model="mystery"))
    client.force_login(admin_user)
    page = _catalog(client)
    assert f"{reverse('catalog_model_add')}" not in page
    assert f"{reverse('catalog_price_add')}" not in page


def test_it_says_when_nothing_is_unpriced(client, catalog, viewer_user, team):
    _ingest(team, canonical_event())
    client.force_login(viewer_user)
    assert "nothing is unpriced" in _catalog(client)


def test_it_lists_cost_disagreements_with_both_totals(client, catalog, viewer_user, team):
    # The catalog puts this call at $0.045.
    _ingest(team, canonical_event(cost_usd=0.09))
    client.force_login(viewer_user)
    page = _catalog(client)
    assert 'data-testid="cost-disagreements"' in page
    assert "$0.09" in page
    assert "$0.045" in page
    assert "+100.0%" in page


def test_it_counts_only_the_calls_that_disagree(catalog, team):
    _ingest(
        team,
        canonical_event(id="off", cost_usd=0.09),
        canonical_event(id="close", cost_usd=0.046),
    )
    [row] = cost_disagreements(teams=Team.objects.all())
    assert row.requests == 1


def test_it_leaves_out_a_model_whose_totals_are_within_the_threshold(catalog, team):
    # One call 10% off and three that agree, all in one hour: the totals are 2.5% off.
    _ingest(
        team,
        canonical_event(id="off", cost_usd=0.0495),
        *(canonical_event(id=f"ok-{n}", cost_usd=0.045) for n in range(3)),
    )
    assert cost_disagreements(teams=Team.objects.all()) == []


def test_it_keeps_other_teams_disagreements_out(client, catalog, viewer_user, other_team):
    _ingest(other_team, canonical_event(cost_usd=0.09))
    client.force_login(viewer_user)
    assert "No disagreements" in _catalog(client)


def test_the_htmx_table_leaves_the_usage_sections_out(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(model="mystery"))
    client.force_login(viewer_user)
    page = client.get(reverse("catalog"), HTTP_HX_REQUEST="true").content.decode()
    assert "Unpriced usage" not in page


@pytest.mark.parametrize("events", [3, 30])
def test_the_catalog_reads_a_fixed_number_of_queries(
    client, catalog, ops_user, team, django_assert_num_queries, events
):
    ModelFactory(provider=Provider.objects.get(slug="anthropic"), name="unpriced-0")
    # Unpriced calls of a catalog model and of an unknown one, and calls that disagree.
    models = ["unpriced-0", "unpriced-1", "claude-sonnet-4-5"]
    _ingest(
        team,
        *(
            canonical_event(id=f"e{n}", model=models[n % 3], cost_usd=1 if n % 3 == 2 else None)
            for n in range(events)
        ),
    )
    client.force_login(_site_staff(ops_user))
    # Session, user, models, prices, unpriced usage with its providers and models,
    # disagreements, the switcher's teams, providers, the provider filter.
    with django_assert_num_queries(11):
        page = _catalog(client)
    unpriced = page.split('data-testid="unpriced-usage"')[1].split("</table>")[0]
    assert f"{reverse('catalog_model_add')}?provider=" in unpriced
    assert f"{reverse('catalog_price_add')}?model=" in unpriced
    assert 'data-testid="cost-disagreements"' in page
