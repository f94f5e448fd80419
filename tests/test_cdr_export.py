"""GET /v1/cdr/export and retention's recordings, on the real service (`click2call serve`) over HTTP, on a real SQLite
file and a real PostgreSQL (its ARI a port that refuses connections: nothing here asks Asterisk).

- The export of a set of filters is, line for line, the records GET /v1/cdr pages through for the same filters and
  the same token (the operator's, a tenant's, an agent token's), more than one export batch long; UTF-8 with a BOM,
  Vietnamese text as it was, legs and actions as JSON.
- A recording removed by retention answers 410 RECORDING_EXPIRED; its record is still there.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from click2call.db import GroupCommit, async_url, calls
from click2call.metrics import Metrics
from click2call.recordings import Recordings
from click2call.retention import DAY, RetentionDays, Retention
from click2call.schema.cdr import Cdr
from click2call.tenants import hash_token
from tests.offline import db, offline_service

HOTLINE = "02873000001"
ACME, AGENT, BETA, OPERATOR = ("acme-export-0123456789", "acme-agent-101-export-0123456789", "beta-export-0123456789",
                               "operator-export-0123456789")
TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{hash_token(ACME)}"]
extension_pattern = "1[0-9][0-9]"
hotlines = ["{HOTLINE}"]

  [[tenant.token]]
  id = "agent-101"
  token = "{hash_token(AGENT)}"
  extension = "101"

[[tenant]]
name = "beta"
tokens = ["{hash_token(BETA)}"]
extensions = ["201"]
hotlines = ["{HOTLINE}"]
"""
BASE = 1_790_000_000.0  # 2026-09-21 UTC
VIETNAMESE = ("Chăm sóc khách hàng", "Phòng kinh doanh — Hà Nội", "Không ghi âm được: lỗi ổ đĩa",
              'Nguyễn Văn "An", Đà Nẵng')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    work = tmp_path_factory.mktemp("export")
    url = f"sqlite:///{work}/calls.db" if request.param == "sqlite" else \
        request.getfixturevalue("postgres").new_database()
    with offline_service(work, url, tenants=TENANTS, C2C_API_TOKENS=OPERATOR, C2C_HOTLINES=f"{HOTLINE}=trunk-a",
                         C2C_TIMEZONE="Asia/Ho_Chi_Minh") as svc:
        yield svc, url, work



def record(n: int, rng: random.Random) -> dict:
    ext = rng.choice(["101", "102", "201"])
    status = rng.choice(["ANSWERED", "ANSWERED", "BUSY", "NO_ANSWER", "IN_PROGRESS"])
    created = BASE + (n // 3) * 600  # three records a moment: ties between them are broken by call_id
    ended = None if status == "IN_PROGRESS" else created + rng.randint(5, 300)
    answered = created + 4 if status == "ANSWERED" else None
    return {
        "call_id": str(uuid.UUID(int=rng.getrandbits(128))), "direction": "outbound", "extension": ext,
        "phone": rng.choice(["0899000001", "0899000002", "+84901234567"]), "hotline": HOTLINE, "trunk": "trunk-a",
        "status": status, "phase": "connected" if status == "IN_PROGRESS" else "ended", "phase_rank": 3,
        "created_at": created, "updated_at": created, "answered_at": answered, "ended_at": ended,
        "duration": round(ended - created) if ended else None,
        "billsec": round(ended - answered) if ended and answered else (0 if ended else None),
        "tenant": "beta" if ext == "201" else "acme", "node": "asterisk",
        "customer_id": rng.choice([None, "crm-7", "crm-42"]), "ring_group": rng.choice(["", VIETNAMESE[0],
                                                                                         VIETNAMESE[1]]),
        "recording_error": rng.choice([None, VIETNAMESE[2], VIETNAMESE[3], "=HYPERLINK(\"http://x\")"]),
        "agent_created_at": created, "agent_answered_at": created + 2, "agent_sip_call_id": f"sip-{n}@lab",
        "hangup_by": "customer" if ended else None, "cause": 16 if ended else None,
        "cause_txt": "NORMAL_CLEARING" if ended else None,
    }


@pytest.fixture(scope="module")
def records(served):
    _, url, _ = served
    rng = random.Random(17)
    rows = [record(n, rng) for n in range(2300)]  # more than two of the export's reads (1000 each)
    db(url, lambda conn: conn.execute(calls.insert(), rows))
    return rows


def pages(client: httpx.Client, token: str, **filters) -> list[dict]:
    """Every record GET /v1/cdr pages through for these filters, by scroll_id."""
    found, cursor = [], None
    while True:
        r = client.get("/v1/cdr", params={**filters, "limit": 500, **({"scroll_id": cursor} if cursor else {})},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        found += r.json()["data"]
        if (cursor := r.json()["scroll_id"]) is None:
            return found


def export(client: httpx.Client, token: str, **filters) -> tuple[httpx.Response, list[dict]]:
    r = client.get("/v1/cdr/export", params=filters, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM
    return r, list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))


def same(line: dict, item: Cdr) -> bool:
    """A CSV line says what the API's item says, column for column."""
    assert list(line) == list(Cdr.__annotations__)  # the columns: the item's fields, in its order
    for name, value in item.items():
        text = line[name]
        if name in ("legs", "actions"):
            assert json.loads(text) == value, name
        elif isinstance(value, str) and value[:1] in ("=", "@"):
            assert text == "'" + value, name  # a formula is not run by a spreadsheet
        else:
            assert text == ("" if value is None else str(value)), (name, text, value)
    return True


@pytest.mark.parametrize("token, filters", [
    (OPERATOR, {}),
    (OPERATOR, {"status": "answered", "min_duration": "30"}),
    (OPERATOR, {"phone": "+84901234567", "start_date": "2026-09-25", "end_date": "2026-10-03 12:00:00"}),
    (ACME, {"customer_id": "crm-42"}),
    (ACME, {"extension": "102", "hotline": HOTLINE}),
    (AGENT, {}),  # its own extension's records alone
    (BETA, {"status": "BUSY"}),
])
def test_an_export_is_the_records_the_api_pages_through(served, records, token, filters):
    svc, _, _ = served
    with httpx.Client(base_url=svc.base, timeout=60) as client:
        expected = pages(client, token, **filters)
        r, lines = export(client, token, **filters)
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="cdr-')
    assert expected, "the filters match some records"
    assert [line["id"] for line in lines] == [item["id"] for item in expected]
    assert all(same(line, item) for line, item in zip(lines, expected))
    if token == OPERATOR and not filters:
        assert len(lines) == len(records) > 2000
        texts = {line["ring_group"] for line in lines} | {line["recording_error"] for line in lines}
        assert set(VIETNAMESE) <= texts  # Vietnamese as written, quotes and all
    if token == AGENT:
        assert {line["extension"] for line in lines} == {"101"}
    if token == BETA:
        assert {line["tenant"] for line in lines} == {"beta"}


def test_an_export_is_refused_as_the_list_is(served, records):
    svc, _, _ = served
    with httpx.Client(base_url=svc.base, timeout=30) as client:
        bad = client.get("/v1/cdr/export", params={"status": "nope"}, headers={"Authorization": f"Bearer {ACME}"})
        assert (bad.status_code, bad.json()["error"]) == (400, "INVALID_PARAMETER")
        assert client.get("/v1/cdr/export").json()["error"] == "UNAUTHORIZED"
        empty = client.get("/v1/cdr/export", params={"customer_id": "nobody"},
                           headers={"Authorization": f"Bearer {ACME}"})
        assert empty.content == b"\xef\xbb\xbf" + ",".join(Cdr.__annotations__).encode() + b"\r\n"


def test_a_recording_removed_by_retention_answers_410_and_its_record_stays(served, records):
    svc, url, work = served
    rng = random.Random(410)
    old, young = record(100_000, rng), record(100_001, rng)
    for row, age in ((old, 91), (young, 89)):
        row.update(status="ANSWERED", phase="ended", created_at=BASE - age * DAY, ended_at=BASE - age * DAY + 60,
                   tenant="acme", extension="101", recording_url=f"http://x/v1/recordings/{row['call_id']}")
        (work / "rec").mkdir(exist_ok=True)
        (work / "rec" / f"{row['call_id']}.wav").write_bytes(b"RIFF....WAVE")
    db(url, lambda conn: conn.execute(calls.insert(), [old, young]))

    async def another_replicas_pass():  # retention as another process on the same database runs it
        engine = create_async_engine(async_url(url))
        write = GroupCommit(engine)
        try:
            remove = Recordings(str(work / "rec"), store=None, aris={}).remove
            return await Retention(engine, write, RetentionDays(recordings=90), Metrics(), remove, pause=0).run_pass(BASE)
        finally:
            await write.close()
            await engine.dispose()
    asyncio.run(another_replicas_pass())

    with httpx.Client(base_url=svc.base, timeout=30, headers={"Authorization": f"Bearer {AGENT}"}) as agent:
        gone = agent.get(f"/v1/recordings/{old['call_id']}")
        assert (gone.status_code, gone.json()["error"]) == (410, "RECORDING_EXPIRED"), gone.text
        kept = agent.get(f"/v1/cdr/{old['call_id']}")
        assert kept.status_code == 200 and kept.json()["recording_url"] == old["recording_url"]
        assert agent.get(f"/v1/recordings/{young['call_id']}").content == b"RIFF....WAVE"
    assert not (work / "rec" / f"{old['call_id']}.wav").exists()
