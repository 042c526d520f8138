"""Turning a request body into a list of JSON items, whatever shape the proxy sent."""

import json
import re
import zlib
from decimal import Decimal
from typing import Protocol

import orjson

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_EVENTS = 10_000


class PayloadError(Exception):
    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class LineError:
    """An NDJSON line that is not JSON: rejected on its own, the other lines still count."""

    def __init__(self, message: str):
        self.message = message


# A money field's JSON number long enough (16+ characters) that a float may lose its digits.
LONG_MONEY_NUMBER = re.compile(
    r'"(?:cost_usd|quality_score|score|response_cost)"\s*:\s*(-?[0-9][0-9.eE+-]{15,})'
)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def json_integer(text: str) -> int | Decimal:
    # Past Python's int-from-text limit (4,300 digits): a Decimal, that event's error alone.
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


def _exact_loads(text: str):
    return json.loads(
        text, parse_float=Decimal, parse_int=json_integer, parse_constant=_reject_constant
    )


def float_keeps(literal: str) -> bool:
    """Whether a float's shortest repr is the same number as the literal it was parsed from."""
    try:
        return Decimal(repr(float(literal))) == Decimal(literal)
    except (ValueError, ArithmeticError):
        return False


def loads(text: str):
    """JSON without NaN or Infinity, money numbers kept exactly as written.

    orjson parses fast, into floats, which validation reads through their shortest repr: exact
    for every number of up to 15 significant digits and for every number a float serializer
    wrote. A money number of more digits than its float keeps, and integers beyond 64 bits
    (which orjson refuses), send the same text through the standard library instead, whose
    numbers are Decimal and whose integers may be of any length, so one huge number is that
    event's error, not the batch's.
    """
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _exact_loads(text)
    if not all(float_keeps(match[1]) for match in LONG_MONEY_NUMBER.finditer(text)):
        return _exact_loads(text)
    return document


def gunzip(raw: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = decompressor.decompress(raw, limit + 1)
        if len(body) > limit or decompressor.unconsumed_tail:
            raise PayloadError(413, "body too large", f"More than {limit:,} bytes after gunzip.")
        if not decompressor.eof:
            raise PayloadError(400, "malformed body", "The gzip stream is truncated.")
    except zlib.error as error:
        raise PayloadError(400, "malformed body", f"The body is not valid gzip: {error}.") from None
    return body


class ItemReader(Protocol):
    """Reads items faster than loads, the same as loads reads them, or answers None."""

    def document(self, text: str | bytes) -> list | None: ...

    def line(self, text: str) -> dict | None: ...


def parse_items(body: bytes, reader: ItemReader | None = None) -> list:
    """The JSON items of a body: an array, {"events": [...]}, one object, or NDJSON lines.

    NDJSON is recognised from the body itself, whatever the Content-Type says. A reader
    (billing.ingest.usage_body) reads the body or a line first when it can; loads reads the rest.
    """
    if len(body) > MAX_BODY_BYTES:
        raise PayloadError(413, "body too large", f"More than {MAX_BODY_BYTES:,} bytes.")
    read_document = reader is not None
    # An ASCII body is UTF-8 without a BOM: the reader takes its bytes, no 10 MB text copy.
    # What it cannot read, loads reads from the text (as the reader would read the same).
    if reader is not None and body.isascii() and (stripped := body.strip()):
        if (items := reader.document(stripped)) is not None:
            return _limited(items)
        read_document = False
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PayloadError(400, "malformed body", f"The body is not UTF-8: {error}.") from None
    text = text.strip()
    if not text:
        raise PayloadError(400, "malformed body", "The body is empty.")
    if read_document and reader is not None and (items := reader.document(text)) is not None:
        return _limited(items)
    try:
        document = loads(text)
    except (ValueError, RecursionError) as error:
        if text.startswith("{") and "\n" in text:
            return _limited(_ndjson_items(text, reader))
        raise PayloadError(400, "malformed body", f"The body is not valid JSON: {error}.") from None
    if isinstance(document, list):
        return _limited(document)
    if isinstance(document, dict):
        if set(document) == {"events"}:
            if not isinstance(document["events"], list):
                raise PayloadError(400, "malformed body", '"events" must be a list of events.')
            return _limited(document["events"])
        return [document]
    raise PayloadError(
        400, "malformed body", 'Send a JSON array of events, {"events": [...]}, an event or NDJSON.'
    )


def _ndjson_items(text: str, reader: ItemReader | None) -> list:
    items: list = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(items) > MAX_EVENTS:
            break
        if reader is not None and (item := reader.line(line)) is not None:
            items.append(item)
            continue
        try:
            items.append(loads(line))
        except (ValueError, RecursionError) as error:
            items.append(LineError(f"line {number} is not valid JSON: {error}"))
    if all(isinstance(item, LineError) for item in items):
        raise PayloadError(400, "malformed body", "No line of the body is valid JSON.")
    return items


def _limited(items: list) -> list:
    if len(items) > MAX_EVENTS:
        raise PayloadError(
            413, "too many events", f"At most {MAX_EVENTS:,} events per request; split the batch."
        )
    return items
