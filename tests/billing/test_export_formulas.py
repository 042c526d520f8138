"""Names sent by the proxy's users never run as formulas when finance opens an export in a
spreadsheet; the amounts stay plain numbers that add up to the page."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.csv_output import cell_text, spreadsheet_safe
from billing.ingest.store import usage_ingest
from billing.models import MonthClose
from tests.factories import canonical_event

NOW = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
HYPERLINK = '=HYPERLINK("https://evil.example/x","click")'
DDE = "+cmd|' /C calc'!A0"
AT_SUM = "@SUM(1+1)"
MINUS = "-2+3"


pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def hostile(team, catalog):
    at = datetime(2026, 11, 10, 15, tzinfo=UTC).isoformat()
    events = [
        canonical_event(
            id="a", timestamp=at, model=HYPERLINK, task_type=DDE, cost_usd=Decimal("1.25")
        ),
        canonical_event(
            id="b", timestamp=at, model=MINUS, task_type=AT_SUM, cost_usd=Decimal("0.5")
        ),
        canonical_event(id="c", timestamp=at, provider=AT_SUM, model="ok", cost_usd=Decimal(2)),
    ]
    assert usage_ingest(team, events, now=NOW).rejected == []


def _download(client, team, name="report_csv") -> list[dict]:
    url = reverse(name, kwargs={"team": team.slug, "month": "2026-11"})
    body = b"".join(client.get(url).streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _report_total(client, team) -> Decimal:
    url = reverse("report", kwargs={"team": team.slug, "month": "2026-11"})
    return client.get(url).context["report"].totals.figures.cost_usd


def test_it_neutralises_formula_names_in_the_monthly_csv(client, viewer_user, team, hostile):
    client.force_login(viewer_user)
    rows = _download(client, team)
    assert {r["model"] for r in rows} == {"'" + HYPERLINK, "'" + MINUS, "ok"}
    assert {r["task_type"] for r in rows} == {"'" + DDE, "'" + AT_SUM, "summarization"}
    assert "'" + AT_SUM.lower() in {r["provider"] for r in rows}
    # The amounts stay plain numbers, adding up to the page.
    assert sorted(r["cost_usd"] for r in rows) == ["0.5", "1.25", "2"]
    assert sum(Decimal(r["cost_usd"]) for r in rows) == _report_total(client, team)


def test_it_neutralises_formula_names_in_the_focus_csv(client, viewer_user, team, hostile):
    client.force_login(viewer_user)
    rows = _download(client, team, "report_focus_csv")
    assert {r["ResourceId"] for r in rows} == {"'" + HYPERLINK, "'" + MINUS, "ok"}
    assert "'" + AT_SUM.lower() in {r["ProviderName"] for r in rows}
    assert "'" + AT_SUM.lower() + "/ok" in {r["SkuId"] for r in rows}
    # The names are inside a sentence that starts with a word, so never with a formula.
    assert all(r["ChargeDescription"][:1].isalpha() for r in rows)
    assert any(HYPERLINK in r["ChargeDescription"] for r in rows)
    assert sum(Decimal(r["BilledCost"]) for r in rows) == _report_total(client, team)


def test_it_neutralises_a_closed_months_frozen_rows(client, finance_user, team, hostile):
    client.force_login(finance_user)
    client.post(reverse("report_close", kwargs={"team": team.slug, "month": "2026-11"}))
    assert MonthClose.objects.filter(team=team).exists()
    rows = _download(client, team)
    assert {r["model"] for r in rows} == {"'" + HYPERLINK, "'" + MINUS, "ok"}
    assert sum(Decimal(r["cost_usd"]) for r in rows) == _report_total(client, team)


def test_it_neutralises_a_month_frozen_before_cells_were_made_safe(
    client, finance_user, team, hostile
):
    client.force_login(finance_user)
    client.post(reverse("report_close", kwargs={"team": team.slug, "month": "2026-11"}))
    close = MonthClose.objects.get(team=team)
    # As months closed before the fix stored them: every cell text, formulas as sent.
    header, *rows = close.snapshot["exports"]["focus"]
    cost = header.index("BilledCost")
    close.snapshot["exports"]["focus"] = [
        header,
        *([*row[:cost], "-2.50", *row[cost + 1 :]] for row in rows),
    ]
    close.save()
    focus = _download(client, team, "report_focus_csv")
    assert {r["ResourceId"] for r in focus} == {"'" + HYPERLINK, "'" + MINUS, "ok"}
    # A negative amount is a number, not a formula.
    assert {r["BilledCost"] for r in focus} == {"-2.50"}


def test_only_text_that_could_start_a_formula_is_marked_as_text():
    assert [spreadsheet_safe(t) for t in ["=1", "+1", "-1", "@a", "\t=1", "\r=1", " =1"]] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "'\t=1",
        "'\r=1",
        "' =1",
    ]
    assert spreadsheet_safe("claude-sonnet-4-5") == "claude-sonnet-4-5"
    assert [cell_text(v) for v in [Decimal("-2.50"), -3, -1.5, None]] == ["-2.50", "-3", "-1.5", ""]
