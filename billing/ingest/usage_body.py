"""A usage body read for the fields ingest uses only: LiteLLM payloads without their ballast.

A LiteLLM StandardLoggingPayload is about 13.5 KB, mostly model_map_information, messages and
response, none of which is read; loads would build all of it. UsageReader decodes each item with
msgspec straight into a dict of the fields read by validation (event_from_json), the LiteLLM
mapping and the rejection's id (id_of_item), skipping the others unparsed: the dict loads would
give, cut to those fields.

It reads numbers as loads does: floats correctly rounded (as orjson), a money number of more
digits than its float keeps exactly. Whatever it cannot read as loads would, it leaves to loads
(payload.parse_items): a body other than an array of objects or {"events": [...]}, an item that
is no object, a number past a float's range, a lone surrogate, nesting deeper than msgspec goes.
Two differences remain, both where loads reads numbers unevenly: an integer past 64 bits stays
an integer (the orjson locked here, 3.13, reads it as a float, against loads' docstring), and a
number with more digits than its float keeps, outside the money fields, stays a float where loads
reads it exactly because some other number of the body (a long money number anywhere, a number
past a float's range in a field nobody reads) sent the whole body through the standard library.
"""

import math
from decimal import Decimal
from typing import Any, TypedDict

import msgspec

from billing.ingest.events import CANONICAL_FIELDS
from billing.ingest.litellm import PAYLOAD_FIELDS
from billing.ingest.payload import float_keeps, json_integer

# The money fields loads reads exactly when a float would lose their digits (LONG_MONEY_NUMBER).
MONEY_FIELDS = ("cost_usd", "quality_score", "response_cost")
# What event_from_json, the LiteLLM mapping and id_of_item read of an item.
ITEM_FIELDS = tuple(dict.fromkeys([*CANONICAL_FIELDS, *PAYLOAD_FIELDS]))
# The item as a dict of the fields read, unknown ones skipped unparsed. A money number is kept
# as its text until it is read: its digits decide float or Decimal.
UsageItem = TypedDict(  # type: ignore[misc]
    "UsageItem",
    {name: msgspec.Raw if name in MONEY_FIELDS else Any for name in ITEM_FIELDS},
    total=False,
)


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    events: list[UsageItem]  # type: ignore[valid-type]


class Unreadable(Exception):
    """A value this reader does not read as loads would: loads reads the body instead."""


_ITEMS = msgspec.json.Decoder(list[UsageItem])  # type: ignore[valid-type]
_ENVELOPE = msgspec.json.Decoder(Envelope)
_ITEM = msgspec.json.Decoder(UsageItem)
_VALUE = msgspec.json.Decoder()
_NUMBER_START = frozenset(b"-0123456789")
_FRACTION = frozenset(b".eE")
# What msgspec raises on input it cannot read, and the reading of a money number.
_READ_ERRORS = (msgspec.MsgspecError, RecursionError, Unreadable)


class UsageReader:
    """payload.parse_items' reader for the usage endpoint."""

    def document(self, text: str | bytes) -> list | None:
        """The items of a stripped body, as text or as ASCII bytes."""
        first = text[:1]
        try:
            if first in ("[", b"["):
                return [_with_money_read(item) for item in _ITEMS.decode(text)]
            if first in ("{", b"{"):
                return [_with_money_read(item) for item in _ENVELOPE.decode(text).events]
        except _READ_ERRORS:
            return None
        return None

    def line(self, text: str) -> dict | None:
        try:
            return _with_money_read(_ITEM.decode(text))
        except _READ_ERRORS:
            return None


def _with_money_read(item: Any) -> dict:
    for name in MONEY_FIELDS:
        if name in item:
            item[name] = money_value(item[name])
    return item


def money_value(raw: msgspec.Raw) -> Any:
    """A money field's value as loads reads it: a float, or a Decimal if the float loses digits."""
    text = bytes(raw)
    if text[0] not in _NUMBER_START:
        return _VALUE.decode(text)
    literal = text.decode()
    if _FRACTION.isdisjoint(text):
        return json_integer(literal)
    number = float(literal)
    if not math.isfinite(number):
        raise Unreadable(literal)
    # LONG_MONEY_NUMBER's test: 16 characters from the first digit on.
    if len(literal) - literal.startswith("-") >= 16 and not float_keeps(literal):
        return Decimal(literal)
    return number
