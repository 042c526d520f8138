import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from billing.catalog import catalog_load, catalog_rows
from billing.catalog_seed import SECTION_4, SEED_DATE, seed_prices
from billing.models import ModelPrice, TeamModelPrice
from routing.models import Model, Provider
from tests.factories import ModelFactory, ModelPriceFactory, ProviderFactory, UserFactory

# The seed research's section 4 price table, which the catalog was seeded from.
SEED_FILE = Path(__file__).resolve().parents[1] / "data/seed/research_2026-02-11_section_4.txt"


def test_load_catalog_adds_the_seed_providers_models_and_prices(db):
    catalog_load()
    sonnet = ModelPrice.objects.get(model__name="claude-sonnet-4-5")
    assert (sonnet.input_per_mtok, sonnet.output_per_mtok) == (Decimal("3"), Decimal("15"))
    assert sonnet.effective_from == SEED_DATE
    assert "Seed research" in sonnet.source


def test_load_catalog_bills_chutes_in_tao(db):
    catalog_load()
    assert Provider.objects.get(slug="chutes").billing_currency == "TAO"


def test_load_catalog_twice_adds_nothing(db):
    catalog_load()
    result = catalog_load()
    assert (result.providers_created, result.models_created, result.prices_created) == (0, 0, 0)
    assert ModelPrice.objects.count() == len(seed_prices())


def test_load_catalog_never_overwrites_a_price_ops_changed(db):
    catalog_load()
    Provider.objects.filter(slug="chutes").update(base_url="https://chutes.internal/v1")
    catalog_load()
    assert Provider.objects.get(slug="chutes").base_url == "https://chutes.internal/v1"


@pytest.mark.parametrize(
    ("model", "cached", "write"),
    [
        ("claude-opus-4-5", "0.5", "6.25"),
        ("claude-sonnet-4-5", "0.3", "3.75"),
        ("gpt-5.2", "0.175", "1.75"),
        ("gpt-5-mini", "0.025", "0.25"),
    ],
)
def test_load_catalog_seeds_the_published_cache_rates(db, model, cached, write):
    catalog_load()
    price = ModelPrice.objects.get(model__name=model)
    assert (price.cached_input_per_mtok, price.cache_write_per_mtok) == (
        Decimal(cached),
        Decimal(write),
    )
    assert "cache rates not in the research" in price.source and "read 2026-12-05" in price.source


def test_every_seeded_anthropic_and_openai_model_has_cache_rates():
    for row in seed_prices():
        if row["provider"] in ("anthropic", "openai"):
            assert row["cached_input_per_mtok"] is not None, row["model"]
            assert row["cache_write_per_mtok"] is not None, row["model"]


def _as_first_seeded(model_name):
    """The seeded row as the seed before cache rates wrote it."""
    ModelPrice.objects.filter(model__name=model_name).update(
        cached_input_per_mtok=None, cache_write_per_mtok=None, source=SECTION_4
    )


def test_load_catalog_again_brings_seeded_prices_up_to_date_once(db):
    catalog_load()
    _as_first_seeded("claude-sonnet-4-5")
    result = catalog_load()
    assert (result.prices_created, result.prices_updated) == (0, 1)
    assert "1 seeded prices updated" in str(result) and "manage.py reprice" in str(result)
    sonnet = ModelPrice.objects.get(model__name="claude-sonnet-4-5")
    assert sonnet.cached_input_per_mtok == Decimal("0.3")
    assert catalog_load().prices_updated == 0


def test_load_catalog_leaves_staff_prices_and_team_prices_alone(db, team, staff_user):
    catalog_load()
    sonnet = Model.objects.get(name="claude-sonnet-4-5")
    ModelPrice.objects.filter(model=sonnet).update(created_by=staff_user)
    _as_first_seeded("claude-sonnet-4-5")
    _as_first_seeded("gpt-5.2")
    ModelPrice.objects.filter(model__name="gpt-5.2").update(source="OpenAI invoice terms")
    later = ModelPriceFactory(model=sonnet, effective_from=date(2026, 6, 1), source=SECTION_4)
    own = TeamModelPrice.objects.create(
        team=team,
        model=sonnet,
        effective_from=date(2026, 11, 1),
        input_per_mtok=Decimal(2),
        output_per_mtok=Decimal(10),
        reason="negotiated",
    )
    assert catalog_load().prices_updated == 0
    untouched = ModelPrice.objects.filter(model__name__in=["claude-sonnet-4-5", "gpt-5.2"])
    assert {price.cached_input_per_mtok for price in untouched} == {None}
    later.refresh_from_db()
    own.refresh_from_db()
    assert (later.input_per_mtok, own.cached_input_per_mtok) == (Decimal(1), None)


def _seed_table_rows() -> dict[str, tuple[Decimal, Decimal]]:
    rows = {}
    pattern = re.compile(r"^\| \*\*(.+?)\*\* \| ~?\$([\d.]+) \| ~?\$([\d.]+) \|")
    for line in SEED_FILE.read_text().splitlines():
        if match := pattern.match(line):
            rows[match[1]] = (Decimal(match[2]), Decimal(match[3]))
    return rows


def test_the_seed_catalog_matches_the_research_table():
    table = _seed_table_rows()
    seeded = {row["seed_label"]: row for row in seed_prices() if row["seed_label"] in table}
    assert set(seeded) == set(table)
    for label, (input_rate, output_rate) in table.items():
        assert (seeded[label]["input_per_mtok"], seeded[label]["output_per_mtok"]) == (
            input_rate,
            output_rate,
        )


def test_the_catalog_uses_the_price_in_force_on_the_day(db):
    model = ModelFactory()
    ModelPriceFactory(model=model, effective_from=date(2026, 1, 1), input_per_mtok=Decimal("1"))
    ModelPriceFactory(model=model, effective_from=date(2026, 3, 1), input_per_mtok=Decimal("2"))
    [row] = catalog_rows(on=date(2026, 2, 15))
    assert row.price.input_per_mtok == Decimal("1")
    assert row.upcoming.effective_from == date(2026, 3, 1)


def test_the_catalog_page_lists_models_with_prices(client, viewer_user):
    catalog_load()
    client.force_login(viewer_user)
    page = client.get(reverse("catalog")).content.decode()
    assert "Claude Sonnet 4.5" in page
    assert "$15" in page


def test_the_catalog_page_flags_a_model_without_a_price(client, viewer_user):
    ModelFactory(name="unpriced-model")
    client.force_login(viewer_user)
    page = client.get(reverse("catalog")).content.decode()
    assert "No price in force" in page


def test_the_catalog_page_explains_an_empty_catalog(client, viewer_user):
    client.force_login(viewer_user)
    page = client.get(reverse("catalog")).content.decode()
    assert "manage.py load_catalog" in page


def test_the_provider_filter_answers_htmx_with_the_table_alone(client, viewer_user):
    catalog_load()
    client.force_login(viewer_user)
    response = client.get(reverse("catalog"), {"provider": "chutes"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "<html" not in page
    assert "DeepSeek V3 on Chutes" in page
    assert "Claude Sonnet 4.5" not in page


def test_the_price_history_answers_htmx_with_the_history_alone(client, viewer_user):
    price = ModelPriceFactory()
    client.force_login(viewer_user)
    url = reverse("catalog_model_prices", kwargs={"model_id": price.model_id})
    page = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in page
    assert "Price history" in page


def test_the_catalog_needs_a_sign_in(client, db):
    assert client.get(reverse("catalog")).status_code == 302


EDIT_PAGES = ["catalog_model_add", "catalog_price_add"]


@pytest.fixture
def staff_user(db):
    """Site staff: no team membership needed to change the shared catalog."""
    return UserFactory(username="site-staff", is_staff=True)


@pytest.mark.parametrize("url_name", EDIT_PAGES)
@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 403), ("ops", 403), ("finance", 403), ("viewer", 403), ("outsider", 403)],
)
def test_no_team_role_may_change_the_shared_catalog(client, users_by_role, url_name, role, status):
    client.force_login(users_by_role[role])
    assert client.get(reverse(url_name)).status_code == status


@pytest.mark.parametrize("url_name", EDIT_PAGES)
def test_site_staff_may_change_the_shared_catalog(client, staff_user, url_name):
    client.force_login(staff_user)
    assert client.get(reverse(url_name)).status_code == 200


def test_a_superuser_may_change_the_shared_catalog(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    assert client.get(reverse("catalog_price_add")).status_code == 200


@pytest.mark.parametrize("role", ["admin", "ops", "finance", "viewer"])
def test_a_team_member_cannot_post_a_list_price(client, users_by_role, role):
    model = ModelFactory()
    client.force_login(users_by_role[role])
    response = client.post(reverse("catalog_price_add"), _price_form(model))
    assert response.status_code == 403
    assert not ModelPrice.objects.exists()


def test_a_team_admin_cannot_add_a_model(client, admin_user):
    provider = ProviderFactory(slug="chutes")
    client.force_login(admin_user)
    data = {"provider": provider.pk, "name": "Qwen/Qwen3-32B", "enabled": "on"}
    response = client.post(reverse("catalog_model_add"), data)
    assert response.status_code == 403
    assert not Model.objects.filter(name="Qwen/Qwen3-32B").exists()


def test_a_team_admin_sees_the_catalog_without_edit_buttons(client, admin_user):
    ModelPriceFactory()
    client.force_login(admin_user)
    page = client.get(reverse("catalog")).content.decode()
    assert reverse("catalog_price_add") not in page
    assert reverse("catalog_model_add") not in page


def test_site_staff_see_the_catalogs_edit_buttons(client, staff_user):
    client.force_login(staff_user)
    page = client.get(reverse("catalog")).content.decode()
    assert reverse("catalog_price_add") in page


def test_staff_adds_a_model(client, staff_user):
    provider = ProviderFactory(slug="chutes")
    client.force_login(staff_user)
    data = {"provider": provider.pk, "name": "Qwen/Qwen3-32B", "enabled": "on"}
    response = client.post(reverse("catalog_model_add"), data)
    model = Model.objects.get(name="Qwen/Qwen3-32B")
    assert response.url == f"{reverse('catalog_price_add')}?model={model.pk}"


def test_adding_a_model_twice_is_refused_with_a_clear_message(client, staff_user):
    model = ModelFactory(name="Qwen/Qwen3-32B")
    client.force_login(staff_user)
    data = {"provider": model.provider.pk, "name": "Qwen/Qwen3-32B"}
    response = client.post(reverse("catalog_model_add"), data)
    assert response.status_code == 400
    assert "already has a model called Qwen/Qwen3-32B" in response.content.decode()


def _price_form(model, **overrides):
    return {
        "model": model.pk,
        "effective_from": "2026-12-01",
        "input_per_mtok": "0.30",
        "output_per_mtok": "1.20",
        "cached_input_per_mtok": "0.03",
        "cache_write_per_mtok": "",
        "source": "provider pricing page, 2026-11-26",
        **overrides,
    }


def test_staff_adds_a_new_price_and_the_old_one_stays(client, staff_user, frozen_now):
    old = ModelPriceFactory(effective_from=date(2026, 1, 1))
    client.force_login(staff_user)
    client.post(reverse("catalog_price_add"), _price_form(old.model))
    new = ModelPrice.objects.get(model=old.model, effective_from=date(2026, 12, 1))
    assert (new.input_per_mtok, new.cached_input_per_mtok, new.cache_write_per_mtok) == (
        Decimal("0.30"),
        Decimal("0.03"),
        None,
    )
    assert new.created_by == staff_user
    old_again = ModelPrice.objects.get(pk=old.pk)
    assert old_again.input_per_mtok == old.input_per_mtok


def test_a_second_price_on_the_same_day_is_refused_and_the_form_keeps_its_values(
    client, staff_user, frozen_now
):
    old = ModelPriceFactory(effective_from=date(2026, 12, 1))
    client.force_login(staff_user)
    response = client.post(reverse("catalog_price_add"), _price_form(old.model))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Prices are never edited" in page
    assert 'value="provider pricing page, 2026-11-26"' in page
    assert ModelPrice.objects.count() == 1


def test_a_negative_price_is_refused(client, staff_user):
    model = ModelFactory()
    client.force_login(staff_user)
    response = client.post(reverse("catalog_price_add"), _price_form(model, input_per_mtok="-1"))
    assert response.status_code == 400
    assert not ModelPrice.objects.exists()


def test_a_price_with_more_than_six_decimals_is_refused(client, staff_user):
    model = ModelFactory()
    client.force_login(staff_user)
    form = _price_form(model, input_per_mtok="0.0000001")
    response = client.post(reverse("catalog_price_add"), form)
    assert response.status_code == 400
    assert "decimal places" in response.content.decode()


def test_a_back_dated_list_price_needs_a_reason(client, staff_user, frozen_now):
    model = ModelFactory()
    client.force_login(staff_user)
    response = client.post(
        reverse("catalog_price_add"), _price_form(model, effective_from="2026-11-01")
    )
    assert response.status_code == 400
    assert "Say why this price applies to days already past" in response.content.decode()
    assert not ModelPrice.objects.exists()


def test_a_back_dated_list_price_tells_staff_the_reprice_command(client, staff_user, frozen_now):
    model = ModelFactory(provider__slug="acme", name="acme-large")
    client.force_login(staff_user)
    form = _price_form(model, effective_from="2026-11-01", reason="provider invoice was higher")
    response = client.post(reverse("catalog_price_add"), form, follow=True)
    assert ModelPrice.objects.get().reason == "provider invoice was higher"
    assert (
        "python manage.py reprice --since 2026-11-01 --model acme/acme-large"
        in response.content.decode()
    )


def test_a_future_list_price_needs_no_reason_nor_reprice(client, staff_user, frozen_now):
    model = ModelFactory()
    client.force_login(staff_user)
    response = client.post(reverse("catalog_price_add"), _price_form(model), follow=True)
    assert ModelPrice.objects.filter(effective_from=date(2026, 12, 1)).exists()
    assert "manage.py reprice" not in response.content.decode()


def test_a_new_list_price_reaches_the_cached_price_book(staff_user, frozen_now):
    from billing.catalog import price_add
    from billing.costing import PriceBook

    model = ModelFactory()
    assert PriceBook.current().price_on(model, frozen_now) is None
    price_add(
        model=model,
        user=staff_user,
        effective_from=date(2026, 11, 1),
        input_per_mtok=Decimal("1"),
        output_per_mtok=Decimal("2"),
        source="test",
    )
    assert PriceBook.current().price_on(model, frozen_now) == ModelPrice.objects.get()
