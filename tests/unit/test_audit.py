"""The audit trail's store on a real SQLite file and a real PostgreSQL: entries written through the group commit, read
back with each filter and both kinds of paging, a tenant kept to its own; their removal is retention's (test_retention.py)."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

import pytest

from click2call import validation
from click2call.audit import AuditLog, Entry
from click2call.db import GroupCommit
from click2call.errors import ApiError
from click2call.schema.audit import AuditFilters
from click2call.states import AuditAction
from click2call.tenants import Tenant

UTC = ZoneInfo("UTC")
OPERATOR, ACME = Tenant(None, ()), Tenant("acme", ())
DAY = 86400.0


@pytest.fixture
async def log(engine):
    write = GroupCommit(engine)
    yield AuditLog(engine, write, UTC)
    await write.close()


def filters(**params) -> AuditFilters:
    return validation.parse(AuditFilters, {k: str(v) for k, v in params.items()})


async def test_entries_are_found_by_each_filter_newest_first(log):
    base = 1_795_000_000.0  # 2026-11-18 UTC
    await asyncio.gather(*(log.record(e) for e in [
        Entry("crm", "acme", "10.0.0.1", AuditAction.CLICK_TO_CALL, 200, call_id="c1", extension="101",
              target="0899", detail={"path": "/v1/click2call"}, at=base),
        Entry("crm", "acme", "10.0.0.1", AuditAction.HOLD, 409, "ALREADY_HELD", call_id="c1", detail={"legs": "bleg"},
              at=base + 60),
        Entry("sup", "acme", "10.0.0.2", AuditAction.LISTEN, 200, call_id="c1", target="105", at=base + DAY),
        Entry("ops", None, "127.0.0.1", AuditAction.PAUSE, 200, extension="201", at=base + 2 * DAY),
        Entry("beta", "beta", "10.0.0.9", AuditAction.HOOK_DELETE, 404, "HOOK_NOT_FOUND", target="h1",
              at=base + 3 * DAY),
    ]))
    every = (await log.search(filters(), OPERATOR))["data"]
    assert [e["action"] for e in every] == ["hook_delete", "pause", "listen", "hold", "click_to_call"]
    held = every[3]
    assert held == {"id": held["id"], "time": "2026-11-18 11:07:40", "token_id": "crm", "tenant": "acme",
                    "client": "10.0.0.1", "action": "hold", "call_id": "c1", "extension": "", "target": "",
                    "status": 409, "error": "ALREADY_HELD", "detail": {"legs": "bleg"}}

    async def actions(who=OPERATOR, **params) -> list[str]:
        return [e["action"] for e in (await log.search(filters(**params), who))["data"]]
    assert await actions(**{"from": "2026-11-19", "to": "2026-11-20"}) == ["pause", "listen"]
    assert await actions(**{"from": "2026-11-18 11:07:40"}) == ["hook_delete", "pause", "listen", "hold"]
    assert await actions(token_id="crm") == ["hold", "click_to_call"]
    assert await actions(action="listen") == ["listen"]
    assert await actions(call_id="c1") == ["listen", "hold", "click_to_call"]
    assert await actions(extension="201") == ["pause"]
    assert await actions(tenant="beta") == ["hook_delete"]
    # a tenant's token: its own tenant's entries only, and never another's by asking
    assert await actions(ACME) == ["listen", "hold", "click_to_call"]
    assert await actions(ACME, tenant="acme", action="hold") == ["hold"]
    with pytest.raises(ApiError) as exc:
        await log.search(filters(tenant="beta"), ACME)
    assert (exc.value.status, exc.value.code) == (403, "FORBIDDEN")


async def test_paging_by_number_and_by_scroll_id_agree(log):
    for n in range(7):
        await log.record(Entry("crm", None, None, AuditAction.MUTE, 200, call_id=f"c{n}", at=1000.0 + n))
    pages = [await log.search(filters(limit=3, page=p), OPERATOR) for p in (1, 2, 3)]
    assert [p["total"] for p in pages] == [7, 7, 7] and [len(p["data"]) for p in pages] == [3, 3, 1]
    scrolled, cursor = [], None
    while True:
        page = await log.search(filters(limit=3, **({"scroll_id": cursor} if cursor else {})), OPERATOR)
        scrolled += page["data"]
        if (cursor := page["scroll_id"]) is None:
            break
    assert [e["call_id"] for e in scrolled] == [e["call_id"] for p in pages for e in p["data"]] == [
        f"c{n}" for n in range(6, -1, -1)]
    with pytest.raises(ApiError) as exc:
        validation.parse(AuditFilters, {"scroll_id": "abc"})
    assert exc.value.code == "INVALID_PARAMETER"
