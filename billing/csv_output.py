"""Every CSV we hand out is written here, safe to open in a spreadsheet.

Model names and task types come from the proxy, and through it from the proxy's own users, so
a text cell may begin with `=`, `+`, `-` or `@` and be run as a formula when finance opens the
file (OWASP "CSV injection"). Text cells that could start a formula get a leading `'`, which
spreadsheets read as "this is text"; numbers are written as plain numbers, decided by their
Python type and never by their text, so a negative amount such as -2.50 stays a number.
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

CSV_TYPE = "text/csv; charset=utf-8"

# OWASP's list, plus a line feed: a cell starting with any whitespace control character is
# one a spreadsheet may trim before it looks for a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(text: str) -> str:
    """The text as a spreadsheet shows it but never evaluates it.

    Leading spaces are looked through too: some spreadsheets ignore them before a formula.
    """
    if text.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + text
    return text


def cell_text(value) -> str:
    """One cell: numbers exactly as they are (no exponent), dates in ISO 8601, text made safe."""
    if value is None:
        return ""
    if isinstance(value, str):
        return spreadsheet_safe(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return spreadsheet_safe(str(value))


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """The rows as CSV lines, one at a time (for streamed and plain responses alike)."""
    writer = csv.writer(_Echo())
    return (writer.writerow([cell_text(value) for value in row]) for row in rows)


def csv_download(
    rows: Iterable[Iterable], filename: str, *, stream: bool = True
) -> HttpResponseBase:
    """The rows as a CSV file to download under `filename`: streamed, or whole when the rows
    are few and already in memory."""
    response: HttpResponseBase
    if stream:
        response = StreamingHttpResponse(csv_lines(rows), content_type=CSV_TYPE)
    else:
        response = HttpResponse("".join(csv_lines(rows)), content_type=CSV_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
