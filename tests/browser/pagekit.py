"""What the history, dashboard, hooks and cluster pages' browser tests share: two tenants and an operator, call records
written into the service's database as the service writes them (legs, actions, supervisors, transfers and an
inbound call's agents in their JSON columns), a real wav as a call's recording, and reading figures off a page."""

from __future__ import annotations

import json
import math
import struct
import time
import uuid
import wave
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo


from click2call.db import calls
from click2call.states import CallAction, Party
from click2call.stasis_app.controls import Action
from click2call.stasis_app.inbound_flow import AgentLeg
from click2call.stasis_app.supervision import Supervisor
from click2call.stasis_app.transfers import Mode, Status, Transfer
from click2call.tenants import hash_token
from tests.offline import db

HOTLINE, HOTLINE_2 = "02873000001", "02873000002"
ZONE = "Asia/Ho_Chi_Minh"
OPERATOR = "operator-pages-0123456789"
ACME, BETA = "acme-pages-0123456789", "beta-pages-0123456789"
AGENT = "acme-agent-101-pages-0123456789"  # acme's agent token, bound to extension 101
TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{hash_token(ACME)}"]
extension_pattern = "1[0-9][0-9]"
hotlines = ["{HOTLINE}", "{HOTLINE_2}"]

  [[tenant.token]]
  id = "agent-101"
  token = "{hash_token(AGENT)}"
  extension = "101"

[[tenant]]
name = "beta"
tokens = ["{hash_token(BETA)}"]
extensions = ["201", "202"]
hotlines = ["{HOTLINE}"]
"""
SERVICE_ENV = {"C2C_API_TOKENS": f"{OPERATOR};id=ops", "C2C_HOTLINES": f"{HOTLINE}=trunk-a,{HOTLINE_2}=trunk-b",
               "C2C_TIMEZONE": ZONE}



def insert(url: str, rows: list[dict]) -> list[dict]:
    # One statement for many rows takes its columns from the first: every row is given every column named.
    names = {name for row in rows for name in row}
    db(url, lambda conn: conn.execute(calls.insert(), [{n: row.get(n) for n in names} for row in rows]))
    return rows


def call(created: float, *, status: str = "ANSWERED", ext: str = "101", tenant: str | None = "acme",
         direction: str = "outbound", phone: str = "0899000001", hotline: str = HOTLINE, customer_id: str | None = None,
         talk: int = 30, wait: float = 4.0, recorded: bool = False) -> dict:
    """A finished call record (or one in progress) as the service leaves it: `wait` seconds to the customer's
    answer, then `talk` seconds of talk when answered."""
    call_id = str(uuid.uuid4())
    final = status != "IN_PROGRESS"
    answered = created + 2 + wait if status == "ANSWERED" else None
    ended = (answered + talk if answered else created + 2 + wait) if final else None
    return {
        "call_id": call_id, "direction": direction, "extension": ext, "phone": phone, "hotline": hotline,
        "trunk": "trunk-a", "status": status, "phase": "ended" if final else "connected", "phase_rank": 3,
        "created_at": created, "updated_at": created, "answered_at": answered, "ended_at": ended,
        "duration": round(ended - created) if final else None,
        "billsec": (talk if answered else 0) if final else None, "tenant": tenant, "node": "asterisk",
        "customer_id": customer_id, "hangup_by": "customer" if final else None,
        "cause": 16 if final else None, "cause_txt": "NORMAL_CLEARING" if final else None,
        "agent_created_at": created, "agent_answered_at": created + 2, "agent_sip_call_id": f"agent-{call_id}@lab",
        "customer_created_at": created + 2, "customer_answered_at": answered, "customer_ended_at": ended,
        "customer_sip_call_id": f"customer-{call_id}@lab",
        "recording_url": f"http://127.0.0.1/v1/recordings/{call_id}" if recorded else None,
    }


def eventful(row: dict) -> dict:
    """The record of an inbound call two agents were rung for (102 first, then 101 answered), listened to by a
    supervisor (105) and transferred to 103, with a hold and a DTMF: every kind of leg and action the history shows."""
    t0 = row["created_at"]
    agents = [AgentLeg(ext="102", created=True, gone=True, created_at=t0, ringing_at=t0 + 0.2, ended_at=t0 + 3,
                       cause=19, cause_txt="NO_ANSWER", sip_call_id="rung-102@lab"),
              AgentLeg(ext="101", created=True, answered=True, created_at=t0 + 3, ringing_at=t0 + 3.2,
                       answered_at=t0 + 5, sip_call_id="rung-101@lab")]
    supervisor = Supervisor(ext="105", mode=CallAction.LISTEN, created=True, answered=True, created_at=t0 + 8,
                            answered_at=t0 + 9, sip_call_id="super-105@lab")
    transfer = Transfer(n=1, mode=Mode.BLIND, moving=Party.CUSTOMER, ext="103", by="acme", status=Status.ANSWERED,
                        started_at=t0 + 20, ringing_at=t0 + 20.5, answered_at=t0 + 22)
    actions = [Action(action=CallAction.HOLD, party=Party.CUSTOMER, at=t0 + 10, by="acme"),
               Action(action=CallAction.UNHOLD, party=Party.CUSTOMER, at=t0 + 12, by="acme"),
               Action(action=CallAction.DTMF, party=Party.AGENT, at=t0 + 14, by="", digits="12#"),
               Action(action=CallAction.LISTEN, party=Party.AGENT, at=t0 + 8, by="acme", ext="105")]
    return {**row, "direction": "inbound", "ring_group": "sales", "transferred_to": "103",
            "flow": json.dumps({"agents": [asdict(a) for a in agents]}),
            "joined": json.dumps([asdict(supervisor)]), "transfers": json.dumps([asdict(transfer)]),
            "actions": json.dumps([asdict(a) for a in actions])}


def wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    """A mono 16-bit wav of a 440 Hz tone, as long as asked (the recording a call of that billsec would have)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(int(rate * seconds))))
    return path


def today_start(now: float | None = None) -> float:
    """The epoch of today's midnight in the service's zone."""
    local = datetime.fromtimestamp(now or time.time(), ZoneInfo(ZONE))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def day_key(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(ZONE)).strftime("%Y-%m-%d")


def hour_key(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:00:00")


def days_ago(n: int, hour: int = 12) -> float:
    """`hour` o'clock n days before today, in the service's zone."""
    local = datetime.fromtimestamp(today_start(), ZoneInfo(ZONE)) - timedelta(days=n)
    return local.replace(hour=hour).timestamp()


def figure(scope, test: str, **data: str) -> str:
    """The raw value (data-value) of the one figure `[data-test=test]` with these data-* attributes in `scope`."""
    selector = f"[data-test='{test}']" + "".join(f"[data-{k}='{v}']" for k, v in data.items())
    found = scope.locator(selector)
    assert found.count() == 1, (selector, found.count())
    return found.get_attribute("data-value")


def call_ids(page) -> list[str]:
    """The call ids of the rows the history shows, in order."""
    return page.locator("[data-test=call-row]").evaluate_all("rows => rows.map(r => r.dataset.callId)")
