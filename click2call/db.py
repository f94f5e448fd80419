"""The database: schema, engine, migrations. SQLite by default, PostgreSQL by URL, one code path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = sa.MetaData()


def _sqlite_from_hint(self, table, text):  # noqa: ARG001 (SQLAlchemy's signature)
    return text


# SQLite's own table hint, INDEXED BY, as `select.with_hint(table, "INDEXED BY ix", dialect_name="sqlite")` writes it
# (SQLAlchemy's SQLite dialect leaves table hints out): where SQLite, without statistics of the real spread, would
# choose an index that reads ten times as much (stats.py).
SQLiteCompiler.get_from_hint_text = _sqlite_from_hint

calls = sa.Table(
    "calls", metadata,
    sa.Column("call_id", sa.String(64), primary_key=True),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("extension", sa.String(40), nullable=False),
    sa.Column("phone", sa.String(21), nullable=False),
    sa.Column("hotline", sa.String(21), nullable=False),
    sa.Column("trunk", sa.String(64), nullable=False),
    sa.Column("src_cid_name", sa.String(64)),
    sa.Column("src_cid_number", sa.String(21)),
    sa.Column("dest_cid_name", sa.String(64)),
    sa.Column("dest_cid_number", sa.String(21)),
    sa.Column("customer_id", sa.String(64)),
    # IN_PROGRESS, then one of ANSWERED, BUSY, NO_ANSWER, FAILED, CANCELLED (never changed again)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("phase_rank", sa.Integer, nullable=False),  # updates never move a call to an earlier phase
    sa.Column("created_at", sa.Float, nullable=False),  # epoch seconds
    sa.Column("answered_at", sa.Float),  # the customer answered (billsec counts from here)
    sa.Column("ended_at", sa.Float),
    sa.Column("duration", sa.Integer),
    sa.Column("billsec", sa.Integer),
    sa.Column("hangup_by", sa.String(16)),
    sa.Column("cause", sa.Integer),
    sa.Column("cause_txt", sa.String(64)),
    sa.Column("result", sa.String(32)),  # the sync API's answer: success or an error code
    *[
        sa.Column(f"{leg}_{name}", kind)
        for leg in ("agent", "customer")
        for name, kind in (
            ("sip_call_id", sa.String(255)), ("created_at", sa.Float), ("ringing_at", sa.Float),
            ("answered_at", sa.Float), ("ended_at", sa.Float), ("cause", sa.Integer), ("cause_txt", sa.String(64)),
        )
    ],
    sa.Column("recording_url", sa.String(255)),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("recording_error", sa.String(255)),  # 0003
    sa.Column("agent_channel", sa.String(255)),  # 0003: a dialplan handoff's agent channel (Asterisk's id)
    sa.Column("tenant", sa.String(64)),  # 0004: whose call (C2C_TENANTS_FILE); NULL: the operator's
    sa.Column("node", sa.String(64)),  # 0005: the Asterisk node the call runs on
    # 0005: the token that placed it (ratelimit.key: a digest, never the token); NULL for a dialplan handoff
    sa.Column("token", sa.String(32)),
    # 0005: what the replica that starts the call must know of the request (it may not be the one that took it)
    sa.Column("auto_answer", sa.Boolean),
    sa.Column("ring_timeout", sa.Integer),
    sa.Column("dial_timeout", sa.Integer),
    sa.Column("record_url", sa.String(255)),  # where the recording will be served, when one is asked for
    sa.Column("claimed_by", sa.String(64)),  # 0005: the replica that runs the call; NULL: not started yet
    sa.Column("ring_group", sa.String(64)),  # 0006: the ring group an inbound call rang
    sa.Column("flow", sa.Text),  # 0006: an inbound call's flow state (its agent legs), JSON
    sa.Column("actions", sa.Text),  # 0007: what was done to the call (hold, mute, DTMF...), JSON
    sa.Column("joined", sa.Text),  # 0007: the legs that joined it (supervisors), JSON
    sa.Column("transfers", sa.Text),  # 0008: every transfer of the call (transfers.transfers_json), JSON
    sa.Column("transferred_to", sa.String(64)),  # 0008: the last transfer target that answered
    sa.Column("recording_removed_at", sa.Float),  # 0013: its recording was removed by retention (410 from then on)
    sa.Index("ix_calls_created_at", "created_at", "call_id"),
    sa.Index("ix_calls_agent_sip_call_id", "agent_sip_call_id"),
    sa.Index("ix_calls_customer_sip_call_id", "customer_sip_call_id"),
    sa.Index("ix_calls_recording_kept", "created_at",  # 0013: the recordings retention still has to look at
             sqlite_where=sa.text("recording_url IS NOT NULL AND recording_removed_at IS NULL"),
             postgresql_where=sa.text("recording_url IS NOT NULL AND recording_removed_at IS NULL")),
    # 0012: what GET /v1/stats reads of a period's calls, so that it reads the index alone (stats.py)
    sa.Index("ix_calls_stats", "created_at", "tenant", "status", "direction", "extension", "hotline", "ring_group",
             "answered_at", "customer_created_at", "billsec"),
    # 0014: each filter that picks few calls out of many gives them newest first (a page stops at its limit, a
    # keyset page starts where the last one ended); the phone's also serves the sticky agent (a caller's last calls).
    # 0017: with duration and tenant (an extension with min_duration; an agent token's, its tenant's too)
    sa.Index("ix_calls_extension_created", "extension", "created_at", "call_id", "duration", "tenant"),
    sa.Index("ix_calls_status_created", "status", "created_at", "call_id", "duration"),  # a total with min_duration
    sa.Index("ix_calls_tenant_created", "tenant", "created_at", "call_id"),
    sa.Index("ix_calls_phone_created", "phone", "created_at", "call_id"),
    # phone: its hotline side; 0017: tenant and status (a tenant's hotline with a status, counted in the index)
    sa.Index("ix_calls_hotline_created", "hotline", "created_at", "call_id", "phone", "tenant", "status"),
    sa.Index("ix_calls_customer_created", "customer_id", "created_at", "call_id"),
    # 0017: a total's part duration band (tallies.py) counted in the index
    sa.Index("ix_calls_duration", "duration", "created_at", "status", "tenant"),
    sa.Index("ix_calls_extension_ended", "extension", "ended_at"),  # an agent's last call end (longest_idle)
    sa.Index("ix_calls_tenant_status", "tenant", "status", "created_at", "call_id", "duration"),  # a tenant's token
    # 0014: the calls in progress, a few rows however many the year had (queries name the status as a literal)
    sa.Index("ix_calls_live", "status", "created_at", sqlite_where=sa.text("status = 'IN_PROGRESS'"),
             postgresql_where=sa.text("status = 'IN_PROGRESS'")),
    # One click-to-call per extension at a time, across every replica: the database says USER_BUSY.
    sa.Index("ux_calls_busy_extension", "extension", unique=True,
             sqlite_where=sa.text("status = 'IN_PROGRESS' AND token IS NOT NULL"),
             postgresql_where=sa.text("status = 'IN_PROGRESS' AND token IS NOT NULL")),
    sa.Index("ix_calls_token_active", "token",
             sqlite_where=sa.text("status = 'IN_PROGRESS'"), postgresql_where=sa.text("status = 'IN_PROGRESS'")),
)

# The calls in progress, with the status as a literal: a bound value would not let the planners use ix_calls_live.
LIVE = calls.c.status == sa.literal_column("'IN_PROGRESS'")

# 0017: the calls of each UTC day that has ended, counted per tenant, status and duration band (tallies.py), so that a
# CDR total over months is a sum of tallies, not a count of every record. A day is in tally_days once it is counted;
# its tallies are written in the same transaction.
call_tallies = sa.Table(
    "call_tallies", metadata,
    sa.Column("day", sa.Integer, primary_key=True),  # floor(created_at / 86400)
    sa.Column("tenant", sa.String(64), primary_key=True),  # '' for calls of no tenant
    sa.Column("status", sa.String(16), primary_key=True),
    sa.Column("band", sa.Integer, primary_key=True),  # tallies.BANDS: the band the duration falls in; -1: none
    sa.Column("calls", sa.Integer, nullable=False),
)
tally_days = sa.Table(
    "tally_days", metadata,
    sa.Column("day", sa.Integer, primary_key=True),
    sa.Column("counted_at", sa.Float, nullable=False),
)

# 0017: the statistics' sums of each local day (of a time zone) that has ended, per tenant, direction and status
# (stats.py), so that a month's or a year's figures by day or tenant are sums of these. stat_days lists the days
# counted, for each zone: a day is counted, or not, whole.
stat_tallies = sa.Table(
    "stat_tallies", metadata,
    sa.Column("day", sa.Integer, primary_key=True),  # floor((created_at + the zone's offset) / 86400)
    sa.Column("zone", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), primary_key=True),  # '' for calls of no tenant
    sa.Column("direction", sa.String(16), primary_key=True),
    sa.Column("status", sa.String(16), primary_key=True),
    sa.Column("calls", sa.Integer, nullable=False),
    sa.Column("waits", sa.Integer, nullable=False),  # calls with an answer time
    sa.Column("wait_in", sa.Float),  # sums of answer time minus start, and minus the customer's dialling
    sa.Column("wait_out", sa.Float),
    sa.Column("talk", sa.BigInteger),  # sum of billsec
)
stat_days = sa.Table(
    "stat_days", metadata,
    sa.Column("day", sa.Integer, primary_key=True),
    sa.Column("zone", sa.String(64), primary_key=True),
    sa.Column("counted_at", sa.Float, nullable=False),
)

# 0019: web console sessions signed out of before they expired (console_session.SignOuts), kept until they would.
console_signouts = sa.Table(
    "console_signouts", metadata,
    sa.Column("nonce", sa.String(32), primary_key=True),
    sa.Column("until", sa.Float, nullable=False),
)

# 0005: the cluster. Each Asterisk node's event stream is run by one replica at a time, under a lease that the
# replica renews; `epoch` grows at every change of owner (the fence: a replica writes for a node's calls only
# while it still owns the node at the epoch it took it with).
asterisk_nodes = sa.Table(
    "asterisk_nodes", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64)),  # a replica's id; NULL: nobody
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("lease_until", sa.Float, nullable=False),  # the database's clock, epoch seconds
    sa.Column("reachable", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

replicas = sa.Table(
    "replicas", metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # new at every start
    sa.Column("name", sa.String(255), nullable=False),  # host:port, for people
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)

# Requests for a call that another replica runs (e.g. a hangup through the API): kept until done, so that a
# request made while the owner changes is carried out by the next one.
call_requests = sa.Table(
    "call_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("by", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    sa.Column("params", sa.Text),  # 0007: a control's parameters (JSON)
    sa.Column("result", sa.String(32)),  # 0007: how it went: "success" or an error code
    sa.Column("message", sa.String(255)),
    sa.Index("ix_call_requests_call", "call_id"),
)


# 0006: agents. Pause is cluster-wide (a paused agent is not rung by ring groups); presence is per node, written by
# the replica that runs the node from its ARI endpoint and contact events, and read by every replica's monitor.
agents = sa.Table(
    "agents", metadata,
    sa.Column("extension", sa.String(40), primary_key=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("paused_at", sa.Float),
    sa.Column("reason", sa.String(255)),
    sa.Column("updated_at", sa.Float, nullable=False),
)

agent_presence = sa.Table(
    "agent_presence", metadata,
    sa.Column("node", sa.String(64), primary_key=True),
    sa.Column("extension", sa.String(40), primary_key=True),
    sa.Column("registered", sa.Boolean, nullable=False),
    sa.Column("contact", sa.String(512)),  # the registered contact's URI
    sa.Column("user_agent", sa.String(255)),
    sa.Column("network_ip", sa.String(64)),
    sa.Column("registered_since", sa.Float),
    sa.Column("call_state", sa.String(16), nullable=False),  # IDLE, RINGING, ONCALL
    sa.Column("call_id", sa.String(64)),
    sa.Column("destination", sa.String(64)),
    sa.Column("direction", sa.String(16)),
    sa.Column("state_since", sa.Float, nullable=False),
    sa.Column("idle_since", sa.Float),  # the end of its last call (ring groups' longest_idle)
    sa.Column("updated_at", sa.Float, nullable=False),
)

# 0006: the live event stream's log (GET /v1/stream): every call event (the webhook payloads) and agent event, at a
# position that grows in commit order, so a client resuming from Last-Event-ID misses nothing.
POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
stream_events = sa.Table(
    "stream_events", metadata,
    # 64 bits on PostgreSQL (a busy log passes 2**31); on SQLite the rowid, AUTOINCREMENT so that a position is
    # never handed out twice, even after the newest rows were deleted (a client may hold it as its Last-Event-ID).
    sa.Column("position", POSITION, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(64)),  # NULL: the operator's
    sa.Column("extension", sa.String(40)),  # the agent it is about, for the stream's extension filter
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("call_id", sa.String(64)),
    sa.Column("sequence", sa.Integer),  # a call event's sequence in its call
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_stream_events_call", "call_id", "sequence"),
    sa.Index("ix_stream_events_created_at", "created_at"),
    sqlite_autoincrement=True,
)


# 0009: the audit trail: every state-changing request (refused ones too), who asked (the token's id, never the token)
# and how it ended. Never changed through the API; rows older than C2C_AUDIT_RETENTION_DAYS are removed (audit.py).
audit = sa.Table(
    "audit", metadata,
    sa.Column("id", POSITION, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),  # epoch seconds
    sa.Column("token_id", sa.String(64), nullable=False),
    sa.Column("tenant", sa.String(64)),  # NULL: the operator's token
    sa.Column("client", sa.String(64)),  # the client's address as the service saw it
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("call_id", sa.String(64)),
    sa.Column("extension", sa.String(40)),  # the extension it was for (a click-to-call's agent, a pause's)
    sa.Column("target", sa.String(255)),  # what it aimed at: a transfer's target, a supervisor, a hook, a delivery
    sa.Column("status", sa.Integer, nullable=False),  # the HTTP status answered
    sa.Column("error", sa.String(32)),  # the error code of a refusal
    sa.Column("detail", sa.Text),  # JSON: what else the request said (legs, mode...)
    sa.Index("ix_audit_at", "at"),
    sa.Index("ix_audit_tenant", "tenant", "id"),
    sa.Index("ix_audit_call", "call_id"),
)

# Webhook subscriptions (POST /v1/event). The static default hook (C2C_WEBHOOK_URL) is not stored: its
# deliveries use the hook_id DEFAULT_HOOK.
hooks = sa.Table(
    "hooks", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("callback_url", sa.String(2048), nullable=False),
    # 0010: Text, as they are stored encrypted (secret_box.py; a plain value from before until it is sealed)
    sa.Column("callback_apikey", sa.Text),
    sa.Column("secret", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("disabled_at", sa.Float),
    sa.Column("disabled_reason", sa.String(255)),
    # 0004: the tenant whose calls it receives; NULL: the operator's hook, for every call
    sa.Column("tenant", sa.String(64)),
    sa.Column("configured", sa.Boolean, nullable=False, server_default=sa.false()),  # from C2C_TENANTS_FILE
    sa.Index("ix_hooks_event", "event"),
)
# Seconds a copy of the hook table (the outbox's subscribers, the dispatcher's targets) is trusted; a change made
# through this instance is seen at once.
HOOKS_TTL = 1.0

# The outbox: one row per event, written in the transaction of the call-record change that caused it.
webhook_events = sa.Table(
    "webhook_events", metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the webhook-id receivers de-duplicate on
    sa.Column("call_id", sa.String(64), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the exact JSON sent, so every retry sends the same bytes
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("call_id", "sequence", name="uq_webhook_events_call_sequence"),
    sa.Index("ix_webhook_events_created_at", "created_at"),  # 0013: retention
)

# One delivery per (event, hook): its state and schedule; attempts keep the history.
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("hook_id", sa.String(64), nullable=False),
    sa.Column("call_id", sa.String(64), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.String(255)),
    sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_deliveries_order", "hook_id", "call_id", "sequence"),
    sa.Index("ix_deliveries_done", "status", "created_at"),  # 0013: retention, by status and age
    sa.Index("ix_deliveries_event", "event_id"),  # 0013: an event is removed once no delivery refers to it
)

delivery_attempts = sa.Table(
    "delivery_attempts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(64), nullable=False),
    sa.Column("attempted_at", sa.Float, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.String(255)),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    # 0018: the start of what a receiver answered with other than 2xx (its text: why it refused, to whoever debugs)
    sa.Column("answer", sa.String(255)),
    sa.Index("ix_delivery_attempts_delivery", "delivery_id"),
)

DEFAULT_HOOK = "default"
MIGRATION_LOCK = 0x6332_6D69  # "c2mi": the advisory lock held while a replica migrates the schema
RETENTION_LOCK = 0x6332_7265  # "c2re": held by the replica running a retention pass (the others skip theirs)


def async_url(url: str) -> str:
    """`sqlite:///file.db` / `postgresql://...` -> the async driver's URL."""
    if url.startswith("sqlite:"):
        return url.replace("sqlite:", "sqlite+aiosqlite:", 1)
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers (the CDR API) run beside the writer; FULL sync: a record written is on disk.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _upgrade(connection: sa.Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


T = TypeVar("T")


class GroupCommit:
    """Durable writes that queue while a commit is under way go into the next transaction together: one commit
    (one fsync) for the lot instead of one each. Alone, a write still goes at once. Under load most of a call's
    cost was its separate commits (eight for the record, two per webhook delivery).

        result = await write(work)   # work(conn) runs inside the shared transaction; its result comes back

    A work is a plain function of a synchronous Connection. On SQLite the whole batch runs in one call to the
    writer's own thread, on its own connection: through aiosqlite every statement was some seven hand-offs between
    threads, and those hand-offs were most of a call's CPU (a call with webhooks writes ~30 statements). On
    PostgreSQL the batch runs through run_sync on the async engine.
    """

    def __init__(self, engine: AsyncEngine, most: int = 64) -> None:
        self.engine = engine
        self.most = most  # writes in one transaction at most
        self._queue: list[tuple[Callable[[sa.Connection], object], asyncio.Future]] = []
        self._committer: asyncio.Task | None = None
        self.commits = 0  # transactions committed (each one fsync)
        self._sqlite: sa.Engine | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = sa.create_engine(engine.url.set(drivername="sqlite"), pool_size=1, max_overflow=0,
                                            pool_reset_on_return=None)
            sa.event.listen(self._sqlite, "connect", _sqlite_pragmas)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def __call__(self, work: Callable[[sa.Connection], T] | Many) -> T:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="group-commit")
        return await future

    async def _transaction(self, works: list[Callable[[sa.Connection], object]]) -> list:
        if self._sqlite is None:
            async with self.engine.begin() as conn:
                results = await conn.run_sync(_run_all, works)
        else:
            results = await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite_transaction, works)
        self.commits += 1
        return results

    def _sqlite_transaction(self, works: list[Callable[[sa.Connection], object]]) -> list:
        with self._sqlite.begin() as conn:
            return _run_all(conn, works)

    async def _commit_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:self.most], self._queue[self.most:]
            try:
                results = await self._transaction([work for work, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc=exc)
                    continue
                # One failing write must not fail the others: each on its own, so only it reports its error.
                for work, future in batch:
                    try:
                        _settle(future, (await self._transaction([work]))[0])
                    except Exception as exc:
                        _settle(future, exc=exc)
                continue
            for (_, future), result in zip(batch, results):
                _settle(future, result)

    async def close(self) -> None:
        """After the last write."""
        if self._sqlite is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite.dispose)
            self._thread.shutdown()


@dataclass(frozen=True)
class Many:
    """A work that is one item of a statement for many: the items of one transaction go to one run(conn, items),
    one executemany instead of a statement each (after the transaction's other works).

        await write(Many(record_outcomes, item))
    """
    run: Callable[[sa.Connection, list], None]
    item: object


def _run_all(conn: sa.Connection, works: list) -> list:
    results, many = [], {}
    for work in works:
        if isinstance(work, Many):
            many.setdefault(work.run, []).append(work.item)
            results.append(None)
        else:
            results.append(work(conn))
    for run, items in many.items():
        run(conn, items)
    return results


def _settle(future: asyncio.Future, result=None, exc: BaseException | None = None) -> None:
    if future.done():  # the writer stopped waiting (cancelled); its write stands
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


async def open_database(url: str) -> AsyncEngine:
    """Create the engine and bring the schema to the newest migration."""
    url = async_url(url)
    if url.startswith("sqlite"):
        # SQLite has one writer at a time: several pooled connections only make our own transactions wait on each
        # other in SQLite's busy handler (sleeps of up to 100 ms), which is not fair either: with 200 calls writing
        # at once some writers starved past busy_timeout ("database is locked", a call refused). One connection
        # queues them, first come first served, without sleeping; a file needs no liveness ping before each use.
        # No rollback when a connection goes back to the pool either: closing a Connection already ends its
        # transaction, so that was one more trip to the driver's thread per transaction.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=120, pool_reset_on_return=None)
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(url, pool_pre_ping=True)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # replicas starting together: one migrates, the others then see it done
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        await conn.run_sync(_upgrade)
    return engine
