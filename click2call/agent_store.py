"""Agents in the database: pause state (cluster-wide, `agents`), presence per node (`agent_presence`, written by the
replica that runs the node), and the live stream's agent events, appended in the transaction of the change.

Every replica reads them: the monitor, and the inbound flow's choice of agents (`available`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from . import event_log
from .stasis_app import ids
from .db import LIVE, GroupCommit, agent_presence, agents, calls
from .schema.agents import AgentStreamEvent
from .states import AgentCallState, AgentEvent
from .stasis_app.presence import Presence

# The tenant an extension belongs to (Directory.owner_of(ext).name; None: the operator's).
TenantOf = Callable[[str], "str | None"]


@dataclass(frozen=True)
class AgentAvailability:
    """What the inbound flow needs to choose whom to ring on a node."""

    registered: bool
    paused: bool
    call_state: AgentCallState
    idle_since: float | None  # the end of its last call (longest_idle); None: none seen


@dataclass(frozen=True)
class Change:
    """A presence to write, and what the stream is told of it; `forget`: the endpoint is gone, its row goes too."""

    presence: Presence
    told: tuple[AgentEvent, ...] = ()
    forget: bool = False


_CALL_OF = sa.select(calls.c.call_id, calls.c.phone, calls.c.direction).where(
    calls.c.extension == sa.bindparam("ext"), LIVE,
).order_by(calls.c.created_at.desc()).limit(1)
_CALL = sa.select(calls.c.call_id, calls.c.phone, calls.c.direction).where(calls.c.call_id == sa.bindparam("call_id"))
_PAUSED = sa.select(agents.c.extension).where(agents.c.extension.in_(sa.bindparam("exts", expanding=True)),
                                              agents.c.paused.is_(True))
_FORGET = agent_presence.delete().where(agent_presence.c.node == sa.bindparam("_node"),
                                        agent_presence.c.extension == sa.bindparam("_ext"))


def _upsert(conn: sa.Connection, table: sa.Table, keys: list[str], rows: list[dict]) -> None:
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    columns = [c for c in rows[0] if c not in keys]
    conn.execute(insert.on_conflict_do_update(index_elements=keys, set_={c: insert.excluded[c] for c in columns}),
                 rows)


def presence_of_row(row: dict) -> Presence:
    """A node's presence as last written (its channels are not kept: the next (re)connect lists them)."""
    return Presence(
        ext=row["extension"], online=bool(row["registered"]), contact=row["contact"] or "",
        user_agent=row["user_agent"] or "", network_ip=row["network_ip"] or "",
        registered_since=row["registered_since"], call_state=AgentCallState(row["call_state"]),
        state_since=row["state_since"], idle_since=row["idle_since"])


class AgentStore:
    def __init__(self, engine: AsyncEngine, write: GroupCommit, tenant_of: TenantOf) -> None:
        self.engine = engine
        self.write = write  # shared with the call records: presence changes share their commits
        self.tenant_of = tenant_of

    # ---- presence (the replica that runs the node) ----

    async def presence(self, node: str) -> dict[str, Presence]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(agent_presence).where(agent_presence.c.node == node))).mappings()
            return {r["extension"]: presence_of_row(dict(r)) for r in rows}

    async def save(self, node: str, changes: list[Change]) -> None:
        """Write the presences (the last of each extension) and append the stream's events, in one transaction. The
        call an agent is on is read there from the calls in progress on its extension."""

        def work(conn: sa.Connection) -> None:
            now = time.time()
            exts = list(dict.fromkeys(c.presence.ext for c in changes))
            paused = set(conn.execute(_PAUSED, {"exts": exts}).scalars())
            calls_of: dict[str, tuple[str, str, str]] = {}
            for change in changes:
                p = change.presence
                if p.call_state is not AgentCallState.IDLE and p.ext not in calls_of:
                    # Our channel names its call (an inbound call's agent legs ring before the record names an
                    # extension); else the call in progress on the extension (a dialplan handoff's channel).
                    ours = next((found[0] for found in map(ids.parse_leg, p.channels) if found), None)
                    found = conn.execute(_CALL, {"call_id": ours}).first() if ours else None
                    found = found or conn.execute(_CALL_OF, {"ext": p.ext}).first()
                    calls_of[p.ext] = (found.call_id, found.phone, found.direction) if found else ("", "", "")
            rows, stream, forgotten = {}, [], []
            for change in changes:
                p = change.presence
                call_id, destination, direction = calls_of.get(p.ext, ("", "", "")) \
                    if p.call_state is not AgentCallState.IDLE else ("", "", "")
                rows[p.ext] = dict(
                    node=node, extension=p.ext, registered=p.registered, contact=p.contact or None,
                    user_agent=p.user_agent or None, network_ip=p.network_ip or None,
                    registered_since=p.registered_since, call_state=p.call_state, call_id=call_id or None,
                    destination=destination or None, direction=direction or None, state_since=p.state_since,
                    idle_since=p.idle_since, updated_at=now)
                if change.forget:
                    forgotten.append(p.ext)
                stream += [self._stream_row(AgentStreamEvent(
                    extension=p.ext, event=event, registered=p.registered, paused=p.ext in paused,
                    call_state=p.call_state, call_id=call_id, user_agent=p.user_agent, network_ip=p.network_ip,
                    node=node, timestamp=now)) for event in change.told]
            kept = [row for ext, row in rows.items() if ext not in forgotten]
            if kept:
                _upsert(conn, agent_presence, ["node", "extension"], kept)
            for ext in forgotten:
                conn.execute(_FORGET, {"_node": node, "_ext": ext})
            event_log.append(conn, stream)

        await self.write(work)

    def _stream_row(self, body: AgentStreamEvent) -> dict:
        return {"event": body["event"], "body": body, "tenant": self.tenant_of(body["extension"]),
                "extension": body["extension"], "call_id": body["call_id"] or None, "sequence": None,
                "created_at": body["timestamp"]}

    # ---- pause (any replica) ----

    async def set_paused(self, ext: str, paused: bool, reason: str | None = None) -> bool:
        """Pause or resume; the stream is told when the state changes (pausing a paused agent again only updates its
        reason). Returns the paused state."""

        def work(conn: sa.Connection) -> bool:
            now = time.time()
            if conn.dialect.name == "postgresql":  # two requests at once: one changes it, the other sees it changed
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("agent:" + ext))))
            row = conn.execute(sa.select(agents).where(agents.c.extension == ext)).mappings().first()
            was = bool(row and row["paused"])
            values = dict(extension=ext, paused=paused, updated_at=now,
                          paused_at=(row["paused_at"] if was else now) if paused else None,
                          reason=(reason if reason is not None else row["reason"] if was and row else None)
                          if paused else None)
            _upsert(conn, agents, ["extension"], [values])
            if was != paused:
                event_log.append(conn, [self._stream_row(self._paused_event(conn, ext, paused, now))])
            return paused

        return await self.write(work)

    def _paused_event(self, conn: sa.Connection, ext: str, paused: bool, now: float) -> AgentStreamEvent:
        # The agent as the monitor shows it: its registered presence if any, else the last one seen.
        found = conn.execute(sa.select(agent_presence).where(agent_presence.c.extension == ext).order_by(
            agent_presence.c.registered.desc(), agent_presence.c.updated_at.desc()).limit(1)).mappings().first()
        return AgentStreamEvent(
            extension=ext, event=AgentEvent.PAUSED if paused else AgentEvent.RESUMED,
            registered=bool(found and found["registered"]), paused=paused,
            call_state=AgentCallState(found["call_state"]) if found else AgentCallState.IDLE,
            call_id=(found and found["call_id"]) or "", user_agent=(found and found["user_agent"]) or "",
            network_ip=(found and found["network_ip"]) or "", node=found["node"] if found else "", timestamp=now)

    # ---- reading (any replica) ----

    async def monitor_rows(self, extension: str | None = None) -> tuple[list[dict], set[str], dict[str, dict]]:
        """The presences of every node (of one extension, if given), the paused extensions, and the calls in
        progress by extension."""
        presence = sa.select(agent_presence).order_by(agent_presence.c.extension, agent_presence.c.node)
        paused = sa.select(agents.c.extension).where(agents.c.paused.is_(True))
        live = sa.select(calls.c.call_id, calls.c.extension, calls.c.phone, calls.c.direction, calls.c.created_at
                         ).where(LIVE).order_by(calls.c.created_at)
        if extension is not None:
            presence = presence.where(agent_presence.c.extension == extension)
            paused = paused.where(agents.c.extension == extension)
            live = live.where(calls.c.extension == extension)
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(presence)).mappings()]
            paused_exts = set((await conn.execute(paused)).scalars())
            in_progress = {r["extension"]: dict(r) for r in (await conn.execute(live)).mappings()}  # the newest
        return rows, paused_exts, in_progress


async def available(engine: AsyncEngine, node: str, extensions: Iterable[str]) -> dict[str, AgentAvailability]:
    """Whether each extension can be rung on this node by a ring group, as its presence and pause say (the inbound
    flow also asks Asterisk at ring time). An extension never seen on the node: not registered, idle."""
    exts = list(dict.fromkeys(extensions))
    if not exts:
        return {}
    async with engine.connect() as conn:
        rows = {r["extension"]: r for r in (await conn.execute(sa.select(agent_presence).where(
            agent_presence.c.node == node, agent_presence.c.extension.in_(exts)))).mappings()}
        paused = set((await conn.execute(_PAUSED, {"exts": exts})).scalars())
    result = {}
    for ext in exts:
        row = rows.get(ext)
        result[ext] = AgentAvailability(
            registered=bool(row and row["registered"]), paused=ext in paused,
            call_state=AgentCallState(row["call_state"]) if row else AgentCallState.IDLE,
            idle_since=row["idle_since"] if row else None)
    return result
