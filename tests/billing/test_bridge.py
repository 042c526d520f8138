"""The month-over-month bridge: last month's spend to this month's through volume, mix, token
intensity, unit price and TAO rate, exactly, overall and per provider and task type; on the
report page, in its print view, in its CSV and in a closed month's snapshot."""

import csv
import io
import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import count

import pytest
from django.conf import settings
from django.urls import reverse

from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.ingest.store import usage_ingest
from billing.models import ModelPrice
from billing.reports.bridge import EFFECTS, TokenWeights, month_bridge
from billing.reports.bridge_chart import bridge_figure
from billing.reports.day_rows import DayRow
from billing.reports.exports import BRIDGE_COLUMNS
from billing.reports.figures import Figures, MonthReport
from billing.reports.month_close import month_close
from billing.reports.month_report import month_report
from routing.models import Model
from tests.factories import TaoPriceFactory, canonical_event

NOW = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
OCTOBER, NOVEMBER = date(2026, 10, 1), date(2026, 11, 1)
SONNET = {"provider": "anthropic", "model": "claude-sonnet-4-5"}
MINI = {"provider": "openai", "model": "gpt-5-mini"}
LLAMA = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}
# 1,000 input and 500 output tokens: Sonnet $0.0105, Mini $0.00125, Llama $0.0003.
SONNET_CALL, MINI_CALL = Decimal("0.0105"), Decimal("0.00125")
ZERO = Decimal(0)


pytestmark = pytest.mark.usefixtures("frozen_now")
_ids = count()


def _calls(team, month: date, number: int, *, tokens=(1000, 500), hour=15, **fields):
    """`number` calls on the 10th of `month`, a minute apart from `hour` UTC."""
    start = datetime(month.year, month.month, 10, hour, tzinfo=UTC)
    events = [
        canonical_event(
            id=f"call-{next(_ids)}",
            timestamp=(start + timedelta(minutes=n)).isoformat(),
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            **fields,
        )
        for n in range(number)
    ]
    assert usage_ingest(team, events, now=NOW).rejected == []


def _bridge(team):
    return month_report(team, NOVEMBER, now=NOW).bridge


def _effects(bridge) -> dict[str, Decimal]:
    return {effect.name: effect.amount for effect in bridge.effects}


def _only(name: str, amount: Decimal) -> dict[str, Decimal]:
    return {effect: amount if effect == name else ZERO for effect in EFFECTS}


# --- Exactness ------------------------------------------------------------------------------


def _random_rows(rng: random.Random, day: date) -> list[DayRow]:
    rows = []
    for _ in range(rng.randint(0, 40)):
        requests = rng.randint(1, 200)
        input_tokens = rng.choice([0, rng.randint(1, 10**6)])
        cached = rng.randint(0, input_tokens)
        cost = Decimal(rng.randint(0, 10**12)).scaleb(-12)
        tao = rng.random() < 0.3 and cost
        figures = Figures(
            requests=requests,
            input_tokens=input_tokens,
            cached_input_tokens=cached,
            cache_write_tokens=rng.randint(0, input_tokens - cached),
            output_tokens=rng.randint(0, 10**5),
            cost_usd=cost,
            tao_amount=(cost / rng.randint(200, 600)).quantize(Decimal("1e-12")) if tao else ZERO,
        )
        cell = (f"p{rng.randint(0, 3)}", f"m{rng.randint(0, 8)}", f"t{rng.randint(0, 3)}")
        rows.append(DayRow(1, day + timedelta(days=rng.randint(0, 27)), *cell, figures))
    return rows


def _random_prices(rng: random.Random) -> dict:
    def rate():
        return Fraction(rng.randint(0, 30_000_000), 10**12)

    def weights():
        # Cached tokens cheaper than input, cache writes dearer, as the catalog has them.
        input_rate = rate()
        return TokenWeights(input_rate, rate(), -input_rate * 9 / 10, input_rate / 4)

    return {(f"p{p}", f"m{m}"): weights() for p in range(4) for m in range(6)}


@pytest.mark.parametrize("seed", range(60))
def test_its_effects_add_up_to_the_change_exactly_on_random_data(seed):
    rng = random.Random(seed)
    before, after = _random_rows(rng, OCTOBER), _random_rows(rng, NOVEMBER)
    bridge = month_bridge(before, after, reference_prices=_random_prices(rng))
    amounts = [effect.amount for effect in bridge.effects]
    assert all(isinstance(amount, Decimal) for amount in amounts)
    assert bridge.start == sum((row.figures.cost_usd for row in before), ZERO)
    assert bridge.end == sum((row.figures.cost_usd for row in after), ZERO)
    assert sum(amounts, ZERO) == bridge.end - bridge.start
    assert bridge.residual == 0


@pytest.mark.parametrize("seed", range(10))
def test_its_effects_are_rounded_to_the_stored_quantum(seed):
    rng = random.Random(seed)
    bridge = month_bridge(
        _random_rows(rng, OCTOBER),
        _random_rows(rng, NOVEMBER),
        reference_prices=_random_prices(rng),
    )
    assert all(effect.amount.as_tuple().exponent == -12 for effect in bridge.effects)


def test_a_cost_without_calls_is_left_as_the_residual():
    figures = Figures(requests=1, input_tokens=10, cost_usd=Decimal(1))
    costly_nothing = Figures(cost_usd=Decimal("0.25"))
    before = [DayRow(1, OCTOBER, "p", "m", "", figures)]
    after = [
        DayRow(1, NOVEMBER, "p", "m", "", figures),
        DayRow(1, NOVEMBER, "q", "m", "", costly_nothing),
    ]
    bridge = month_bridge(before, after, reference_prices={})
    assert bridge.residual == Decimal("0.25")
    assert sum((e.amount for e in bridge.effects), bridge.residual) == bridge.change


# --- Known causes, recovered ---------------------------------------------------------------


def test_only_more_calls_is_all_volume(team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, OCTOBER, 10, hour=16, **MINI)
    _calls(team, NOVEMBER, 20, **SONNET)
    _calls(team, NOVEMBER, 20, hour=16, **MINI)
    assert _effects(_bridge(team).total) == _only("volume", 10 * SONNET_CALL + 10 * MINI_CALL)


def test_calls_moved_to_a_cheaper_model_are_mix_only(team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, OCTOBER, 10, hour=16, **MINI)
    _calls(team, NOVEMBER, 5, **SONNET)
    _calls(team, NOVEMBER, 15, hour=16, **MINI)
    assert _effects(_bridge(team).total) == _only("mix", 5 * (MINI_CALL - SONNET_CALL))


def test_more_tokens_per_call_is_intensity_only(team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 10, tokens=(2000, 1000), **SONNET)
    assert _effects(_bridge(team).total) == _only("intensity", 10 * SONNET_CALL)


def test_a_catalog_price_change_is_unit_price_only(team, catalog):
    sonnet = Model.objects.get(name=SONNET["model"])
    ModelPrice.objects.create(
        model=sonnet,
        effective_from=NOVEMBER,
        input_per_mtok=Decimal(6),
        output_per_mtok=Decimal(30),
        source="test",
    )
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 10, **SONNET)
    assert _effects(_bridge(team).total) == _only("unit_price", 10 * SONNET_CALL)


def _tao_calls(team, month: date, number: int, *, usd_per_tao: int, **fields):
    TaoPriceFactory(at=datetime(month.year, month.month, 10, 14, 55, tzinfo=UTC), usd=usd_per_tao)
    _calls(team, month, number, **LLAMA, **fields)


def test_the_same_tao_at_another_rate_is_tao_rate_only(team, catalog):
    # 0.01 TAO a call both months: $4 at $400 a TAO, then $5 at $500.
    _tao_calls(team, OCTOBER, 10, usd_per_tao=400, cost_usd=Decimal(4))
    _tao_calls(team, NOVEMBER, 10, usd_per_tao=500, cost_usd=Decimal(5))
    bridge = _bridge(team).total
    assert (bridge.start, bridge.end) == (Decimal(40), Decimal(50))
    assert _effects(bridge) == _only("tao_rate", Decimal(10))


def test_a_tao_rate_move_on_usd_prices_is_offset_by_unit_price(team, catalog):
    # Catalog-priced in USD ($0.0003 a call): the same USD buys fewer TAO at $500 than at $400.
    _tao_calls(team, OCTOBER, 10, usd_per_tao=400)
    _tao_calls(team, NOVEMBER, 10, usd_per_tao=500)
    effects = _effects(_bridge(team).total)
    assert effects["tao_rate"] == Decimal("0.0006")
    assert effects["unit_price"] == Decimal("-0.0006")
    assert effects["volume"] == effects["mix"] == effects["intensity"] == 0


def test_combined_causes_are_each_recovered(team, catalog):
    ModelPrice.objects.create(
        model=Model.objects.get(name=SONNET["model"]),
        effective_from=NOVEMBER,
        input_per_mtok=Decimal(6),
        output_per_mtok=Decimal(30),
        source="test",
    )
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, OCTOBER, 10, hour=16, **MINI)
    _tao_calls(team, OCTOBER, 10, usd_per_tao=400, cost_usd=Decimal("0.004"))
    # More calls, moved to Mini, with twice its tokens; Sonnet's price doubled; TAO dearer.
    _calls(team, NOVEMBER, 10, **SONNET)
    _calls(team, NOVEMBER, 30, hour=16, tokens=(2000, 1000), **MINI)
    _tao_calls(team, NOVEMBER, 10, usd_per_tao=500, cost_usd=Decimal("0.005"))
    bridge = _bridge(team).total
    assert (bridge.start, bridge.end) == (Decimal("0.1575"), Decimal("0.335"))
    assert _effects(bridge) == {
        # 50 calls at October's $0.00525 a call, against 30.
        "volume": Decimal("0.105"),
        # 20 calls more on Mini and none on Sonnet or Llama, at October's cost per call.
        "mix": Decimal("-0.08"),
        "intensity": 30 * MINI_CALL,
        "unit_price": 10 * SONNET_CALL,
        "tao_rate": Decimal("0.01"),
    }


def test_new_and_vanished_models_are_volume_and_mix(team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 20, **MINI)
    bridge = _bridge(team).total
    effects = _effects(bridge)
    assert effects["volume"] == 10 * SONNET_CALL
    assert effects["mix"] == 20 * MINI_CALL - 20 * SONNET_CALL
    assert effects["intensity"] == effects["unit_price"] == effects["tao_rate"] == 0


def test_an_empty_previous_month_is_all_volume(team, catalog):
    _calls(team, NOVEMBER, 10, **SONNET)
    bridge = _bridge(team).total
    assert bridge.start == 0
    assert _effects(bridge) == _only("volume", 10 * SONNET_CALL)


def test_an_empty_month_is_all_volume_the_other_way(team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    assert _effects(_bridge(team).total) == _only("volume", -10 * SONNET_CALL)


def test_failed_calls_without_tokens_still_count_as_calls(team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 10, **SONNET)
    _calls(team, NOVEMBER, 10, hour=16, tokens=(0, 0), status="error", task_type="qa", **SONNET)
    effects = _effects(_bridge(team).total)
    # Twice the calls, half of them to a task type that cost nothing.
    assert (effects["volume"], effects["mix"]) == (10 * SONNET_CALL, -10 * SONNET_CALL)
    assert effects["intensity"] == effects["unit_price"] == effects["tao_rate"] == 0


# --- Per provider and per task type ---------------------------------------------------------


@pytest.fixture
def demo(team, catalog):
    demo_tao_prices(NOW - timedelta(days=75), NOW)
    demo_usage_seed(team, DemoProfile(40), days=70, now=NOW)
    return team


def test_each_provider_s_bridge_is_exact_and_matches_its_line(demo):
    report = month_report(demo, NOVEMBER, now=NOW)
    lines = {line.key: line for line in report.by_provider}
    assert {line.key for line in report.bridge.by_provider} == set(lines)
    assert {"anthropic", "chutes"} <= set(lines)
    for line in report.bridge.by_provider:
        bridge = line.bridge
        assert (bridge.start, bridge.end) == (
            lines[line.key].previous.cost_usd,
            lines[line.key].figures.cost_usd,
        )
        assert sum((effect.amount for effect in bridge.effects), ZERO) == bridge.change
        assert bridge.residual == 0


def test_each_task_type_s_bridge_is_exact(demo):
    report = month_report(demo, NOVEMBER, now=NOW)
    assert len(report.bridge.by_task_type) == len(report.by_task_type) > 1
    for line in report.bridge.by_task_type:
        assert sum((e.amount for e in line.bridge.effects), ZERO) == line.bridge.change
        assert line.bridge.residual == 0


def test_the_overall_bridge_of_demo_data_runs_from_total_to_total(demo):
    report = month_report(demo, NOVEMBER, now=NOW)
    bridge = report.bridge.total
    assert bridge.start == report.totals.previous.cost_usd > 0
    assert bridge.end == report.totals.figures.cost_usd > 0
    assert sum((effect.amount for effect in bridge.effects), ZERO) == bridge.change


def test_a_provider_bridge_keeps_mix_within_the_provider(team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 10, **MINI)
    [anthropic] = [line for line in _bridge(team).by_provider if line.key == "anthropic"]
    # Within Anthropic, its calls all went: volume, not mix.
    assert _effects(anthropic.bridge) == _only("volume", -10 * SONNET_CALL)


# --- The chart ------------------------------------------------------------------------------


def test_the_waterfall_starts_at_last_month_and_totals_this_month(team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 20, **SONNET)
    figure = bridge_figure(_bridge(team).total, before="October 2026", after="November 2026")
    [trace] = figure["data"]
    assert trace["type"] == "waterfall"
    assert trace["measure"] == ["absolute", *["relative"] * 5, "total"]
    assert trace["x"][0] == "October 2026" and trace["x"][-1] == "November 2026"
    assert trace["y"][0] == 0.105 and trace["y"][1] == 0.105
    assert trace["customdata"][-1] == "0.21"
    assert trace["text"][1] == "+$0.11"


def test_the_waterfall_escapes_its_labels(team, catalog):
    _calls(team, NOVEMBER, 1, **SONNET)
    figure = bridge_figure(_bridge(team).total, before="<b>Oct</b>", after="Nov & co")
    assert figure["data"][0]["x"][0] == "&lt;b&gt;Oct&lt;/b&gt;"
    assert figure["data"][0]["x"][-1] == "Nov &amp; co"


# --- The page -------------------------------------------------------------------------------


def _page(client, team, month="2026-11"):
    return client.get(reverse("report", kwargs={"team": team.slug, "month": month}))


def test_the_report_page_shows_the_waterfall_card(client, viewer_user, team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 20, **SONNET)
    client.force_login(viewer_user)
    response = _page(client, team)
    content = response.content.decode()
    card = content.split('data-testid="report-bridge"')[1].split("</section>")[0]
    assert 'data-testid="bridge-chart"' in card
    assert 'data-step="volume"><td>Volume</td><td class="num" data-exact="0.105">+$0.11' in card
    assert json.loads(response.context["bridge_figure_json"])["data"][0]["type"] == "waterfall"
    assert "/static/vendor/plotly.min.js" in content


def test_the_report_page_explains_the_tao_rate_effect(client, viewer_user, team, catalog):
    _calls(team, NOVEMBER, 1, **SONNET)
    client.force_login(viewer_user)
    content = _page(client, team).content.decode()
    assert "the change in USD per TAO applied to the TAO used" in content
    assert "an equal and opposite unit-price effect" in content


def test_the_page_lists_the_bridge_per_provider_and_task_type(client, viewer_user, team, catalog):
    _calls(team, OCTOBER, 10, task_type="<b>qa</b>", **SONNET)
    _calls(team, NOVEMBER, 10, hour=16, **MINI)
    client.force_login(viewer_user)
    content = _page(client, team).content.decode()
    by_provider = content.split('data-testid="bridge-by-provider"')[1].split("</details>")[0]
    assert 'data-key="anthropic"' in by_provider and 'data-key="openai"' in by_provider
    by_task = content.split('data-testid="bridge-by-task-type"')[1].split("</details>")[0]
    assert "&lt;b&gt;qa&lt;/b&gt;" in by_task
    assert "<b>qa</b>" not in content


def test_the_print_view_prints_the_bridge_tables_and_not_the_chart(
    client, viewer_user, team, catalog
):
    _calls(team, NOVEMBER, 1, **SONNET)
    client.force_login(viewer_user)
    content = _page(client, team).content.decode()
    assert 'class="chart bridge-chart no-print"' in content
    assert '<details class="bridge-lines" data-print-open' in content
    css = (settings.BASE_DIR / "static" / "css" / "print.css").read_text()
    assert ".report-bridge details::details-content" in css


# --- A closed month -------------------------------------------------------------------------


def test_a_closed_month_s_snapshot_keeps_the_bridge(team, finance_user, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 20, **MINI)
    report = month_report(team, NOVEMBER, now=NOW)
    close = month_close(team=team, month=NOVEMBER, user=finance_user, report=report.to_snapshot())
    close.refresh_from_db()
    assert MonthReport.from_snapshot(close.snapshot["report"]).bridge == report.bridge


def test_a_closed_month_shows_its_frozen_bridge(client, finance_user, team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 20, **SONNET)
    client.force_login(finance_user)
    client.post(reverse("report_close", kwargs={"team": team.slug, "month": "2026-11"}))
    _calls(team, NOVEMBER, 5, hour=18, **SONNET)
    bridge = _page(client, team).context["report"].bridge.total
    assert _effects(bridge) == _only("volume", 10 * SONNET_CALL)


def test_a_snapshot_from_before_the_bridge_reads_as_none(team, catalog):
    _calls(team, NOVEMBER, 1, **SONNET)
    data = json.loads(json.dumps(month_report(team, NOVEMBER, now=NOW).to_snapshot()))
    del data["bridge"]
    assert MonthReport.from_snapshot(data).bridge is None


def test_a_month_closed_before_the_bridge_shows_no_bridge_card(client, finance_user, team, catalog):
    _calls(team, NOVEMBER, 1, **SONNET)
    snapshot = month_report(team, NOVEMBER, now=NOW).to_snapshot()
    del snapshot["bridge"]
    month_close(team=team, month=NOVEMBER, user=finance_user, report=snapshot)
    client.force_login(finance_user)
    response = _page(client, team)
    assert response.status_code == 200
    assert b'data-testid="report-bridge"' not in response.content
    assert b"plotly.min.js" not in response.content


# --- The CSV --------------------------------------------------------------------------------


def _bridge_csv(client, team, query="") -> list[dict]:
    url = reverse("report_bridge_csv", kwargs={"team": team.slug, "month": "2026-11"}) + query
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="{team.slug}-2026-11.bridge.csv"'
    )
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_holds_each_bridge_from_start_to_end(client, viewer_user, team, catalog):
    _calls(team, OCTOBER, 10, **SONNET)
    _calls(team, NOVEMBER, 20, **SONNET)
    client.force_login(viewer_user)
    rows = _bridge_csv(client, team)
    assert list(rows[0]) == BRIDGE_COLUMNS
    total = [row for row in rows if row["scope"] == "total"]
    assert [row["step"] for row in total] == ["start", *EFFECTS, "residual", "end"]
    assert [row["usd"] for row in total] == ["0.105", "0.105", "0", "0", "0", "0", "0", "0.21"]
    assert {(row["scope"], row["group"]) for row in rows} == {
        ("total", "all"),
        ("provider", "anthropic"),
        ("task_type", "summarization"),
    }


def test_the_csv_protects_names_from_running_as_formulas(client, viewer_user, team, catalog):
    _calls(team, NOVEMBER, 2, provider="=cmd", model="m", task_type="=cmd", cost_usd=Decimal(1))
    client.force_login(viewer_user)
    rows = _bridge_csv(client, team)
    assert {row["group"] for row in rows if row["scope"] != "total"} == {"'=cmd"}
    end = [row["usd"] for row in rows if row["step"] == "end"]
    assert end == ["2", "2", "2"]


def test_the_csv_of_a_closed_month_is_its_frozen_bridge(client, finance_user, team, catalog):
    _calls(team, NOVEMBER, 2, **SONNET)
    client.force_login(finance_user)
    client.post(reverse("report_close", kwargs={"team": team.slug, "month": "2026-11"}))
    _calls(team, NOVEMBER, 3, hour=18, **SONNET)
    rows = _bridge_csv(client, team)
    assert [row["usd"] for row in rows if row["scope"] == "total"][-1] == "0.021"


def test_the_csv_is_hidden_from_outsiders(client, outsider, team):
    client.force_login(outsider)
    url = reverse("report_bridge_csv", kwargs={"team": team.slug, "month": "2026-11"})
    assert client.get(url).status_code == 404
