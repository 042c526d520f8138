import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.ingest.events import event_from_json
from billing.ingest.payload import loads
from billing.ingest.store import usage_ingest
from billing.models import UsageEvent, UsageRollup
from billing.partitions import months_between, usage_partitions_ensure
from routing.models import Model
from tests.factories import ModelPriceFactory, TaoPriceFactory, canonical_event


def _ingest(team, *events):
    return usage_ingest(team, list(events))


def test_it_stores_a_canonical_event_priced_from_the_catalog(team, catalog):
    result = _ingest(team, canonical_event())
    event = UsageEvent.objects.get(team=team, event_id="evt-1")
    assert result.accepted == 1
    # Claude Sonnet 4.5: 5,000 in at $3/M + 2,000 out at $15/M.
    assert event.catalog_cost_usd == Decimal("0.045")
    assert (event.cost_usd, event.cost_source) == (Decimal("0.045"), "catalog")
    assert event.price.model.name == "claude-sonnet-4-5"


def test_it_prices_cached_and_cache_write_tokens_at_their_own_rates(team, db):
    price = ModelPriceFactory(
        model__provider__slug="anthropic",
        model__name="claude-opus-4-5",
        input_per_mtok=Decimal("5"),
        output_per_mtok=Decimal("25"),
        cached_input_per_mtok=Decimal("0.5"),
        cache_write_per_mtok=Decimal("6.25"),
    )
    _ingest(
        team,
        canonical_event(
            model="claude-opus-4-5",
            input_tokens=5025,
            cached_input_tokens=2512,
            cache_write_tokens=300,
            output_tokens=458,
        ),
    )
    event = UsageEvent.objects.get(event_id="evt-1")
    expected = (
        2213 * Decimal(5) + 2512 * Decimal("0.5") + 300 * Decimal("6.25") + 458 * 25
    ) / 10**6
    assert event.catalog_cost_usd == expected
    assert event.price == price


def test_it_charges_cache_tokens_as_input_when_the_price_has_no_cache_rates(team, catalog):
    # DeepSeek's seeded price has no cache rates; 1,000 tokens at $0.28 per million.
    direct = {"provider": "deepseek", "model": "deepseek-chat"}
    _ingest(
        team,
        canonical_event(input_tokens=1000, cached_input_tokens=600, output_tokens=0, **direct),
    )
    assert UsageEvent.objects.get().catalog_cost_usd == Decimal("0.00028")


def test_it_charges_seeded_anthropic_cache_reads_at_a_tenth_of_input(team, catalog):
    _ingest(team, canonical_event(input_tokens=1000, cached_input_tokens=600, output_tokens=0))
    # 400 uncached at $3 and 600 cache reads at $0.30 per million.
    assert UsageEvent.objects.get().catalog_cost_usd == Decimal("0.00138")


def test_it_uses_the_price_in_force_on_the_day_of_the_event(team, catalog):
    sonnet = Model.objects.get(name="claude-sonnet-4-5")
    ModelPriceFactory(model=sonnet, effective_from=date(2026, 11, 21), input_per_mtok=Decimal(1))
    _ingest(
        team,
        canonical_event(id="before", timestamp="2026-11-20T23:59:59Z", output_tokens=0),
        canonical_event(id="after", timestamp="2026-11-21T00:00:00Z", output_tokens=0),
    )
    costs = dict(UsageEvent.objects.values_list("event_id", "catalog_cost_usd"))
    assert costs == {"before": Decimal("0.015"), "after": Decimal("0.005")}


def test_it_keeps_a_reported_cost_and_computes_the_catalog_one_beside_it(team, catalog):
    _ingest(team, canonical_event(cost_usd=0.0451))
    event = UsageEvent.objects.get()
    assert (event.reported_cost_usd, event.catalog_cost_usd) == (
        Decimal("0.0451"),
        Decimal("0.045"),
    )
    assert (event.cost_usd, event.cost_source, event.cost_disagreement) == (
        Decimal("0.0451"),
        "reported",
        False,
    )


def test_it_flags_a_reported_cost_more_than_5_percent_off(team, catalog):
    _ingest(team, canonical_event(cost_usd=0.05))
    assert UsageEvent.objects.get().cost_disagreement is True


def test_it_never_prices_an_unknown_model_at_zero(team, catalog):
    _ingest(team, canonical_event(provider="chutes", model="someone/Unknown-Model-7B"))
    event = UsageEvent.objects.get()
    assert (event.cost_usd, event.catalog_cost_usd, event.cost_source) == (None, None, "unpriced")
    rollup = UsageRollup.objects.get()
    assert (rollup.unpriced_requests, rollup.unpriced_tokens) == (1, 7000)


def test_it_resolves_a_dated_model_name_to_the_catalog_model(team, catalog):
    _ingest(team, canonical_event(model="claude-sonnet-4-5-20250929"))
    event = UsageEvent.objects.get()
    assert event.model.name == "claude-sonnet-4-5"
    assert event.metadata["reported_model"] == "claude-sonnet-4-5-20250929"


def test_it_converts_chutes_costs_to_tao_at_the_price_of_the_time(team, catalog):
    TaoPriceFactory(at=datetime(2026, 11, 20, 10, 0, tzinfo=UTC), usd=Decimal(400))
    _ingest(team, canonical_event(provider="chutes", model="deepseek-ai/DeepSeek-V3"))
    event = UsageEvent.objects.get()
    # 5,000 in at $0.35/M + 2,000 out at $1.50/M = $0.00475; at $400 a TAO.
    assert event.cost_usd == Decimal("0.00475")
    assert (event.tao_price_usd, event.tao_amount) == (Decimal(400), Decimal("0.000011875000"))
    assert event.tao_missing is False


def test_a_batch_spanning_days_converts_each_chutes_call_at_the_price_of_its_time(team, catalog):
    first, second = datetime(2026, 11, 18, 10, tzinfo=UTC), datetime(2026, 11, 20, 10, tzinfo=UTC)
    TaoPriceFactory(at=first, usd=Decimal(400))
    TaoPriceFactory(at=second, usd=Decimal(500))
    chutes = {"provider": "chutes", "model": "deepseek-ai/DeepSeek-V3"}
    _ingest(
        team,
        canonical_event(id="early", timestamp=(first + timedelta(minutes=5)).isoformat(), **chutes),
        canonical_event(id="late", timestamp=(second + timedelta(minutes=5)).isoformat(), **chutes),
        canonical_event(id="usd", timestamp=second.isoformat()),
    )
    events = {event.event_id: event for event in UsageEvent.objects.all()}
    assert (events["early"].tao_price_usd, events["late"].tao_price_usd) == (400, 500)
    assert events["usd"].tao_price_usd is None


def test_it_leaves_tao_empty_and_flags_it_when_the_tao_price_is_stale(team, catalog):
    TaoPriceFactory(at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC), usd=Decimal(400))
    _ingest(team, canonical_event(provider="chutes", model="deepseek-ai/DeepSeek-V3"))
    event = UsageEvent.objects.get()
    assert (event.tao_amount, event.tao_missing) == (None, True)


def test_it_does_not_convert_usd_billed_providers_to_tao(team, catalog):
    _ingest(team, canonical_event())
    event = UsageEvent.objects.get()
    assert (event.tao_amount, event.tao_missing) == (None, False)


def test_it_counts_a_duplicate_inside_one_batch_once(team, catalog):
    result = _ingest(team, canonical_event(), canonical_event(output_tokens=1))
    assert (result.accepted, result.duplicates) == (1, 1)
    assert UsageEvent.objects.get().output_tokens == 2000


def test_it_changes_nothing_when_a_batch_is_sent_again(team, catalog):
    _ingest(team, canonical_event(id="a"), canonical_event(id="b"))
    before = list(UsageRollup.objects.values())
    result = _ingest(team, canonical_event(id="a"), canonical_event(id="b"))
    assert (result.accepted, result.duplicates) == (0, 2)
    assert list(UsageRollup.objects.values()) == before


def test_two_batches_in_one_transaction_each_roll_up_their_own_events(team, catalog):
    # The test runs in one transaction, as import_usage or a caller's atomic block may: the
    # first batch's rows must not be summed again with the second's.
    _ingest(team, canonical_event(id="a"))
    _ingest(team, canonical_event(id="b"))
    assert UsageRollup.objects.get().requests == 2
    assert UsageEvent.objects.count() == 2


def test_the_same_id_in_two_teams_is_two_events(team, other_team, catalog):
    _ingest(team, canonical_event())
    assert _ingest(other_team, canonical_event()).accepted == 1


def test_it_stores_the_valid_events_of_a_batch_with_rejected_ones(team, catalog):
    result = _ingest(team, canonical_event(id="good"), canonical_event(id="bad", input_tokens=-5))
    assert result.accepted == 1
    assert result.rejected == [
        {
            "index": 1,
            "id": "bad",
            "errors": {"input_tokens": "must be between 0 and 1,000,000,000,000"},
        }
    ]
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["good"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id", None, "is required"),
        ("id", 42, "must be a string"),
        ("model", "", "is required"),
        ("timestamp", "2026-11-20T10:00:00", "must include a UTC offset"),
        ("timestamp", 1795573886000, "looks like epoch milliseconds"),
        ("timestamp", 1795573886000.5, "looks like epoch milliseconds"),
        ("timestamp", -5.0, "must be after 2000-01-01"),
        ("timestamp", 946684799.5, "must be after 2000-01-01"),
        ("timestamp", "yesterday", "must be ISO 8601"),
        ("input_tokens", True, "must be a number"),
        ("input_tokens", "12", "must be a number"),
        ("output_tokens", 1.5, "must be a whole number"),
        ("status", "failure", "must be success or error"),
        ("cost_usd", -1, "must be between 0"),
        ("quality_score", 1.5, "must be between 0 and 1"),
        ("latency_ms", -3, "must be between 0"),
        ("metadata", [1, 2], "must be a JSON object"),
        ("id", "a\x00b", "must not contain NUL"),
        ("task_type", "\ud800", "must be valid Unicode"),
    ],
)
def test_it_rejects_a_bad_field_with_a_message(team, catalog, field, value, message):
    result = _ingest(
        team, canonical_event(**{field: value}) | ({field: None} if value is None else {})
    )
    assert message in result.rejected[0]["errors"][field]
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timestamp", "0001-01-01T00:30:00+01:00", "must be after 2000-01-01"),
        ("timestamp", "9999-12-31T23:59:59-01:00", "is more than 5 minutes in the future"),
        ("provider", "\u0130" * 100, "must be at most 100 characters"),
        ("cost_usd", "abc", "must be a number or a decimal string"),
        ("cost_usd", "NaN", "must be a number or a decimal string"),
        ("cost_usd", "Infinity", "must be a number or a decimal string"),
        ("cost_usd", "", "must be a number or a decimal string"),
        ("cost_usd", " 1", "must be a number or a decimal string"),
        ("cost_usd", "0x10", "must be a number or a decimal string"),
        ("cost_usd", "1e400", "must be between 0 and 1,000,000 USD"),
        ("cost_usd", "-0.5", "must be between 0 and 1,000,000 USD"),
        ("cost_usd", True, "must be a number or a decimal string"),
        ("cost_usd", ["0.1"], "must be a number or a decimal string"),
        ("quality_score", "1.5", "must be between 0 and 1"),
    ],
)
def test_it_rejects_a_value_the_database_cannot_hold_with_a_message(
    team, catalog, field, value, message
):
    result = _ingest(team, canonical_event(**{field: value}), canonical_event(id="good"))
    assert result.accepted == 1
    [(name, error)] = result.rejected[0]["errors"].items()
    assert (name, message in error) == (field, True)


@pytest.mark.parametrize("text", ["0.004750", "+1.5", "2.5E-3", ".5", "7"])
def test_it_accepts_a_cost_as_a_plain_decimal_string(team, catalog, text):
    _ingest(team, canonical_event(cost_usd=text))
    assert UsageEvent.objects.get().reported_cost_usd == Decimal(text)


def test_it_rejects_a_timestamp_more_than_5_minutes_ahead(team, catalog):
    ahead = (timezone.now() + timedelta(minutes=6)).isoformat()
    result = _ingest(team, canonical_event(timestamp=ahead))
    assert result.rejected[0]["errors"]["timestamp"] == "is more than 5 minutes in the future"


def test_it_accepts_a_timestamp_a_little_ahead_for_clock_skew(team, catalog):
    ahead = (timezone.now() + timedelta(minutes=4)).isoformat()
    assert _ingest(team, canonical_event(timestamp=ahead)).accepted == 1


def test_it_accepts_epoch_seconds(team, catalog):
    _ingest(team, canonical_event(timestamp=1795573886.5))
    assert UsageEvent.objects.get().occurred_at == datetime(
        2026, 11, 25, 2, 31, 26, 500000, tzinfo=UTC
    )


def test_it_rejects_more_cached_tokens_than_prompt_tokens(team, catalog):
    result = _ingest(team, canonical_event(input_tokens=10, cached_input_tokens=11))
    assert "cannot exceed input_tokens" in result.rejected[0]["errors"]["cached_input_tokens"]


def test_it_stores_an_error_event_with_its_type(team, catalog):
    _ingest(
        team, canonical_event(status="error", error_type="RateLimitError (429)", output_tokens=0)
    )
    event = UsageEvent.objects.get()
    assert (event.status, event.error_type) == ("error", "RateLimitError (429)")


def test_it_rolls_events_up_by_hour_provider_model_task_and_status(team, catalog):
    _ingest(
        team,
        canonical_event(id="a", timestamp="2026-11-20T10:05:00Z", latency_ms=900),
        canonical_event(id="b", timestamp="2026-11-20T10:55:00Z", latency_ms=1100),
        canonical_event(id="c", timestamp="2026-11-20T11:05:00Z"),
    )
    first = UsageRollup.objects.get(hour=datetime(2026, 11, 20, 10, tzinfo=UTC))
    assert (first.requests, first.input_tokens, first.cost_usd) == (2, 10000, Decimal("0.09"))
    assert (first.latency_count, first.latency_sum_ms) == (2, 2000)
    assert sum(first.latency_counts) == 2
    assert UsageRollup.objects.count() == 2


def test_it_reads_a_cost_with_more_digits_than_a_float_holds_exactly():
    text = json.dumps(canonical_event())[:-1] + ', "cost_usd": 123456.123456789012}'
    event, _ = event_from_json(loads(text), now=timezone.now())
    assert event.reported_cost_usd == Decimal("123456.123456789012")


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement rollup upsert is PostgreSQL's"
)
def test_a_batch_spread_over_many_hours_costs_no_more_statements_than_one_hour(
    team, catalog, django_assert_max_num_queries
):
    start = datetime(2026, 10, 1, tzinfo=UTC)
    # A month's partition is made once, by its first batch: not what this test counts.
    usage_partitions_ensure(months_between(start.date(), (start + timedelta(hours=999)).date()))
    _ingest(team, canonical_event(id="warm-up"))  # the price book is loaded once, then reused
    with CaptureQueriesContext(connection) as within_an_hour:
        _ingest(
            team, *[canonical_event(id=f"hour-{n}", timestamp=start.isoformat()) for n in range(3)]
        )
    spread = [
        canonical_event(id=f"spread-{n}", timestamp=(start + timedelta(hours=n)).isoformat())
        for n in range(1000)
    ]
    with django_assert_max_num_queries(len(within_an_hour)):
        _ingest(team, *spread)
    assert UsageRollup.objects.filter(team=team).count() >= 1000


def _metadata_of_size(size: int, filler: str = "x") -> dict:
    """Metadata whose compact UTF-8 JSON is exactly `size` bytes ({"note":"..."} is 11 + text)."""
    return {"note": filler * ((size - 11) // len(filler.encode()))}


def test_it_keeps_metadata_of_up_to_16_kb_of_json(team, catalog):
    result = _ingest(team, canonical_event(metadata=_metadata_of_size(16 * 1024)))
    assert result.accepted == 1


def test_it_rejects_metadata_past_16_kb_of_json(team, catalog):
    result = _ingest(team, canonical_event(metadata=_metadata_of_size(16 * 1024 + 1)))
    assert "must be at most 16,384 bytes" in result.rejected[0]["errors"]["metadata"]


def test_it_counts_metadata_text_in_utf8_bytes(team, catalog):
    # 2,000 euro signs are 6,000 bytes of UTF-8 but would be 12,000 characters as \\u escapes.
    metadata = {"note": "\u20ac" * 2000, "more": "x" * 9000}
    assert _ingest(team, canonical_event(metadata=metadata)).accepted == 1


def test_it_measures_metadata_holding_an_integer_past_64_bits(team, catalog):
    result = _ingest(team, canonical_event(metadata={"big": 10**30, "note": "x" * 17_000}))
    assert "must be at most 16,384 bytes" in result.rejected[0]["errors"]["metadata"]
