"""The TAO price scenarios: this month's forecast and budget crossing day with TAO moved."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.catalog import catalog_load
from billing.ingest.store import usage_ingest
from billing.treasury.scenarios import MoveError, parse_move, scenario_table
from routing.models import Provider
from tests.factories import BudgetFactory, TaoPriceFactory, canonical_event

# Tuesday Nov 10, noon in New York: day 10 of a 30-day month, 20 days to go.
NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
CHUTES = {"provider": "chutes", "model": "deepseek-ai/DeepSeek-V3"}
OPENAI = {"provider": "openai", "model": "gpt-5-mini"}

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def month_so_far(team):
    """$20 of Chutes at TAO $400 (0.05 TAO) and $30 of OpenAI: a pace of 0.005 TAO and $3 a
    day, so $5 a day at TAO $400."""
    catalog_load()
    TaoPriceFactory(at=datetime(2026, 11, 2, 11, 55, tzinfo=UTC), usd=400)
    TaoPriceFactory(at=datetime(2026, 11, 10, 16, 55, tzinfo=UTC), usd=400)
    _spend(team, 20, "2026-11-02T12:00:00Z", "chutes-1", **CHUTES)
    _spend(team, 30, "2026-11-03T12:00:00Z", "openai-1", **OPENAI)


def _spend(team, usd, timestamp, event_id, **overrides):
    event = canonical_event(id=event_id, timestamp=timestamp, cost_usd=usd, **overrides)
    usage_ingest(team, [event], now=NOW)


def _by_move(row) -> dict:
    return {scenario.move_pct: scenario for scenario in row.month.scenarios}


def _row(table, label):
    return next(row for row in table.rows if row.label == label)


def test_the_month_end_forecast_moves_with_taos_price(team, month_so_far):
    scenarios = _by_move(_row(scenario_table(team, now=NOW), "Whole team"))
    forecasts = {move: scenario.forecast_usd for move, scenario in scenarios.items()}
    assert forecasts == {
        Decimal(-30): Decimal(138),
        Decimal(-10): Decimal(146),
        Decimal(0): Decimal(150),
        Decimal(10): Decimal(154),
        Decimal(30): Decimal(162),
    }


def test_each_scenario_names_its_tao_price(team, month_so_far):
    scenarios = _by_move(_row(scenario_table(team, now=NOW), "Whole team"))
    assert scenarios[Decimal(-30)].tao_usd == Decimal(280)
    assert scenarios[Decimal(30)].tao_usd == Decimal(520)


def test_the_budget_crossing_day_moves_with_taos_price(team, month_so_far):
    BudgetFactory(team=team, amount_usd=Decimal(140))
    scenarios = _by_move(_row(scenario_table(team, now=NOW), "Whole team"))
    assert scenarios[Decimal(-30)].crossing_day is None
    assert scenarios[Decimal(0)].crossing_day == date(2026, 11, 29)
    assert scenarios[Decimal(30)].crossing_day == date(2026, 11, 27)


def test_spend_not_billed_in_tao_keeps_its_pace(team):
    catalog_load()
    TaoPriceFactory(at=datetime(2026, 11, 10, 16, 55, tzinfo=UTC), usd=400)
    _spend(team, 30, "2026-11-03T12:00:00Z", "openai-1", **OPENAI)
    scenarios = _row(scenario_table(team, now=NOW), "Whole team").month.scenarios
    assert {scenario.forecast_usd for scenario in scenarios} == {Decimal(90)}


def test_a_custom_move_joins_the_standard_ones_in_order(team, month_so_far):
    table = scenario_table(team, now=NOW, custom=Decimal(-45))
    columns = [(column.move_pct, column.custom) for column in table.columns]
    assert columns[0] == (Decimal(-45), True)
    assert _by_move(table.rows[0])[Decimal(-45)].forecast_usd == Decimal(132)


def test_each_budget_in_force_gets_a_row_beside_the_whole_team(team, month_so_far):
    chutes = Provider.objects.get(slug="chutes")
    BudgetFactory(team=team, provider=chutes, amount_usd=Decimal(50))
    table = scenario_table(team, now=NOW)
    assert [row.label for row in table.rows] == ["Whole team", "Provider Chutes (Bittensor SN64)"]
    # Chutes alone: $20 so far and 0.005 TAO a day; at +30% ($520) that is $2.60 a day.
    scenario = _by_move(_row(table, "Provider Chutes (Bittensor SN64)"))[Decimal(30)]
    assert scenario.forecast_usd == Decimal(72)
    assert scenario.crossing_day == date(2026, 11, 22)


def test_without_a_tao_price_there_is_no_table(team):
    assert scenario_table(team, now=NOW).tao_usd is None


@pytest.mark.parametrize(
    ("text", "move"),
    [
        ("-45", Decimal("-45.0")),
        ("+12.5", Decimal("12.5")),
        (" 12.5% ", Decimal("12.5")),
        ("", None),
    ],
)
def test_a_custom_move_is_read_as_a_percentage(text, move):
    assert parse_move(text) == move


@pytest.mark.parametrize("text", ["abc", "nan", "-100", "501", "1e400"])
def test_a_custom_move_that_is_no_usable_percentage_is_refused(text):
    with pytest.raises(MoveError):
        parse_move(text)


# --- On the budgets page ---------------------------------------------------------------------


def _budgets_page(client, user, team, **query):
    client.force_login(user)
    return client.get(reverse("budgets", kwargs={"team": team.slug}), query, **{})


def test_the_budgets_page_shows_the_crossing_day_under_each_move(
    client, viewer_user, team, month_so_far
):
    BudgetFactory(team=team, amount_usd=Decimal(140))
    page = _budgets_page(client, viewer_user, team).content.decode()
    assert 'data-testid="tao-scenario-table"' in page
    assert "crosses Nov 29" in page
    assert "stays under" in page


def test_the_budgets_page_adds_a_custom_move(client, viewer_user, team, month_so_far):
    BudgetFactory(team=team, amount_usd=Decimal(140))
    page = _budgets_page(client, viewer_user, team, tao_move="-45").content.decode()
    assert "-45%" in page
    assert "TAO $220.00" in page


def test_a_bad_custom_move_is_said_and_kept(client, viewer_user, team, month_so_far):
    BudgetFactory(team=team, amount_usd=Decimal(140))
    response = _budgets_page(client, viewer_user, team, tao_move="lots")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="tao-move-error"' in page
    assert 'value="lots"' in page
    assert "crosses Nov 29" in page


def test_htmx_gets_the_table_alone_and_a_400_for_a_bad_move(
    client, viewer_user, team, month_so_far
):
    BudgetFactory(team=team, amount_usd=Decimal(140))
    client.force_login(viewer_user)
    url = reverse("budgets", kwargs={"team": team.slug})
    good = client.get(url, {"tao_move": "-45"}, HTTP_HX_REQUEST="true")
    bad = client.get(url, {"tao_move": "<b>"}, HTTP_HX_REQUEST="true")
    assert good.status_code == 200
    assert good.content.decode().lstrip().startswith('<section class="card tao-scenarios"')
    assert bad.status_code == 400
    assert "&lt;b&gt;" in bad.content.decode()
    assert "<b>" not in bad.content.decode()


def test_the_budgets_page_says_when_there_is_no_tao_price(client, viewer_user, team):
    BudgetFactory(team=team, amount_usd=Decimal(140))
    page = _budgets_page(client, viewer_user, team).content.decode()
    assert 'data-testid="tao-scenarios-empty"' in page
