"""Metadata is checked through its compact JSON when it can be (one orjson dump, no walk): the
outcome must be the walk's, whatever the metadata holds."""

import math
from decimal import Decimal
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.ingest.events import Invalid, _metadata, _plain_json, compact_json
from tests.billing.test_hostile_input import hostile_values


def _nested_lists(depth: int) -> list:
    return reduce(lambda inner, _: [inner], range(depth), 1)


def _walked(value: dict):
    """What validation gave before the fast path: the walk, then the size of its JSON."""
    try:
        cleaned = _plain_json(value, 0)
        if len(compact_json(cleaned)) > 16 * 1024:
            raise Invalid("must be at most 16,384 bytes of JSON")
        return cleaned
    except Invalid as error:
        return f"invalid: {error}"


def _checked(value: dict):
    try:
        return _metadata(value)
    except Invalid as error:
        return f"invalid: {error}"


def _same(one, other) -> bool:
    # NaN is never equal to itself; the walk refuses it, so it is never in a result.
    return compact_json(one) == compact_json(other) if not isinstance(one, str) else one == other


@pytest.mark.parametrize(
    "metadata",
    [
        {"note": "plain", "n": 1, "ok": True, "cost": 0.25, "list": [1, "two"]},
        {"nul": "a\x00b"},
        {"surrogate": "\ud800"},
        {"nan": math.nan},
        {"nested": {"inf": [math.inf]}},
        {"decimal": Decimal("0.1")},
        {"huge": 10**30},
        {"none": None},
        {"text": "nullable, [[[[[[[[[[[[[[[[[[ brackets in a string ]]]]"},
        {"escaped": "a backslash then u0000: \\u0000"},
        {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {}}}}}}}}}}},
        *({"deep": _nested_lists(depth)} for depth in (14, 15, 16, 17)),
        {"big": "x" * (16 * 1024)},
    ],
)
def test_metadata_checked_through_its_json_gives_the_walks_outcome(metadata):
    assert _same(_checked(metadata), _walked(metadata))


@settings(max_examples=300, deadline=None)
@given(metadata=st.dictionaries(st.text(max_size=5), hostile_values, max_size=4))
def test_any_metadata_gives_the_walks_outcome(metadata):
    assert _same(_checked(metadata), _walked(metadata))
