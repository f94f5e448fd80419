"""The export's CSV cells and lines (pure): what a spreadsheet would run as a formula is not, numbers stay numbers,
nested values are JSON with their Vietnamese text as written, and the file starts with a BOM and the item's fields."""

from __future__ import annotations

import csv
import io

from click2call import cdr_export
from click2call.schema.cdr import Cdr
from click2call.states import CallStatus


def test_a_formula_is_written_as_text_and_a_number_as_it_is():
    assert [cdr_export.cell(v) for v in ("=1+2", "@SUM(A1)", "+cmd|' /C calc'!A0", "-x", "\tx", "\rx")] == [
        "'=1+2", "'@SUM(A1)", "'+cmd|' /C calc'!A0", "'-x", "'\tx", "'\rx"]
    assert [cdr_export.cell(v) for v in ("+84901234567", "-5", 16, 0, None, True, CallStatus.ANSWERED, "a=b")] == [
        "+84901234567", "-5", "16", "0", "", "true", "ANSWERED", "a=b"]


def test_nested_values_are_json_with_their_text_as_written():
    assert cdr_export.cell({"agent": {"cause": "Nguyễn"}}) == '{"agent":{"cause":"Nguyễn"}}'
    assert cdr_export.cell([]) == "[]"


def test_a_file_is_a_bom_the_items_fields_and_a_line_per_record():
    item = {name: "" for name in Cdr.__annotations__} | {"id": "c1", "ring_group": 'Chăm sóc "VIP", Hà Nội',
                                                          "duration": 65, "legs": {"agent": {}}, "actions": []}
    data = cdr_export.header() + cdr_export.rows([item, {**item, "id": "c2"}])
    assert data.startswith(b"\xef\xbb\xbfid,sip_call_id,cause,")
    lines = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert [line["id"] for line in lines] == ["c1", "c2"]
    assert lines[0]["ring_group"] == 'Chăm sóc "VIP", Hà Nội' and lines[0]["duration"] == "65"
    assert lines[0]["legs"] == '{"agent":{}}' and lines[0]["actions"] == "[]"
    assert data.count(b"\r\n") == 3
