"""A year of a call centre's records, made up but shaped like real ones, written fast into a click2call database.

About a million calls over 365 days (weekdays busier, office hours in Asia/Ho_Chi_Minh), both directions: click-to-calls
from a CRM (60 %) and inbound calls to hotlines rung through ring groups (40 %), five tenants with a few hundred
extensions between them, Vietnamese mobile numbers for customers (a few call or are called often, most rarely),
landline and 1900/1800 hotlines, customer_ids on most click-to-calls, statuses and durations in the proportions of a
busy centre, and the last calls still in progress. Beside them what the service writes per call: the webhook outbox
(six events, one delivery each, an attempt each and a retry for a few), the live stream's log and the audit trail of
the API's click-to-calls.

The calls are made in Python and written with executemany (SQLite) or COPY (PostgreSQL); the tables beside them are
derived from the calls inside the database (INSERT ... SELECT), which is what keeps a million-call fill to minutes.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

DAY = 86400.0
VN = timezone(timedelta(hours=7))
TENANTS = [  # name, share of the calls, extensions, hotlines, ring groups
    ("sieuthi", 0.34, 100, ["02873001000", "02873001001", "19006868", "02873001002"], 4),
    ("baohiem", 0.24, 75, ["02473002000", "18006010", "02473002001"], 3),
    ("nhakhoa", 0.18, 55, ["02363003000", "02363003001"], 2),
    ("giaoduc", 0.14, 40, ["19001234", "02873004000"], 2),
    ("vantai", 0.10, 30, ["02253005000", "02253005001"], 2),
]
MOBILE = ["032", "033", "034", "035", "036", "037", "038", "039", "056", "058", "059", "070", "076", "077", "078",
          "079", "081", "082", "083", "084", "085", "086", "088", "089", "090", "091", "093", "094", "096", "097", "098"]
OUTBOUND_STATUS = [("ANSWERED", 0.56), ("NO_ANSWER", 0.19), ("BUSY", 0.12), ("CANCELLED", 0.08), ("FAILED", 0.05)]
INBOUND_STATUS = [("ANSWERED", 0.76), ("NO_ANSWER", 0.09), ("CANCELLED", 0.13), ("FAILED", 0.02)]
CAUSE = {"ANSWERED": 16, "NO_ANSWER": 19, "BUSY": 17, "CANCELLED": 16, "FAILED": 38}
CAUSE_TXT = {16: "NORMAL_CLEARING", 17: "USER_BUSY", 19: "NO_ANSWER", 38: "NETWORK_OUT_OF_ORDER"}
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thu Dung", "Hoàng Minh Đức", "Vũ Thị Hà",
         "Đặng Quốc Huy", "Bùi Thanh Lan", "Đỗ Mạnh Long", "Hồ Ngọc Mai", "Ngô Đình Nam", "Dương Thị Phương"]
CUSTOMERS_PER_TENANT = 120_000
IN_PROGRESS = 120  # calls still going on at the end of the year (the live-call list and the monitor)
NODES = ["asterisk-1", "asterisk-2"]


@dataclass
class Tenant:
    name: str
    share: float
    extensions: list[str]
    hotlines: list[str]
    groups: list[tuple[str, list[str], str]]  # name, extensions, its hotline
    token: str = ""


@dataclass
class World:
    """Who is who in the made-up year: the benchmark picks its query parameters from it."""

    tenants: list[Tenant]
    start: float
    end: float
    seed: int
    phones: dict[str, list[str]] = field(default_factory=dict)  # tenant -> a sample of its customers' numbers


def world(seed: int = 17, end: float | None = None) -> World:
    rng = random.Random(seed)
    end = end if end is not None else float(int(time.time()))
    tenants = []
    for i, (name, share, n_ext, hotlines, n_groups) in enumerate(TENANTS):
        exts = [f"{i + 1}{n:03d}" for n in range(1, n_ext + 1)]
        per = len(exts) // n_groups
        groups = [(f"{name}-{g + 1}", exts[g * per:(g + 1) * per], hotlines[g % len(hotlines)])
                  for g in range(n_groups)]
        tenants.append(Tenant(name, share, exts, hotlines, groups, token=f"{rng.getrandbits(128):032x}"))
    return World(tenants, end - 365 * DAY, end, seed)


def phone_of(tenant: int, customer: int) -> str:
    """A customer's mobile number: a Vietnamese prefix and seven digits, the same every time for the same customer."""
    h = (customer * 2654435761 + tenant * 97) % 10**9
    return MOBILE[h % len(MOBILE)] + f"{(h // len(MOBILE)) % 10**7:07d}"


def customer(rng: random.Random) -> int:
    """Skewed: a few customers call and are called often, most once or twice a year."""
    return int(CUSTOMERS_PER_TENANT * rng.random() ** 2.2)


def _times(rng: random.Random, n: int, start: float) -> list[float]:
    """n moments over the year, in order: weekdays busier than Saturday, Sunday quiet, office hours (VN time)."""
    weights = []
    for d in range(365):
        wd = datetime.fromtimestamp(start + d * DAY, VN).weekday()
        weights.append(1.0 if wd < 5 else 0.45 if wd == 5 else 0.12)
    days = rng.choices(range(365), weights=weights, k=n)
    out = []
    base = datetime.fromtimestamp(start, VN).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    for d in days:
        if rng.random() < 0.94:
            hour = rng.triangular(7.5, 18.5, 10.0)
        else:
            hour = rng.uniform(0, 24)
        out.append(base + d * DAY + hour * 3600 + rng.random())
    out.sort()
    return out


def _choice(rng: random.Random, table: list[tuple[str, float]]) -> str:
    x, acc = rng.random(), 0.0
    for value, p in table:
        acc += p
        if x < acc:
            return value
    return table[-1][0]


def _sip(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}@10.20.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def calls(w: World, n: int, columns: list[str]) -> list[tuple]:
    """The year's calls as rows of `columns` (the calls table's), oldest first."""
    rng = random.Random(w.seed)
    shares = [t.share for t in w.tenants]
    times = _times(rng, n - IN_PROGRESS, w.start)
    live_from = w.end - 300
    times += sorted(rng.uniform(live_from, w.end - 1) for _ in range(IN_PROGRESS))
    busy: set[str] = set()
    rows = []
    for k, created in enumerate(times):
        ti = rng.choices(range(len(w.tenants)), weights=shares)[0]
        t = w.tenants[ti]
        cust = customer(rng)
        phone = phone_of(ti, cust)
        if k % 50 == 0:
            w.phones.setdefault(t.name, []).append(phone)
        live = k >= n - IN_PROGRESS
        inbound = rng.random() < 0.4
        r = dict.fromkeys(columns)
        r.update(call_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), created_at=created,
                 tenant=t.name, node=NODES[ti % 2], trunk=f"trunk-{t.name}", phone=phone,
                 agent_sip_call_id=_sip(rng), customer_sip_call_id=_sip(rng), actions="[]", joined="[]",
                 transfers="[]")
        if inbound:
            gname, gexts, gline = t.groups[rng.randrange(len(t.groups))]
            status = "IN_PROGRESS" if live else _choice(rng, INBOUND_STATUS)
            ext = rng.choice(gexts) if status in ("ANSWERED", "IN_PROGRESS") else ""
            if live and (ext in busy or not ext):
                ext = next((e for e in gexts if e not in busy), "")
            if live:
                busy.add(ext)
            rung = rng.sample(gexts, min(len(gexts), rng.randint(1, 4)))
            if ext and ext not in rung:
                rung[-1] = ext
            r.update(direction="inbound", extension=ext, hotline=gline, ring_group=gname,
                     src_cid_name=rng.choice(NAMES) if rng.random() < 0.3 else None, src_cid_number=phone,
                     ring_timeout=20, auto_answer=False, flow=rung)
        else:
            ext = rng.choice(t.extensions)
            while live and ext in busy:
                ext = rng.choice(t.extensions)
            status = "IN_PROGRESS" if live else _choice(rng, OUTBOUND_STATUS)
            if live:
                busy.add(ext)
            hotline = t.hotlines[0] if rng.random() < 0.7 else rng.choice(t.hotlines)
            r.update(direction="outbound", extension=ext, hotline=hotline, src_cid_name="Click2Call",
                     src_cid_number=ext, dest_cid_number=hotline, dest_cid_name=None,
                     customer_id=f"{t.name}:{cust}" if rng.random() < 0.75 else None, token=t.token[:32],
                     auto_answer=rng.random() < 0.3, ring_timeout=30, dial_timeout=60,
                     record_url=None)
        ring = rng.uniform(3, 25)
        r["agent_created_at"] = created
        r["agent_ringing_at"] = created + 0.3
        if status == "IN_PROGRESS":
            r.update(status=status, phase="connected", phase_rank=3, claimed_by=NODES[ti % 2],
                     agent_answered_at=created + ring, customer_created_at=created + ring,
                     customer_answered_at=created + ring + 4, answered_at=created + ring + 4, updated_at=created)
        else:
            answered = status == "ANSWERED"
            talk = min(7200.0, rng.lognormvariate(4.4, 1.0)) if answered else 0.0
            ended = created + ring + (4 + talk if answered else rng.uniform(0, 30))
            cause = CAUSE[status]
            r.update(status=status, phase="ended", phase_rank=5, ended_at=ended,
                     duration=max(0, round(ended - created)), billsec=round(talk) if answered else 0,
                     answered_at=created + ring + 4 if answered else None,
                     hangup_by=rng.choice(["agent", "customer"]) if answered else
                     ("api" if status == "CANCELLED" and rng.random() < 0.3 else "system" if status == "FAILED"
                      else "customer"),
                     cause=cause, cause_txt=CAUSE_TXT[cause], agent_ended_at=ended, agent_cause=16,
                     agent_cause_txt="NORMAL_CLEARING", customer_created_at=created + ring,
                     customer_ringing_at=created + ring + 1, customer_answered_at=created + ring + 4 if answered
                     else None, customer_ended_at=ended, customer_cause=cause, customer_cause_txt=CAUSE_TXT[cause],
                     agent_answered_at=created + ring if answered or not inbound else None, updated_at=ended + 0.2,
                     result="success" if not inbound and answered else None)
            if answered and rng.random() < 0.25:
                r["recording_url"] = f"https://c2c.example.vn/v1/recordings/{r['call_id']}"
        if inbound:
            r["flow"] = _flow(rng, r, gname, rung)
        rows.append(tuple(r[c] for c in columns))
    return rows


def _flow(rng: random.Random, r: dict, group: str, rung: list[str]) -> str:
    """An inbound call's flow state as inbound_rows.flow_json writes it: the group and every agent leg rung."""
    created, ended = r["created_at"], r["ended_at"]
    legs = []
    for e in rung:
        answered = e == r["extension"]
        legs.append({"created": True, "bridged": False, "ringing": True, "answered": answered, "gone": ended is not None,
                     "cause": 16 if answered else 26, "cause_txt": None, "sip_call_id": _sip(rng),
                     "created_at": created + 0.2, "ringing_at": created + 0.4,
                     "answered_at": r["agent_answered_at"] if answered else None,
                     "ended_at": ended if answered else (created + 8 if ended else None), "ext": e})
    answered_by = next((i for i, e in enumerate(rung) if e == r["extension"]), None)
    return json.dumps({"channel": f"{rng.getrandbits(40):x}.1", "caller_name": "",
                       "group": {"name": group, "extensions": rung, "strategy": "ringall", "ring_seconds": 20,
                                 "timeout": 60, "no_answer": "hangup", "prompt": None, "continue_to": None,
                                 "sticky_days": 7, "sticky_seconds": 15, "hotlines": [r["hotline"]],
                                 "tenant": r["tenant"]},
                       "agents": legs, "step": "group", "answered_by": answered_by, "failed": False},
                      separators=(",", ":"))


EVENTS = ["ringing", "answered", "ringing", "answered", "hangup", "cdr"]


def side_sql(dialect: str, per_call: int) -> list[str]:
    """Statements that derive the tables beside the calls from them, inside the database: hooks, the outbox (events,
    deliveries, attempts), the live stream's log and the audit trail of the API's click-to-calls."""
    pg = dialect == "postgresql"
    concat = (lambda *xs: " || ".join(xs))
    series = (f"(SELECT generate_series(1, {per_call}) AS n) AS s" if pg else
              f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {per_call}) "
              "SELECT n FROM s) AS s")
    event = "(CASE s.n WHEN 1 THEN 'ringing' WHEN 2 THEN 'answered' WHEN 3 THEN 'ringing' WHEN 4 THEN 'answered' " \
            "WHEN 5 THEN 'hangup' ELSE 'cdr' END)"
    cast = (lambda x: f"CAST({x} AS TEXT)")
    body = concat("'{\"call_id\":\"'", "c.call_id", "'\",\"direction\":\"'", "c.direction",
                  "'\",\"from_number\":\"'", "c.hotline", "'\",\"to_number\":\"'", "c.phone",
                  "'\",\"hotline\":\"'", "c.hotline", "'\",\"state\":\"'", event, "'\",\"customer_id\":\"'",
                  "COALESCE(c.customer_id, '')", "'\",\"timestamp\":'", cast("c.created_at + s.n"),
                  "',\"sequence\":'", cast("s.n"), "',\"status\":\"'", "c.status", "'\"}'")
    hook = concat("'hook-'", "c.tenant")
    event_id = concat("c.call_id", "'.'", cast("s.n"))
    delivery_id = concat(event_id, "'.d'")
    failed = "(s.n = 6 AND substr(c.call_id, 1, 2) = '00')"  # about 1 in 256 calls: a cdr delivery that failed
    return [
        "INSERT INTO hooks (id, event, callback_url, created_at, tenant, configured) "
        "SELECT DISTINCT " + concat("'hook-'", "tenant") + ", 'all', " +
        concat("'https://crm.'", "tenant", "'.example.vn/c2c'") + ", 0, tenant, " +
        ("true" if pg else "1") + " FROM calls",
        f"INSERT INTO webhook_events (id, call_id, sequence, event, body, created_at) "
        f"SELECT {event_id}, c.call_id, s.n, {event}, {body}, c.created_at + s.n FROM calls c, {series}",
        f"INSERT INTO deliveries (id, event_id, hook_id, call_id, sequence, status, attempts, next_attempt_at, "
        f"created_at, delivered_at, last_status_code, last_error) "
        f"SELECT {delivery_id}, {event_id}, {hook}, c.call_id, s.n, "
        f"CASE WHEN {failed} THEN 'failed' ELSE 'delivered' END, CASE WHEN {failed} THEN 9 ELSE 1 END, "
        f"c.created_at + s.n, c.created_at + s.n, CASE WHEN {failed} THEN NULL ELSE c.created_at + s.n + 0.05 END, "
        f"CASE WHEN {failed} THEN 503 ELSE 200 END, CASE WHEN {failed} THEN 'HTTP 503' ELSE NULL END "
        f"FROM calls c, {series}",
        "INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, error, duration_ms) "
        "SELECT id, created_at + 0.01, last_status_code, last_error, 40 FROM deliveries",
        "INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, error, duration_ms) "
        "SELECT id, created_at + 60 * attempts, 503, 'HTTP 503', 35 FROM deliveries WHERE status = 'failed'",
        f"INSERT INTO stream_events (tenant, extension, event, call_id, sequence, body, created_at) "
        f"SELECT c.tenant, c.extension, {event}, c.call_id, s.n, {body}, c.created_at + s.n FROM calls c, {series}",
        "INSERT INTO audit (at, token_id, tenant, client, action, call_id, extension, target, status, error, detail) "
        "SELECT created_at, " + concat("'tok-'", "tenant") + ", tenant, '10.20.0.7', 'click_to_call', call_id, "
        "extension, phone, 200, NULL, '{}' FROM calls WHERE direction = 'outbound'",
    ]


def presence_rows(w: World, live: list[tuple[str, str, str, str, float]], now: float) -> list[dict]:
    """Every extension's presence on its node: registered (most), idle or on the call it has in progress."""
    rng = random.Random(w.seed + 1)
    on_call = {ext: (call_id, phone, direction, created) for call_id, ext, phone, direction, created in live}
    rows = []
    for ti, t in enumerate(w.tenants):
        for ext in t.extensions:
            call = on_call.get(ext)
            rows.append(dict(
                node=NODES[ti % 2], extension=ext, registered=call is not None or rng.random() < 0.85,
                contact=f"sip:{ext}@10.20.{ti}.{rng.randrange(1, 255)}:5060", user_agent="Zoiper rv2.10.20",
                network_ip=f"10.20.{ti}.{rng.randrange(1, 255)}", registered_since=now - rng.uniform(600, 30000),
                call_state="ONCALL" if call else "IDLE", call_id=call[0] if call else None,
                destination=call[1] if call else None, direction=call[2] if call else None,
                state_since=call[3] if call else now - rng.uniform(1, 900), idle_since=now - rng.uniform(1, 900),
                updated_at=now))
    return rows


def paused_rows(w: World, now: float) -> list[dict]:
    rng = random.Random(w.seed + 2)
    return [dict(extension=ext, paused=True, paused_at=now - 300, reason="lunch", updated_at=now)
            for t in w.tenants for ext in t.extensions if rng.random() < 0.08]
