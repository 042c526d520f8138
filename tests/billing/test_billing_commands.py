from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing.bench.ingest import TAO_SOURCE
from billing.ingest.store import usage_ingest
from billing.models import TaoPrice, UsageEvent, UsageRollup
from routing.models import Model
from tests.factories import ModelFactory, ModelPriceFactory, canonical_event


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_reprice_prices_calls_of_a_model_added_later(team, catalog):
    usage_ingest(team, [canonical_event(provider="chutes", model="Qwen/Qwen3-32B")])
    model = ModelFactory(
        provider=Model.objects.get(name="deepseek-ai/DeepSeek-V3").provider, name="Qwen/Qwen3-32B"
    )
    price = ModelPriceFactory(model=model, effective_from=date(2026, 1, 1))
    output = _run("reprice", "--since", "2026-11-01", "--team", "maven")
    event = UsageEvent.objects.get()
    assert (event.cost_source, event.price) == ("catalog", price)
    assert UsageRollup.objects.get().unpriced_requests == 0
    assert "repriced 1" in output


def test_reprice_leaves_calls_before_since_alone(team, catalog):
    usage_ingest(team, [canonical_event(timestamp="2026-10-20T10:00:00Z")])
    sonnet = Model.objects.get(name="claude-sonnet-4-5")
    ModelPriceFactory(model=sonnet, effective_from=date(2026, 10, 1), input_per_mtok=Decimal(1))
    _run("reprice", "--since", "2026-11-01")
    assert UsageEvent.objects.get().catalog_cost_usd == Decimal("0.045")


def test_reprice_refuses_a_bad_date(db):
    with pytest.raises(CommandError, match="is not a date"):
        _run("reprice", "--since", "last week")


def test_reprice_refuses_an_unknown_team(db):
    with pytest.raises(CommandError, match="No team has the slug 'nope'"):
        _run("reprice", "--since", "2026-11-01", "--team", "nope")


def test_rebuild_rollups_restores_deleted_rollups(team, catalog):
    usage_ingest(team, [canonical_event(id="a"), canonical_event(id="b")])
    before = list(UsageRollup.objects.values("hour", "requests", "cost_usd", "lat_17"))
    UsageRollup.objects.all().delete()
    output = _run("rebuild_rollups", "--team", "maven")
    assert list(UsageRollup.objects.values("hour", "requests", "cost_usd", "lat_17")) == before
    assert "Rebuilt 1 rollup rows" in output


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="bench_ingest measures PostgreSQL's COPY"
)
def test_bench_ingest_prints_every_figure(transactional_db):
    output = _run(
        "bench_ingest",
        *("--events", "300", "--batch", "100", "--litellm-batch", "50"),
        *("--import-events", "300", "--prefill", "0.0005", "--overview-runs", "2"),
    )
    for label in (
        "lean COPY limit",
        "same-table COPY limit",
        "HTTP canonical live, 1 sender",
        "HTTP canonical live, 2 senders",
        "HTTP canonical spread 30 days, 2 senders",
        "HTTP LiteLLM live, 2 senders",
        "HTTP LiteLLM spread 30 days, 2 senders",
        "HTTP canonical live, 2 senders, 500 events stored",
        "overview p95 (90 days)",
        "import_usage, 300 events over 1 days",
        "import_usage peak RSS",
        "worker peak RSS",
    ):
        assert label in output
    assert "skipped" not in output
    # Its TAO quotes (every 5 minutes, as the feed keeps them) are gone again.
    assert not TaoPrice.objects.filter(source=TAO_SOURCE).exists()


@pytest.mark.skipif(connection.vendor == "postgresql", reason="checks the SQLite refusal")
def test_bench_ingest_explains_it_needs_postgresql(db):
    with pytest.raises(CommandError, match="PostgreSQL"):
        _run("bench_ingest")
