"""Whatever the proxy (or anyone holding a token) sends, the API answers; it never fails."""

import json
import uuid
from decimal import Decimal
from functools import reduce

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billing.ingest.events import CANONICAL_FIELDS
from billing.ingest.store import usage_ingest
from billing.models import UsageEvent
from dashboard.models import Team
from dashboard.tokens import token_create
from tests.factories import canonical_event

FIELDS = CANONICAL_FIELDS

hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            *("", "\x00", "\ud800", "2026-11-20T10:00:00", "9" * 400, "success", "error"),
            *("0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00", "\u0130" * 100),
            *("0.004750", "1e400", "NaN", " 1", "-0.5"),
        ]
    ),
)
deeply_nested = st.integers(min_value=1, max_value=80).map(
    lambda depth: reduce(lambda inner, _: {"x": inner}, range(depth), 1)
)
hostile_values = (
    st.recursive(
        hostile_scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=8,
    )
    | deeply_nested
)


@st.composite
def events(draw):
    """A valid event with some fields replaced by hostile values, or dropped."""
    # A small pool of ids, so batches often repeat one.
    event_id = draw(st.sampled_from(["a", "b", "c"]) | st.text(min_size=1, max_size=6))
    event = canonical_event(id=event_id)
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            event[field] = draw(hostile_values)
        else:
            event.pop(field, None)
    return event


batches = st.lists(st.one_of(events(), hostile_values), min_size=1, max_size=12)


def _json(value) -> str:
    def default(item):
        if isinstance(item, Decimal):
            return float(item) if item.is_finite() else str(item)
        raise TypeError(item)

    return json.dumps(value, default=default)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=batches)
@example(batch=[canonical_event(id="late", timestamp="9999-12-31T23:59:59-01:00")])
@example(batch=[canonical_event(id="early", timestamp="0001-01-01T00:30:00+01:00")])
def test_it_never_fails_and_counts_every_event_exactly(client, catalog, batch):
    team = Team.objects.create(slug=f"fuzz-{uuid.uuid4().hex[:12]}", name="Fuzz")
    _, token = token_create(team=team, name="fuzz", scopes=["usage:write"])
    response = client.post(
        "/api/v1/usage",
        _json(batch),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code in (200, 400), response.content
    stored = set(UsageEvent.objects.filter(team=team).values_list("event_id", flat=True))
    if response.status_code == 400:
        assert not stored
        return
    answer = response.json()
    assert answer["accepted"] + answer["duplicates"] + len(answer["rejected"]) == len(batch)
    assert len(stored) == answer["accepted"]
    assert all(rejection["errors"] for rejection in answer["rejected"])
    rejected = {rejection["index"] for rejection in answer["rejected"]}
    kept_ids = {
        item["id"].strip()
        for index, item in enumerate(batch)
        if index not in rejected and isinstance(item, dict) and isinstance(item.get("id"), str)
    }
    assert stored <= kept_ids


scores = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["a", "b", "a\x00", "\ud800b", "a" * 256]) | hostile_scalars,
        "score": st.sampled_from([0.5, "0.5", "0.25", "1e400"]),
    },
    optional={"evaluator": hostile_scalars, "comment": hostile_scalars},
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(scores | hostile_values, min_size=1, max_size=8))
@example(batch=[{"event_id": "\ud800b", "score": 0.5}])
@example(batch=[{"event_id": "a", "score": 0.5, "comment": "\x00"}])
def test_scores_never_fail_and_count_every_item(client, catalog, batch):
    team = Team.objects.create(slug=f"fuzz-{uuid.uuid4().hex[:12]}", name="Fuzz")
    _, token = token_create(team=team, name="fuzz", scopes=["usage:write"])
    usage_ingest(team, [canonical_event(id="a"), canonical_event(id="b")])
    response = client.post(
        "/api/v1/scores",
        _json(batch),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        answer = response.json()
        assert answer["accepted"] + answer["duplicates"] + len(answer["rejected"]) == len(batch)
