"""Many at once: 200 sync click-to-calls across 200 extensions, in repeated rounds, against the real lab.

Every request gets the right answer, every call ends with a complete record, and nothing is left behind:
no channel or bridge in Asterisk, no call in the service, no asyncio task, and no memory growth from one
round to the next."""

from __future__ import annotations

import asyncio
import os
import re
import time

import httpx
import pytest

from lab import labkit

from .conftest import HOTLINE_B, TOKEN
from .helpers import unique_phone, wait_for

pytestmark = pytest.mark.lab

POOL = [str(e) for e in range(9001, 9201)]  # lab.sh's load-test extensions
POOL_PORT = 5086
ROUNDS = int(os.environ.get("C2C_LOAD_ROUNDS", "3"))


@pytest.fixture
def pool_phone(lab):
    """One sipp answering for all 200 pool extensions after a 1 s ring."""
    with labkit.Sipp("uas_answer", POOL_PORT, vars={"ring_ms": 1000}) as phone:
        labkit.register(POOL, POOL_PORT)
        yield phone
    labkit.register(POOL, POOL_PORT, expires=0)


def metric(text: str, name: str) -> float:
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))


async def one_round(base: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(POOL))
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
                                 limits=limits) as client:
        return await asyncio.gather(*(
            client.get("/v1/click2call", params={"ext": ext, "phone": unique_phone(), "hotline": HOTLINE_B})
            for ext in POOL))


def test_200_concurrent_sync_calls_in_rounds_leave_nothing_behind(own_service, pool_phone, ari):
    svc = own_service(C2C_RATE_LIMIT="0")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    samples = []
    for n in range(ROUNDS):
        started = time.monotonic()
        answers = asyncio.run(one_round(svc.base))
        answered_in = time.monotonic() - started
        assert [r.status_code for r in answers] == [200] * len(POOL), {r.text for r in answers if r.status_code != 200}
        call_ids = {r.json()["call_id"] for r in answers}
        assert len(call_ids) == len(POOL)

        # Carrier B hangs up 1.5 s after answering: every call ends by itself (the service then holds no call;
        # a call's final record is written before it lets go of it), and is recorded in full.
        wait_for(lambda: httpx.get(f"{svc.base}/v1/call", headers=headers).json()["data"] == [], 60,
                 f"round {n}: every call to end")
        mine = [httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=headers).json() for call_id in call_ids]
        assert len(mine) == len(POOL) and {c["status"] for c in mine} == {"ANSWERED"}
        assert all(c["legs"]["customer"]["sip_call_id"] and c["billsec"] >= 1 for c in mine)

        # Nothing left in Asterisk: no channel or bridge of ours.
        assert [c["id"] for c in ari.get("/channels").json() if c["id"].split(".")[0] in call_ids] == []
        assert [b["id"] for b in ari.get("/bridges").json() if b["id"].split(".")[0] in call_ids] == []
        # Tasks that come and go (a group commit, a webhook POST) may be caught by one scrape; a task that
        # outlives its call is in every scrape. So the fewest of a few scrapes.
        texts = []
        for _ in range(5):
            texts.append(httpx.get(f"{svc.base}/metrics").text)
            time.sleep(0.2)
        text = texts[-1]
        tasks = min(metric(t, "click2call_asyncio_tasks") for t in texts)
        samples.append((tasks, metric(text, "process_resident_memory_bytes")))
        print(f"round {n}: all answered in {answered_in:.1f} s, all recorded and clean in "
              f"{time.monotonic() - started:.1f} s, RSS {samples[-1][1] / 2**20:.1f} MB")
        assert metric(text, "click2call_active_calls") == 0 and metric(text, "click2call_pending_sync_requests") == 0

    tasks = [t for t, _ in samples]
    rss_mb = [r / 2**20 for _, r in samples]
    print(f"asyncio tasks after each round: {tasks}; RSS MB: {[round(r, 1) for r in rss_mb]}")
    assert max(tasks) == min(tasks), tasks  # no task outlives its call
    # Round 1 warms caches and pools; after it, 200 more calls each round must not keep adding memory.
    assert rss_mb[-1] - rss_mb[1] < 8, rss_mb
