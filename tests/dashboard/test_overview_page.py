import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from billing.catalog import catalog_load
from billing.histogram import bucket_middle, bucket_of
from billing.ingest.store import usage_ingest
from dashboard.charts import PROVIDER_COLOURS
from dashboard.models import Role
from dashboard.overview_charts.registry import CHARTS
from routing.models import Model
from tests.factories import (
    BudgetFactory,
    MembershipFactory,
    TaoPriceFactory,
    TeamFactory,
    canonical_event,
)

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
ROLES = ["admin", "ops", "finance", "viewer"]
LLAMA = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}


pytestmark = pytest.mark.usefixtures("frozen_now")


def _usage(team, count=3, **overrides):
    catalog_load()
    events = [
        canonical_event(id=f"e{n}", timestamp=(NOW - timedelta(days=n)).isoformat(), **overrides)
        for n in range(count)
    ]
    usage_ingest(team, events, now=NOW)


def _mixed_usage(team):
    """Sonnet on three days; Llama on the 10th: three calls at 400 ms and one failed."""
    for hours in range(0, 48, 2):
        TaoPriceFactory(at=NOW - timedelta(hours=hours), usd=400 - hours)
    _usage(team)
    llama = [
        canonical_event(
            id=f"l{n}",
            timestamp=NOW.isoformat(),
            latency_ms=400,
            ttft_ms=120,
            quality_score=0.5,
            **LLAMA,
        )
        for n in range(3)
    ]
    failed = canonical_event(id="lx", timestamp=NOW.isoformat(), status="error", **LLAMA)
    usage_ingest(team, [*llama, failed], now=NOW)


def _page(client, user, team, query="", **headers):
    client.force_login(user)
    return client.get(reverse("overview", kwargs={"team": team.slug}) + query, headers=headers)


def _csv(client, team, chart, query=""):
    url = reverse("overview_csv", kwargs={"team": team.slug, "chart": chart}) + query
    return list(csv.reader(io.StringIO(client.get(url).content.decode())))


def _figures(page: str) -> dict[str, dict]:
    figures = {}
    for part in page.split('data-chart="')[1:]:
        slug = part.split('"', 1)[0]
        if 'data-plotly="' in part.split("</section>", 1)[0]:
            attribute = part.split('data-plotly="', 1)[1].split('"', 1)[0]
            figures[slug] = json.loads(unescape(attribute))
    return figures


def _drawn(figure: dict) -> list[tuple]:
    return sorted(
        (x, trace["name"], Decimal(str(y)))
        for trace in figure["data"]
        for x, y in zip(trace["x"], trace["y"], strict=True)
    )


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_the_page_and_every_csv_to_every_role(client, users_by_role, team, role):
    assert _page(client, users_by_role[role], team).status_code == 200
    for chart in CHARTS:
        url = reverse("overview_csv", kwargs={"team": team.slug, "chart": chart})
        assert client.get(url).status_code == 200


def test_it_hides_the_page_and_csvs_from_outsiders(client, outsider, team):
    assert _page(client, outsider, team).status_code == 404
    for chart in CHARTS:
        url = reverse("overview_csv", kwargs={"team": team.slug, "chart": chart})
        assert client.get(url).status_code == 404


def test_it_answers_404_for_a_chart_it_does_not_have(client, viewer_user, team):
    client.force_login(viewer_user)
    url = reverse("overview_csv", kwargs={"team": team.slug, "chart": "nonsense"})
    assert client.get(url).status_code == 404


def test_it_keeps_the_no_usage_guidance_without_rollups(client, viewer_user, team):
    page = _page(client, viewer_user, team).content.decode()
    assert "No usage yet" in page
    assert "data-plotly" not in page
    assert "—" in page


def test_it_draws_every_chart_for_mixed_usage(client, viewer_user, team):
    _mixed_usage(team)
    team.baseline_model = Model.objects.get(name="claude-sonnet-4-5")
    team.save()
    BudgetFactory(team=team, amount_usd=1, amount_tao=Decimal("0.001"))
    figures = _figures(_page(client, viewer_user, team).content.decode())
    assert set(figures) == set(CHARTS)


def test_it_draws_exactly_the_daily_cost_csv_rows(client, viewer_user, team):
    _mixed_usage(team)
    figure = _figures(_page(client, viewer_user, team).content.decode())["daily-cost"]
    rows = _csv(client, team, "daily-cost")
    assert rows[0] == ["day", "provider", "cost_usd"]
    assert _drawn(figure) == sorted((d, p, Decimal(usd)) for d, p, usd in rows[1:])
    assert len(rows) == 5


def test_it_stacks_cost_by_provider_in_provider_colours(client, viewer_user, team):
    _usage(team, count=1)
    figure = _figures(_page(client, viewer_user, team).content.decode())["daily-cost"]
    assert figure["layout"]["barmode"] == "stack"
    assert figure["layout"]["yaxis"]["title"]["text"] == "Cost (USD)"
    assert figure["data"][0]["marker"]["color"] == PROVIDER_COLOURS["anthropic"]
    assert "$%{y" in figure["data"][0]["hovertemplate"]


def test_it_stacks_cost_by_model_when_asked(client, viewer_user, team):
    client.force_login(viewer_user)
    _mixed_usage(team)
    rows = _csv(client, team, "daily-cost", "?by=model")
    assert rows[0] == ["day", "model", "cost_usd"]
    assert {row[1] for row in rows[1:]} == {
        "anthropic/claude-sonnet-4-5",
        "chutes/unsloth/Llama-3.3-70B-Instruct",
    }


def test_it_draws_exactly_the_latency_csv_rows(client, viewer_user, team):
    _mixed_usage(team)
    figure = _figures(_page(client, viewer_user, team).content.decode())["latency"]
    rows = _csv(client, team, "latency")
    assert rows[0] == [
        "day",
        "provider",
        "timed_requests",
        "p50_bucket_middle_ms",
        "p95_bucket_middle_ms",
        "p99_bucket_middle_ms",
    ]
    p95 = [t for t in figure["data"] if t["name"].endswith(" p95")]
    drawn = sorted(
        (x, t["name"].removesuffix(" p95"), y)
        for t in p95
        for x, y in zip(t["x"], t["y"], strict=True)
    )
    # Drawn in seconds: the slowest is over a second.
    assert drawn == sorted((d, p, float(ms) / 1000) for d, p, _, _, ms, _ in rows[1:])
    # Llama on the 10th: three calls at 400 ms and one at 1800 ms; p95 lands on the slow one.
    slow = str(round(bucket_middle(bucket_of(1800)), 1))
    assert [
        "2026-11-10",
        "chutes",
        "4",
        str(round(bucket_middle(bucket_of(400)), 1)),
        slow,
        slow,
    ] in rows


def test_it_draws_latency_per_model_when_split_by_model(client, viewer_user, team):
    _mixed_usage(team)
    client.force_login(viewer_user)
    rows = _csv(client, team, "latency", "?by=model&provider=chutes")
    assert rows[0][1] == "model"
    assert {row[1] for row in rows[1:]} == {"chutes/unsloth/Llama-3.3-70B-Instruct"}


def test_it_draws_exactly_the_error_rate_csv_rows(client, viewer_user, team):
    _mixed_usage(team)
    figure = _figures(_page(client, viewer_user, team).content.decode())["errors"]
    rows = _csv(client, team, "errors")
    assert rows[0] == ["day", "provider", "requests", "errors", "error_rate_pct"]
    assert _drawn(figure) == sorted((d, p, Decimal(pct)) for d, p, _, _, pct in rows[1:])
    assert ["2026-11-10", "chutes", "4", "1", "25.00"] in rows


def test_it_draws_the_quality_matrix_with_sample_counts(client, viewer_user, team):
    _mixed_usage(team)
    figure = _figures(_page(client, viewer_user, team).content.decode())["quality"]
    rows = _csv(client, team, "quality")
    assert rows[1:] == [["summarization", "chutes", "3", "0.5000", "False"]]
    assert figure["data"][0]["text"] == [["0.50<br>n=3 · few"]]


def test_it_prices_each_route_per_success_and_per_quality_point(client, viewer_user, team):
    client.force_login(viewer_user)
    _mixed_usage(team)
    rows = {(r[1], r[2]): r for r in _csv(client, team, "routes")[1:]}
    llama = rows[("chutes", "unsloth/Llama-3.3-70B-Instruct")]
    requests, successes, cost, per_success, _, per_point = llama[3:]
    assert (requests, successes) == ("4", "3")
    assert Decimal(per_success) == (Decimal(cost) / 3).quantize(Decimal("0.000001"))
    assert Decimal(per_point) == (Decimal(cost) / 3 / Decimal("0.5")).quantize(Decimal("0.000001"))


def test_it_draws_the_target_share_band(client, viewer_user, team):
    _mixed_usage(team)
    team.target_share_min, team.target_share_max = 60, 70
    team.save()
    page = _page(client, viewer_user, team).content.decode()
    shapes = _figures(page)["share"]["layout"]["shapes"]
    assert (shapes[0]["y0"], shapes[0]["y1"]) == (60, 70)
    assert "target 60-70% of requests to chutes" in page


def test_it_shows_budget_use_and_the_forecast_crossing(client, viewer_user, team):
    _usage(team, count=3)
    BudgetFactory(team=team, amount_usd=Decimal("0.20"))
    page = _page(client, viewer_user, team).content.decode()
    # Three Sonnet calls at $0.045 in November so far: $0.135 of $0.20.
    assert "67.5%" in page
    assert "crosses the budget Nov 15" in page
    shapes = _figures(page)["month-spend"]["layout"]["shapes"]
    assert shapes[0]["y0"] == 0.2


def test_it_draws_the_forecast_dashed_to_month_end(client, viewer_user, team):
    _usage(team, count=3)
    figure = _figures(_page(client, viewer_user, team).content.decode())["month-spend"]
    forecast = next(t for t in figure["data"] if t["name"].startswith("Forecast"))
    assert forecast["line"]["dash"] == "dash"
    assert forecast["x"][-1] == "2026-11-30"
    assert forecast["y"][-1] == pytest.approx(0.135 * 30 / 10)


def test_it_marks_tao_spikes_in_the_price_chart(client, viewer_user, team):
    client.force_login(viewer_user)
    _usage(team, count=1)
    TaoPriceFactory(at=NOW - timedelta(hours=3), usd=400)
    TaoPriceFactory(at=NOW - timedelta(hours=2), usd=460)
    rows = _csv(client, team, "tao-price", "?range=7d")
    assert [r[2] for r in rows[1:]] == ["", "15.00"]


def test_it_values_the_month_s_tao_at_today_s_price(client, viewer_user, team):
    catalog_load()
    TaoPriceFactory(at=NOW - timedelta(days=1, minutes=30), usd=500)
    TaoPriceFactory(at=NOW - timedelta(hours=1), usd=250)
    event = canonical_event(id="c", timestamp=(NOW - timedelta(days=1)).isoformat(), **LLAMA)
    usage_ingest(team, [event], now=NOW)
    client.force_login(viewer_user)
    last = _csv(client, team, "tao-value")[-1]
    _, tao, when_used, at_today = last
    assert Decimal(at_today) == (Decimal(tao) * 250).quantize(Decimal("0.000001"))
    assert Decimal(when_used) == (Decimal(tao) * 500).quantize(Decimal("0.000001"))


def test_it_narrows_every_chart_to_a_provider(client, viewer_user, team):
    _mixed_usage(team)
    page = _page(client, viewer_user, team, "?provider=chutes").content.decode()
    assert '<option value="chutes" selected>' in page
    rows = _csv(client, team, "daily-cost", "?provider=chutes")
    assert {row[1] for row in rows[1:]} == {"chutes"}


def test_it_shows_last_month(client, viewer_user, team):
    client.force_login(viewer_user)
    _usage(team, count=15)
    rows = _csv(client, team, "daily-cost", "?range=last-month")
    days = {date.fromisoformat(row[0]) for row in rows[1:]}
    assert min(days) >= date(2026, 10, 1) and max(days) == date(2026, 10, 31)


def test_it_shows_a_custom_range(client, viewer_user, team):
    client.force_login(viewer_user)
    _usage(team, count=15)
    rows = _csv(client, team, "daily-cost", "?range=custom&start=2026-11-02&end=2026-11-04")
    assert [row[0] for row in rows[1:]] == ["2026-11-02", "2026-11-03", "2026-11-04"]


def test_it_explains_a_backwards_custom_range_and_shows_thirty_days(client, viewer_user, team):
    _usage(team, count=1)
    page = _page(client, viewer_user, team, "?range=custom&start=2026-11-09&end=2026-11-01")
    text = page.content.decode()
    assert "The start day must not be after the end day." in text
    assert "Oct 12, 2026 \N{EN DASH} Nov 10, 2026" in text
    # What was typed stays in the form.
    assert 'value="2026-11-09"' in text


def test_it_answers_an_htmx_filter_change_with_the_body_alone(client, viewer_user, team):
    _usage(team, count=2)
    response = _page(client, viewer_user, team, "?range=7d", HX_Request="true")
    text = response.content.decode()
    assert "<html" not in text
    assert 'data-chart="daily-cost"' in text
    assert "HX-Request" in response["Vary"]
    assert "?range=7d" in text  # the CSV links carry the filters


def test_it_shows_an_empty_chart_when_the_range_has_no_usage(client, viewer_user, team):
    catalog_load()
    old = canonical_event(id="old", timestamp=(NOW - timedelta(days=40)).isoformat())
    usage_ingest(team, [old], now=NOW)
    page = _page(client, viewer_user, team, "?range=7d").content.decode()
    assert "No usage in this range" in page
    assert "No usage yet" not in page
    assert _csv(client, team, "daily-cost", "?range=7d") == [["day", "provider", "cost_usd"]]


def test_it_shows_the_kpis_with_units(client, viewer_user, team):
    _usage(team, count=2)
    page = _page(client, viewer_user, team).content.decode()
    # Two Sonnet calls of 5000/2000 tokens: $0.045 each.
    assert "$0.09" in page
    assert "≈1.5 s</dd>" in page
    assert "0.00%" in page
    assert "no budget set" in page


def test_it_reads_a_fixed_number_of_queries_whatever_the_usage(
    client, viewer_user, team, django_assert_num_queries
):
    _mixed_usage(team)
    team.baseline_model = Model.objects.get(name="claude-sonnet-4-5")
    team.save()
    client.force_login(viewer_user)
    url = reverse("overview", kwargs={"team": team.slug})
    client.get(url)
    # Session, user, membership; the overview's own: cube, histograms, budget, baseline price,
    # TAO series, latest TAO and its day-ago, the changes marked on the charts (publishes, list
    # and team prices, month closes); member count, the switcher's teams; the session
    # remembering the team (a save in a savepoint). The month's bridge loads on its own.
    with django_assert_num_queries(19):
        client.get(url)
    _usage(team, count=60)
    with django_assert_num_queries(19):
        client.get(url)
    with django_assert_num_queries(17):
        client.get(reverse("overview_csv", kwargs={"team": team.slug, "chart": "daily-cost"}))


def test_it_lists_every_team_s_month_for_people_in_several_teams(client, viewer_user, team):
    other = TeamFactory(slug="pantheon", name="Pantheon")
    MembershipFactory(team=other, user=viewer_user, role=Role.FINANCE)
    BudgetFactory(team=other, amount_usd=500)
    _usage(team, count=2)
    client.force_login(viewer_user)
    page = client.get(reverse("home")).content.decode()
    assert "This month across your teams" in page
    assert "$0.09" in page
    assert "$500" in page


def test_it_leaves_the_summary_out_for_people_in_one_team(client, viewer_user, team):
    client.force_login(viewer_user)
    assert "This month across your teams" not in client.get(reverse("home")).content.decode()


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_day_out_of_the_calendar_answers_400_with_a_sentence(client, viewer_user, team, day):
    client.force_login(viewer_user)
    url = reverse("overview", kwargs={"team": team.slug})
    response = client.get(url, {"range": "custom", "start": day, "end": day})
    assert response.status_code == 400
    assert "Pick a day from 2000-01-01 to 2999-12-31." in response.content.decode()
    assert f'value="{day}"' in response.content.decode()


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_chart_csv_refuses_a_day_out_of_the_calendar(client, viewer_user, team, day):
    client.force_login(viewer_user)
    url = reverse("overview_csv", kwargs={"team": team.slug, "chart": "daily-cost"})
    response = client.get(url, {"range": "custom", "start": day, "end": day})
    assert response.status_code == 400
    assert response.content.decode() == "Pick a day from 2000-01-01 to 2999-12-31."
