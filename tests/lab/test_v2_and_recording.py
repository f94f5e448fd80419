"""TEL4VN's v2 POST, customer_id end to end, and call recording served with HTTP Range."""

from __future__ import annotations

import asyncio
import os
import struct
import time
from pathlib import Path

import httpx
import pytest

from click2call import ari_tls
from click2call.config import Settings
from click2call.db import GroupCommit, open_database
from click2call.metrics import Metrics
from click2call.records import CallStore
from click2call.recordings import Recordings
from click2call.retention import DAY, Retention, RetentionDays
from click2call.stasis_app.ari import Ari
from click2call.states import Kept

from .conftest import HOTLINE_A, HOTLINE_B, TOKEN
from .helpers import (
    SECRET, assert_cleaned_up, fail, final_record, first_receipts, invite_to, unique_phone, wait_for,
)

pytestmark = pytest.mark.lab

RECORDING_DIR = Path(os.environ.get("C2C_LAB_DIR", "/var/cache/click2call-lab")) / \
    "sid/var/spool/click2call-asterisk/recording"


def v2(api, body):
    return api.post("/v2/click2call", json=body)


def test_v2_success_stores_customer_id(api, ari, phones, carriers):
    phone = unique_phone()
    r = v2(api, {"id": "CUS-0042", "mobile": phone, "agent": "104", "hotline": HOTLINE_B, "auto_answer": False})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success" and body["code"] == "0" and body["call_id"]
    invite_to(carriers[HOTLINE_B], phone)
    rec = final_record(api, body["call_id"])
    assert rec["customer_id"] == "CUS-0042" and rec["to_number"] == phone and rec["extension"] == "104"
    assert api.get("/v1/cdr", params={"customer_id": "CUS-0042"}).json()["data"][0]["id"] == body["call_id"]
    assert_cleaned_up(ari, body["call_id"])


def test_v2_failures_say_code_1(api, service, phones):
    for body, status, code in [
        ({"id": "c1", "mobile": "0899098899", "agent": "119"}, 409, "USER_NOT_REGISTERED"),
        ({"id": "c1", "mobile": "0899098899"}, 400, "MISSING_PARAMETER"),
        ({"id": "c1", "mobile": "0899&PJSIP/1", "agent": "101"}, 400, "INVALID_PARAMETER"),
        ({"id": "bad id!", "mobile": "0899098899", "agent": "101"}, 400, "INVALID_PARAMETER"),
        ({"id": "c1", "mobile": ["0899"], "agent": "101"}, 400, "INVALID_PARAMETER"),
        (["not", "an", "object"], 400, "INVALID_PARAMETER"),
    ]:
        r = v2(api, body)
        assert r.status_code == status and r.json()["code"] == "1", (body, r.text)
        assert r.json()["status"] == "fail" and r.json()["error"] == code, (body, r.text)
    r = httpx.post(str(api.base_url.join("/v2/click2call")), json={"mobile": "1", "agent": "101"},
                   headers={"Authorization": "Bearer wrong"})
    assert (r.status_code, r.json()["code"], r.json()["error"]) == (401, "1", "UNAUTHORIZED")


def wav_seconds(data: bytes) -> float:
    """Seconds of audio in a RIFF/WAVE file (reads the fmt and data chunks)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos, rate, block, frames = 12, None, None, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if chunk == b"fmt ":
            _, channels, rate, _, block, _ = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
        elif chunk == b"data":
            frames = min(size, len(data) - pos - 8) // block
        pos += 8 + size + (size & 1)
    return frames / rate


def test_recorded_call_is_a_playable_wav_served_with_range(own_service, receiver, carriers, ari):
    svc = own_service(C2C_WEBHOOK_URL=receiver.url("/all"), C2C_WEBHOOK_SECRET=SECRET)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    phone = unique_phone()
    r = httpx.get(svc.base + "/v1/click2call", params={"ext": "110", "phone": phone, "hotline": HOTLINE_A,
                                                       "record": "true", "customer_id": "crm-77"},
                  headers=headers, timeout=30)
    call_id = r.json()["call_id"]
    invite_to(carriers[HOTLINE_A], phone)
    wait_for(lambda: httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=headers).json()["time_answered"], 5, "answer")
    early = httpx.get(f"{svc.base}/v1/recordings/{call_id}", headers=headers)
    assert (early.status_code, early.json()["error"]) == (409, "RECORDING_IN_PROGRESS")
    time.sleep(3)
    httpx.delete(f"{svc.base}/v1/call/{call_id}", headers=headers, timeout=15)
    rec = httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=headers).json()
    assert rec["recording_url"] == f"{svc.base}/v1/recordings/{call_id}" and rec["recording_error"] == ""

    wav = httpx.get(rec["recording_url"], headers=headers)
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    assert wav.headers["accept-ranges"] == "bytes" and len(wav.content) > 1000
    assert abs(wav_seconds(wav.content) - rec["billsec"]) <= 1.5, (wav_seconds(wav.content), rec["billsec"])
    part = httpx.get(rec["recording_url"], headers={**headers, "Range": "bytes=0-11"})
    assert part.status_code == 206 and part.content == wav.content[:12]
    assert part.headers["content-range"] == f"bytes 0-11/{len(wav.content)}"
    assert httpx.get(rec["recording_url"]).status_code == 401

    events = first_receipts(receiver, "/all", call_id, 6)
    cdr = events[-1]["json"]
    assert cdr["state"] == "cdr" and cdr["recording_url"] == rec["recording_url"]
    assert {e["json"]["customer_id"] for e in events} == {"crm-77"}
    assert_cleaned_up(ari, call_id)


def test_failed_recording_does_not_fail_the_call(api, ari, phones, carriers):
    phone = unique_phone()
    moved = RECORDING_DIR.with_name("recording.off")
    RECORDING_DIR.rename(moved)  # Asterisk cannot write the file: recording fails, the call must not
    try:
        r = api.get("/v1/click2call", params={"ext": "105", "phone": phone, "hotline": HOTLINE_B, "record": "1"})
        assert r.json()["status"] == "success"
        rec = final_record(api, r.json()["call_id"])
    finally:
        moved.rename(RECORDING_DIR)
    assert rec["status"] == "ANSWERED" and rec["billsec"] >= 1
    assert rec["recording_url"] == "" and rec["recording_error"], rec
    fail(api.get(f"/v1/recordings/{r.json()['call_id']}"), 404, "RECORDING_NOT_FOUND")
    fail(api.get("/v1/recordings/../../etc/passwd"), 404, "NOT_FOUND")
    fail(api.get("/v1/recordings/not-a-uuid"), 404, "RECORDING_NOT_FOUND")
    assert_cleaned_up(ari, r.json()["call_id"])


def test_an_asterisk_without_its_recording_directory_is_told_what_to_create(own_service, api, ari, phones,
                                                                             carriers):
    """A stock Debian Asterisk has no <astspooldir>/recording: ARI answers every recording with a bare 500. The
    start-up check and the call's recording_error name the directory to create."""
    spool_recording = "/var/spool/click2call-asterisk/recording"  # astspooldir of the lab's asterisk.conf
    moved = RECORDING_DIR.with_name("recording.off")
    RECORDING_DIR.rename(moved)
    try:
        svc = own_service(C2C_RECORD="true")
        wait_for(lambda: "Asterisk cannot record" in svc.log(), 10, "the start-up check's warning")
        warning = next(line for line in svc.log().splitlines() if "Asterisk cannot record" in line)
        assert f"create {spool_recording}" in warning and "install -d" in warning, warning
        phone = unique_phone()
        r = httpx.get(svc.base + "/v1/click2call", params={"ext": "106", "phone": phone, "hotline": HOTLINE_B},
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert r.json()["status"] == "success", r.text
        rec = wait_for(lambda: (x := httpx.get(f"{svc.base}/v1/cdr/{r.json()['call_id']}",
                                               headers={"Authorization": f"Bearer {TOKEN}"}).json())
                       ["status"] != "IN_PROGRESS" and x, 10, "final record")
    finally:
        moved.rename(RECORDING_DIR)
    assert rec["status"] == "ANSWERED" and rec["recording_url"] == ""
    assert f"create {spool_recording}" in rec["recording_error"], rec["recording_error"]
    assert_cleaned_up(ari, r.json()["call_id"])
    svc.stop()

    svc = own_service(C2C_RECORD="true")  # the directory is back: the check passes and says so
    wait_for(lambda: "Asterisk can record" in svc.log(), 10, "the start-up check's success")
    assert "Asterisk cannot record" not in svc.log()


def test_a_recording_retention_removes_answers_410_and_is_gone_from_asterisk(own_service, carriers, ari, monkeypatch):
    """Retention on a real recording: a pass run a day later, with recordings kept for one day, removes the local
    copy and Asterisk's stored recording; the recording then answers 410 RECORDING_EXPIRED while the record stays."""
    svc = own_service()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    phone = unique_phone()
    call_id = httpx.get(svc.base + "/v1/click2call", params={"ext": "110", "phone": phone, "hotline": HOTLINE_A,
                                                             "record": "true"}, headers=headers, timeout=30
                        ).json()["call_id"]
    invite_to(carriers[HOTLINE_A], phone)
    wait_for(lambda: httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=headers).json()["time_answered"], 5, "answer")
    time.sleep(2)
    httpx.delete(f"{svc.base}/v1/call/{call_id}", headers=headers, timeout=15)
    url = final_record(httpx.Client(base_url=svc.base, headers=headers), call_id)["recording_url"]
    assert httpx.get(url, headers=headers).status_code == 200  # fetched: the service's local copy exists too
    assert ari.get(f"/recordings/stored/{call_id}").status_code == 200
    kept = Path(svc.env["C2C_RECORDINGS_DIR"]) / f"{call_id}.wav"
    assert kept.exists()

    for name, value in svc.env.items():
        if name.startswith("C2C_"):
            monkeypatch.setenv(name, value)
    removed = asyncio.run(_retention_pass_a_day_later())  # as the service's own hourly pass would, on its data
    assert removed[Kept.RECORDINGS] == 1 and removed[Kept.RECORDS] == 0
    assert ari.get(f"/recordings/stored/{call_id}").status_code == 404 and not kept.exists()
    gone = httpx.get(url, headers=headers)
    assert (gone.status_code, gone.json()["status"], gone.json()["error"]) == (410, "fail", "RECORDING_EXPIRED")
    assert httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=headers).json()["recording_url"] == url


async def _retention_pass_a_day_later() -> dict:
    settings = Settings()
    engine = await open_database(settings.database_url)
    write = GroupCommit(engine)
    tls = ari_tls.client_context(settings.ari_ca_file)
    try:
        async with httpx.AsyncClient(verify=tls) as client:
            aris = {n.name: Ari(client, n.ari_url, n.ari_user, n.ari_password, settings.ari_app, None, tls)
                    for n in settings.nodes}
            recordings = Recordings(settings.recordings_dir, CallStore(engine, write=write), aris)
            limits = RetentionDays(records=0, recordings=1, delivered=0, failed=0, stream=0, audit=0)
            return await Retention(engine, write, limits, Metrics(), recordings.remove).run_pass(time.time() + 2 * DAY)
    finally:
        await write.close()
        await engine.dispose()
