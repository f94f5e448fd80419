"""GET /v1/cdr/export's CSV: one line per record, the columns named and ordered as the CDR API's item (schema/cdr.py
Cdr), UTF-8 with a byte order mark (so that spreadsheet programs read Vietnamese names as UTF-8, not as the
system's code page). `legs` and `actions` are JSON text in their cells: nothing the API says is left out, and a
program reads them back with a JSON parser.

A cell that a spreadsheet would run as a formula (it starts with =, @, a tab or a carriage return, or + or - not
followed by a digit: a customer name like `=HYPERLINK(...)`) is written with a leading apostrophe, the usual guard
against CSV formula injection; a number such as +84901234567 is written as it is."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable

from .schema.cdr import Cdr

COLUMNS = tuple(Cdr.__annotations__)  # the CDR item's fields, in its order
NESTED = ("legs", "actions")
BOM = "\ufeff".encode()
_FORMULA = re.compile(r"[=@\t\r]|[+-](?![0-9])")


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    return "'" + text if _FORMULA.match(text) else text


def header() -> bytes:
    """The BOM and the header line: the start of every export, even an empty one."""
    return BOM + lines([COLUMNS])


def rows(items: Iterable[Cdr]) -> bytes:
    """These records' lines."""
    return lines([cell(item.get(name)) for name in COLUMNS] for item in items)


def lines(values: Iterable[Iterable[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(values)  # RFC 4180's line ends
    return out.getvalue().encode()
