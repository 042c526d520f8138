"""The usage endpoint's reader: the items loads would give, cut to the fields ingest reads."""

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.ingest.events import event_from_json
from billing.ingest.litellm import PAYLOAD_FIELDS, is_litellm_payload, litellm_to_canonical
from billing.ingest.payload import LineError, parse_items
from billing.ingest.usage_body import ITEM_FIELDS, UsageReader
from billing.models import UsageEvent
from tests.factories import canonical_event

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "data" / "litellm").glob("*.json"))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
READER = UsageReader()


def _sample(path: Path = SAMPLES[0], **overrides) -> dict:
    return {**json.loads(path.read_text()), **overrides}


def _cut(item):
    """An item as the reader hands it on: only the fields ingest reads."""
    if not isinstance(item, dict):
        return item
    return {name: value for name, value in item.items() if name in ITEM_FIELDS}


def _both(body: str | bytes) -> tuple[list, list]:
    """The items of a body read by the reader, and by loads alone cut to the same fields."""
    raw = body.encode() if isinstance(body, str) else body
    return parse_items(raw, READER), [_cut(item) for item in parse_items(raw)]


def _same_items(fast: list, full: list) -> bool:
    def plain(item):
        return ("line", item.message) if isinstance(item, LineError) else item

    return [plain(item) for item in fast] == [plain(item) for item in full]


def _post(client, token, body, **headers):
    return client.post(
        "/api/v1/usage",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **headers,
    )


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
def test_every_sample_reads_and_maps_as_loads_reads_it(path):
    fast, full = _both(json.dumps([_sample(path)]))
    assert fast == full
    assert litellm_to_canonical(fast[0]) == litellm_to_canonical(json.loads(path.read_text()))
    assert event_from_json(fast[0], now=NOW) == event_from_json(_sample(path), now=NOW)


def test_the_fields_nobody_reads_are_skipped():
    [item] = READER.document(json.dumps([_sample()]))
    assert set(item) <= set(ITEM_FIELDS)
    assert "model_map_information" not in item and "messages" not in item


def test_a_payload_with_huge_unread_fields_reads_as_without_them():
    ballast = {"model_map_information": {f"key-{n}": [n / 7, {"x": "y" * 50}] for n in range(5000)}}
    heavy, light = _sample(**ballast, messages=[{"content": "z" * 100_000}]), _sample()
    fast_heavy, fast_light = _both(json.dumps([heavy]))[0], _both(json.dumps([light]))[0]
    assert fast_heavy == fast_light == [_cut(light)]


def test_the_mapping_reads_no_field_outside_payload_fields():
    class Recording(dict):
        read: set = set()

        def get(self, key, default=None):
            self.read.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            self.read.add(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            self.read.add(key)
            return super().__contains__(key)

    for path in SAMPLES:
        payload = Recording(_sample(path, status="failure", stream=True, cache_hit=True))
        assert is_litellm_payload(payload)
        litellm_to_canonical(payload)
    assert Recording.read <= set(PAYLOAD_FIELDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prompt_tokens", "many"),
        ("startTime", {"at": 1}),
        ("metadata", "not an object"),
        ("hidden_params", [1, 2]),
        ("response_cost", [0.5]),
        ("response_cost", "NaN"),
        ("cost_breakdown", 7),
        ("request_tags", "task_type:x"),
    ],
)
def test_a_field_of_the_wrong_type_reads_as_loads_reads_it(field, value):
    fast, full = _both(json.dumps([_sample(**{field: value}), canonical_event(id="good")]))
    assert fast == full


def test_a_field_of_the_wrong_type_is_that_items_error_only(client, catalog, usage_token):
    body = json.dumps([_sample(id="bad", prompt_tokens="many"), canonical_event(id="good")])
    answer = _post(client, usage_token, body).json()
    assert answer["accepted"] == 1
    assert answer["rejected"] == [
        {"index": 0, "id": "bad", "errors": {"input_tokens": "must be a number"}}
    ]


def test_a_cost_with_more_digits_than_a_float_keeps_is_read_exactly():
    body = json.dumps([_sample(response_cost="COST")]).replace('"COST"', "123456.123456789012")
    fast, full = _both(body)
    assert fast[0]["response_cost"] == Decimal("123456.123456789012")
    # loads reads the whole body exactly then, every number a Decimal; the event is the same.
    event, errors = event_from_json(fast[0], now=NOW)
    assert (event, errors) == event_from_json(full[0], now=NOW)
    assert event.reported_cost_usd == Decimal("123456.123456789012")


def test_a_cost_a_float_keeps_is_read_as_a_float():
    fast, full = _both(json.dumps([canonical_event(cost_usd=0.125, quality_score="0.5")]))
    assert (fast[0]["cost_usd"], fast[0]["quality_score"]) == (0.125, "0.5")
    assert fast == full


def test_a_mixed_batch_in_an_envelope_reads_as_loads_reads_it():
    events = [canonical_event(id="c1"), _sample(id="l1"), canonical_event(id="c2", metadata={})]
    fast, full = _both(json.dumps({"events": events}))
    assert fast == full and len(fast) == 3


def test_an_ndjson_body_reads_line_by_line_with_a_bad_line_its_own_error():
    lines = [json.dumps(_sample(id="l1")), "{not json", json.dumps(canonical_event(id="c1")), "5"]
    fast, full = _both("\n".join(lines))
    assert _same_items(fast, full)
    assert isinstance(fast[1], LineError) and fast[3] == 5


@pytest.mark.parametrize(
    "body",
    [
        '[{"id": "a", "metadata": {"note": "\\ud800"}}]',  # a lone surrogate
        '[{"id": "a", "cost_usd": 1e400}]',  # past a float's range
        '[{"id": "a", "latency_ms": 1e400}]',
        '[{"id": "a"}, 5, "text", null, [1]]',  # items that are no objects
        '{"events": [{"id": "a"}], "more": 1}',  # not an envelope: one event
        '{"events": 5}',
        '{"id": "a", "provider": "openai"}',  # one event
        "[" * 5000 + "]" * 5000,
    ],
)
def test_what_the_reader_cannot_vouch_for_is_read_by_loads(body):
    assert READER.document(body) is None
    try:
        expected = parse_items(body.encode())
    except Exception as error:  # the same error for the same body
        with pytest.raises(type(error)):
            parse_items(body.encode(), READER)
        return
    fallen_back = parse_items(body.encode(), READER)
    assert _same_items([_cut(i) for i in fallen_back], [_cut(i) for i in expected])


def test_a_gzipped_litellm_batch_lands_through_the_endpoint(client, catalog, usage_token):
    body = gzip.compress(json.dumps([_sample(path) for path in SAMPLES]).encode())
    answer = _post(client, usage_token, body, HTTP_CONTENT_ENCODING="gzip").json()
    assert answer == {"accepted": len(SAMPLES), "duplicates": 0, "rejected": []}
    assert UsageEvent.objects.count() == len(SAMPLES)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        ["", " ", "success", "failure", "0.004750", "openai", "https://x.chutes.ai/v1"]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
nested_fields = {
    "metadata": ["usage_object", "task_type", "requester_metadata", "spend_logs_metadata"],
    "hidden_params": ["api_base", "litellm_model_name"],
    "error_information": ["error_class", "error_code"],
}


@st.composite
def payloads(draw):
    """A real payload with some read fields, or fields inside them, replaced or dropped."""
    payload = _sample(draw(st.sampled_from(SAMPLES)))
    for field in draw(st.lists(st.sampled_from(ITEM_FIELDS), max_size=5, unique=True)):
        inner = nested_fields.get(field)
        if inner and isinstance(payload.get(field), dict) and draw(st.booleans()):
            payload[field][draw(st.sampled_from(inner))] = draw(json_values)
        elif draw(st.booleans()):
            payload[field] = draw(json_values)
        else:
            payload.pop(field, None)
    return payload


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(payloads() | st.builds(canonical_event), min_size=1, max_size=4))
def test_any_batch_reads_maps_and_validates_as_loads_reads_it(batch):
    body = json.dumps(batch)
    fast, full = _both(body)
    assert fast == full
    for fast_item, whole in zip(fast, json.loads(body), strict=True):
        assert event_from_json(fast_item, now=NOW) == event_from_json(whole, now=NOW)


@pytest.mark.parametrize(
    "encode",
    [
        lambda batch: json.dumps(batch).encode(),  # ASCII: the reader takes the bytes
        lambda batch: json.dumps(batch, ensure_ascii=False).encode(),  # UTF-8 text
        lambda batch: b"\xef\xbb\xbf" + json.dumps(batch).encode(),  # a byte order mark
        lambda batch: b" \n\t" + json.dumps(batch).encode() + b"\r\n ",
    ],
    ids=["ascii", "utf-8", "bom", "whitespace"],
)
def test_a_batch_reads_the_same_whatever_its_encoding(encode):
    batch = [
        _sample(metadata={"note": "r\u00e9sum\u00e9 \u20ac"}),
        canonical_event(task_type="\u00e9t\u00e9"),
    ]
    body = encode(batch)
    fast, full = _both(body)
    assert fast == full == [_cut(item) for item in json.loads(json.dumps(batch))]
