"""Call records: what a call's state means as a row (pure), and the store that writes it as the call goes.

Updates are guarded in SQL: a final status is never changed, and a call never moves to an earlier
phase, so a replayed or late write cannot move a call backwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from . import inbound_rows, q850, tallies
from .cluster.bus import Kind, Message
from .db import LIVE, GroupCommit, asterisk_nodes, call_requests, calls
from .errors import ApiError
from .states import CallStatus, Direction, HangupBy, Party
from .stasis_app import controls as control
from .stasis_app import supervision as supervise
from .stasis_app import transfers as xfer
from .stasis_app.call_flow import CallSpec, CallState, Leg, Phase, final_status
from .stasis_app.inbound_flow import InboundState
from .tallies import Countable

State = CallState | InboundState

PHASE_RANK = {phase: rank for rank, phase in enumerate(Phase)}



def agent_of(state) -> str:
    """The agent of a call this replica runs: a click-to-call's extension, an inbound call's agent who answered."""
    return getattr(state, "answered_ext", None) or getattr(state.spec, "ext", "")


class CallChanges(Protocol):
    """What else a record's change writes in its transaction (the webhook outbox), and hands on once committed."""

    def add(self, conn: sa.Connection, before: CallState, after: CallState, values: dict) -> list[dict]: ...

    def hand_off(self, fresh: list[dict]) -> None: ...


# Tells other replicas of a change, in its transaction (cluster.bus.publish); None with a single replica.
Publish = Callable[[sa.Connection, Message], None]


@dataclass(frozen=True)
class Fence:
    """Who may write a node's calls: the replica that owns the node, at the epoch it took it with."""

    node: str
    replica: str
    epoch: int


def _final_cause(state: CallState) -> tuple[int | None, str | None]:
    """The cause of the leg that ended the call."""
    first = _leg_named(state, state.hangup_by)
    if first is None:
        first = state.customer if state.customer.created else state.agent
    cause = first.cause
    if cause == 0 and first.answered:
        cause = q850.NORMAL_CLEARING  # a BYE carries no cause: after an answer it is a normal clearing
    return cause, q850.name(cause) if cause is not None else None


def _leg_named(state: CallState, name: HangupBy | None) -> Leg | None:
    return state.leg(Party(name)) if name in (HangupBy.AGENT, HangupBy.CUSTOMER) else None


def transfer_columns(t: xfer.Transfers) -> dict:
    return {"transfers": xfer.transfers_json(t), "transferred_to": xfer.transferred_to(t)}


def row(state: State) -> dict:
    """The columns that follow from the call's state (identity columns are written once, at insert)."""
    if isinstance(state, InboundState):
        return inbound_rows.row(state)
    values: dict = {
        "phase": state.phase.value,
        "phase_rank": PHASE_RANK[state.phase],
        "result": state.result,
        "hangup_by": state.hangup_by,
        "answered_at": state.customer.answered_at,
        "recording_url": state.spec.recording_url if state.recording else None,
        "recording_error": state.recording_error,
        "actions": control.actions_json(state.actions),
        "joined": supervise.joined_json(state.supervision),
        **transfer_columns(state.transfers),
    }
    for name in Party:
        leg = state.leg(name)
        values.update({
            f"{name}_sip_call_id": leg.sip_call_id, f"{name}_created_at": leg.created_at,
            f"{name}_ringing_at": leg.ringing_at, f"{name}_answered_at": leg.answered_at,
            f"{name}_ended_at": leg.ended_at, f"{name}_cause": leg.cause, f"{name}_cause_txt": leg.cause_txt,
        })
    if state.phase is Phase.ENDED:
        targets = (x.ended_at for x in state.transfers.history)
        ended = max((t for t in (state.agent.ended_at, state.customer.ended_at, *targets) if t), default=time.time())
        answered = state.customer.answered_at
        values["cause"], values["cause_txt"] = _final_cause(state)
        values.update({
            "status": final_status(state),
            "ended_at": ended,
            "duration": max(0, round(ended - state.created_at)),
            "billsec": max(0, round(ended - answered)) if answered else 0,
        })
    return values


def state_from_row(r: dict) -> State:
    """Rebuild an unfinished call's state from its record: to adopt it (after a restart, or from a replica that
    stopped running its node), or to start it (recorded by another replica, not started by anyone yet)."""
    if r["direction"] == Direction.INBOUND:
        return inbound_rows.state_from_row(r)
    spec = CallSpec(
        call_id=r["call_id"], ext=r["extension"], phone=r["phone"], hotline=r["hotline"], trunk=r["trunk"],
        src_cid_name=r["src_cid_name"] or "", src_cid_number=r["src_cid_number"] or "",
        dest_cid_name=r["dest_cid_name"], dest_cid_number=r["dest_cid_number"] or "",
        auto_answer=bool(r["auto_answer"]), ring_timeout=r["ring_timeout"] or 0, dial_timeout=r["dial_timeout"] or 0,
        customer_id=r["customer_id"], recording_url=r["record_url"] or r["recording_url"],
        agent_channel=r["agent_channel"], tenant=r["tenant"], node=r["node"] or "",
    )
    phase = Phase(r["phase"])
    if phase is Phase.NEW and r["claimed_by"] is None:
        return CallState(spec=spec, created_at=r["created_at"])  # nobody started it: start it as it is

    def leg(name: Party) -> Leg:
        return Leg(
            # An agent leg of a call still NEW may have been originated just before the stop: assume it was;
            # if its channel is not there, the reconnect check ends it.
            created=r[f"{name}_created_at"] is not None or (name is Party.AGENT and phase is Phase.NEW),
            ringing=r[f"{name}_ringing_at"] is not None, answered=r[f"{name}_answered_at"] is not None,
            gone=r[f"{name}_ended_at"] is not None, cause=r[f"{name}_cause"], cause_txt=r[f"{name}_cause_txt"],
            sip_call_id=r[f"{name}_sip_call_id"], created_at=r[f"{name}_created_at"],
            ringing_at=r[f"{name}_ringing_at"], answered_at=r[f"{name}_answered_at"], ended_at=r[f"{name}_ended_at"],
        )

    actions = control.actions_of(r.get("actions"))
    return CallState(
        spec=spec, created_at=r["created_at"], phase=Phase.AGENT_RINGING if phase is Phase.NEW else phase,
        actions=actions, controls=control.replay(actions), supervision=supervise.joined_of(r.get("joined")),
        transfers=xfer.replay(r["call_id"], xfer.transfers_of(r.get("transfers")),
                              {party: spec.channel_id(party) for party in Party}, actions),
        agent=leg(Party.AGENT), customer=leg(Party.CUSTOMER), result=r["result"],
        hangup_by=HangupBy(r["hangup_by"]) if r["hangup_by"] else None,
        recording=r["recording_url"] is not None, recording_error=r["recording_error"],
    )


# Statements built once (the VALUES / SET clause follows the keys passed), so SQLAlchemy's compiled cache serves
# every write instead of building and hashing a new statement of some 40 columns each time (about 1.3 ms of CPU per
# write). The guard: never change a final status, never move to an earlier phase.
_INSERT = calls.insert()
_GUARDED_UPDATE = calls.update().where(
    calls.c.call_id == sa.bindparam("_call_id"),
    calls.c.status == CallStatus.IN_PROGRESS,
    calls.c.phase_rank <= sa.bindparam("_phase_rank"),
)
# The fence: a node's calls are written only by the replica that owns the node, at the epoch it took it with.
_FENCED_UPDATE = _GUARDED_UPDATE.where(sa.exists().where(
    asterisk_nodes.c.name == sa.bindparam("_node"), asterisk_nodes.c.owner == sa.bindparam("_owner"),
    asterisk_nodes.c.epoch == sa.bindparam("_epoch")))
_ACTIVE_OF_TOKEN = sa.select(sa.func.count()).select_from(calls).where(
    calls.c.token == sa.bindparam("token"), calls.c.status == CallStatus.IN_PROGRESS)
_TOKEN_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(sa.bindparam("token"))))
_CLAIM = calls.update().where(
    calls.c.call_id == sa.bindparam("_call_id"), calls.c.node == sa.bindparam("_node"),
    calls.c.status == CallStatus.IN_PROGRESS, calls.c.claimed_by.is_(None))
_ADOPT = calls.update().where(calls.c.call_id.in_(sa.bindparam("_ids", expanding=True)),
                              calls.c.status == CallStatus.IN_PROGRESS)
_OF_NODE = sa.select(calls).where(calls.c.node == sa.bindparam("_node"), LIVE)
_REQUESTS_DONE = call_requests.update().where(
    call_requests.c.call_id == sa.bindparam("_call_id"), call_requests.c.done_at.is_(None))
_DELETE_NEW = calls.delete().where(
    calls.c.call_id == sa.bindparam("_call_id"), calls.c.status == CallStatus.IN_PROGRESS,
    calls.c.phase == Phase.NEW)


class CallStore:
    """Call records as calls go. With a cluster (`publish` given), a record's changes that other replicas wait for
    are told to them in the same transaction, and a node's calls are written only under its owner's fence."""

    def __init__(self, engine: AsyncEngine, outbox: CallChanges | None = None, write: GroupCommit | None = None,
                 publish: Publish | None = None) -> None:
        self.engine = engine
        self.outbox = outbox
        self.publish = publish
        self._write = write or GroupCommit(engine)  # record writes share commits with other writes under load
        self._postgresql = engine.dialect.name == "postgresql"

    async def create(self, state: State, *, token: str | None = None, cap: int = 0,
                     claimed_by: str | None = None) -> None:
        """Record a new call. `token`: the API token that placed it (ratelimit.key); such calls hold their extension
        (one at a time: USER_BUSY) and count against the token's `cap` of calls in progress (TOO_MANY_CALLS), across
        every replica. `claimed_by`: the replica that runs it; None: the owner of its node is told to start it."""
        spec = state.spec
        values = {**inbound_rows.identity(state), "status": CallStatus.IN_PROGRESS, "claimed_by": claimed_by,
                  "created_at": state.created_at, "updated_at": time.time(), **row(state)} \
            if isinstance(state, InboundState) else dict(
            call_id=spec.call_id, direction=Direction.OUTBOUND, extension=spec.ext, phone=spec.phone,
            hotline=spec.hotline, trunk=spec.trunk, src_cid_name=spec.src_cid_name,
            src_cid_number=spec.src_cid_number, dest_cid_name=spec.dest_cid_name,
            dest_cid_number=spec.dest_cid_number, customer_id=spec.customer_id, status=CallStatus.IN_PROGRESS,
            agent_channel=spec.agent_channel, tenant=spec.tenant, node=spec.node or None, token=token,
            auto_answer=spec.auto_answer, ring_timeout=spec.ring_timeout, dial_timeout=spec.dial_timeout,
            record_url=spec.recording_url,
            claimed_by=claimed_by, created_at=state.created_at, updated_at=time.time(), **row(state),
        )

        def work(conn: sa.Connection) -> None:
            if token and cap:
                if self._postgresql:  # replicas counting at once would each see room for one more
                    conn.execute(_TOKEN_LOCK, {"token": token})
                if conn.execute(_ACTIVE_OF_TOKEN, {"token": token}).scalar_one() >= cap:
                    raise ApiError("TOO_MANY_CALLS", f"this token already has {cap} call(s) in progress",
                                   headers={"Retry-After": "1"})
            conn.execute(_INSERT, values)  # a refusal fails the shared transaction: GroupCommit retries the others
            if claimed_by is None and self.publish is not None:
                self.publish(conn, Message(Kind.START, spec.call_id, spec.node))

        try:
            await self._write(work)
        except sa.exc.IntegrityError:
            if token is None:
                raise
            raise ApiError("USER_BUSY", f"extension {state.spec.ext} already has a click-to-call in progress") from None

    async def delete_new(self, call_id: str) -> None:
        """Take back the record of a call refused before it was placed."""
        await self._write(lambda conn: conn.execute(_DELETE_NEW, {"_call_id": call_id}) and None)

    async def save(self, state: State, before: State | None = None, fence: Fence | None = None) -> bool:
        """Write the state, and the webhook events the change makes in the same transaction.

        False when the guard refused it (the call is final or further along, or this replica no longer owns the
        call's node): then no event either.
        """
        values = row(state)
        if before is not None and row(before) == values:
            return True  # a change the record does not show (e.g. the customer leg joined the bridge)
        params = {"_call_id": state.spec.call_id, "_phase_rank": values["phase_rank"], "updated_at": time.time(),
                  **values}
        statement = _GUARDED_UPDATE
        if fence is not None:
            statement = _FENCED_UPDATE
            params.update(_node=fence.node, _owner=fence.replica, _epoch=fence.epoch)

        def work(conn: sa.Connection) -> tuple[bool, list[dict]]:
            saved = conn.execute(statement, params).rowcount == 1
            if not saved:
                return False, []
            added = before is not None and self.outbox is not None and self.outbox.add(conn, before, state, values)
            ended = state.phase == Phase.ENDED  # either flow's phase "ended"
            if ended:
                conn.execute(_REQUESTS_DONE, {"_call_id": state.spec.call_id, "done_at": time.time()})
            if self.publish is not None:
                if state.result is not None and (before is None or before.result is None):
                    self.publish(conn, Message(Kind.RESULT, state.spec.call_id, result=state.result))
                if ended:
                    self.publish(conn, Message(Kind.ENDED, state.spec.call_id))
            return True, added or []

        saved, added = await self._write(work)
        if added:
            self.outbox.hand_off(added)
        return saved

    async def unfinished(self, node: str | None = None, replica: str | None = None) -> list[State]:
        """The calls left in progress (by a previous run, or by the replica that ran `node` before this one), rebuilt
        from their records; with `replica`, they are this replica's to run from now on."""
        async with self.engine.begin() as conn:
            if node is None:
                rows = await conn.execute(sa.select(calls).where(LIVE))
            else:
                rows = await conn.execute(_OF_NODE.with_for_update() if replica and self._postgresql else _OF_NODE,
                                          {"_node": node})
            states = [state_from_row(dict(r)) for r in rows.mappings()]  # as they were: unstarted ones start
            if node is not None and replica is not None and states:
                # Only those read: a call recorded since is its START notification's to start.
                await conn.execute(_ADOPT, {"_ids": [s.spec.call_id for s in states], "claimed_by": replica})
            return states

    async def claim(self, call_id: str, node: str, replica: str) -> CallState | None:
        """A call recorded by another replica for this node: this replica's to start, unless another has it."""
        async with self.engine.begin() as conn:
            if (await conn.execute(_CLAIM, {"_call_id": call_id, "_node": node, "claimed_by": replica})).rowcount != 1:
                return None
            found = (await conn.execute(sa.select(calls).where(calls.c.call_id == call_id))).mappings().first()
        return state_from_row({**found, "claimed_by": None})  # started by nobody yet: start it as it is

    async def request(self, call_id: str, node: str, action: str, by: HangupBy, params: dict | None = None) -> int:
        """Ask the replica that runs the call to do something to it (hang up, a control); kept until done or the
        call ends. The request's id: its answer comes as a REPLY message `request:<id>` (see `reply`)."""
        def work(conn: sa.Connection) -> int:
            found = conn.execute(call_requests.insert().values(
                call_id=call_id, action=action, by=by, created_at=time.time(),
                params=json.dumps(params, separators=(",", ":")) if params is not None else None))
            if self.publish is not None:
                self.publish(conn, Message(Kind.REQUEST, call_id, node))
            return found.inserted_primary_key[0]

        return await self._write(work)

    async def reply(self, request_id: int, outcome: tuple[str, str] | None) -> None:
        """A request carried out (None) or refused ((code, message)): written, and told to whoever waits for it."""
        result, message = outcome or ("success", "")

        def work(conn: sa.Connection) -> None:
            conn.execute(call_requests.update().where(call_requests.c.id == request_id).values(
                done_at=time.time(), result=result, message=message[:255]))
            if self.publish is not None:
                self.publish(conn, Message(Kind.REPLY, f"request:{request_id}", result=result))

        await self._write(work)

    async def requests(self, call_ids: list[str]) -> list[dict]:
        """The requests still to carry out for these calls, oldest first."""
        if not call_ids:
            return []
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(call_requests).where(
                call_requests.c.call_id.in_(call_ids), call_requests.c.done_at.is_(None)).order_by(call_requests.c.id))
            return [dict(r) for r in rows.mappings()]

    async def in_progress(self, where: list) -> list[dict]:
        """The records of calls in progress, oldest first (the live calls, whichever replica runs them)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(calls).where(LIVE, *where)
                                      .order_by(calls.c.created_at))
            return [dict(r) for r in rows.mappings()]

    async def get(self, key: str) -> dict | None:
        """One record by call_id or by either leg's SIP Call-ID."""
        query = sa.select(calls).where(sa.or_(
            calls.c.call_id == key, calls.c.agent_sip_call_id == key, calls.c.customer_sip_call_id == key,
        )).limit(1)
        async with self.engine.connect() as conn:
            found = (await conn.execute(query)).mappings().first()
        return dict(found) if found else None

    async def search(self, where: list, limit: int, *, page: int | None = None,
                     after: tuple[float, str] | None = None, either: list = (),
                     counted: Countable | None = None) -> tuple[list[dict], int | None]:
        """Newest first. With `page`: that page and the total; otherwise keyset paging after `after`. `either`:
        alternatives of which a record meets one (besides `where`), each read through its own index. `counted`: the
        same filters as tallies count them (the total then comes from them)."""
        offset = (page - 1) * limit if page is not None else 0
        if page is None and after is not None:
            where = [*where, _after(*after)]
        branches = [[*where, *b] for b in _disjoint(either)] if either else [where]
        if len(branches) == 1:
            keys = _keys(branches[0], limit, offset).subquery()
        else:
            # Each branch newest first as far as the page reaches, from its own index; the page from their union.
            merged = sa.union_all(*(sa.select(b.c.created_at, b.c.call_id) for b in (
                _keys(conds, offset + limit, 0).subquery() for conds in branches))).subquery()
            keys = sa.select(merged.c.created_at, merged.c.call_id).order_by(
                merged.c.created_at.desc(), merged.c.call_id.desc()).limit(limit).offset(offset or None).subquery()
        # The page's keys first (from an index: a deep page skips index entries, not rows), then its rows.
        query = sa.select(calls).join(keys, calls.c.call_id == keys.c.call_id).order_by(*_NEWEST)
        total = None
        async with self.engine.connect() as conn:
            if page is not None and counted is not None:
                total = await tallies.total(conn, counted)
            elif page is not None:
                counts = [sa.select(sa.func.count()).select_from(calls).where(*conds) for conds in branches]
                statement = counts[0] if len(counts) == 1 else sa.select(
                    sum((c.scalar_subquery() for c in counts[1:]), counts[0].scalar_subquery()))
                total = (await conn.execute(statement)).scalar_one()
            rows = list((await conn.execute(query)).mappings())  # read-only mappings: a page is not copied
        return rows, total


_NEWEST = (calls.c.created_at.desc(), calls.c.call_id.desc())


def _keys(where: list, limit: int, offset: int) -> sa.Select:
    return sa.select(calls.c.created_at, calls.c.call_id).where(*where).order_by(*_NEWEST).limit(limit).offset(
        offset or None)


def _after(created: float, call_id: str) -> sa.ColumnElement:
    """Older than the last record of the previous page. `created_at <= created` bounds the index range to read; the
    OR only breaks ties at that instant."""
    return sa.and_(calls.c.created_at <= created,
                   sa.or_(calls.c.created_at < created, calls.c.call_id < call_id))


def _disjoint(either: list) -> list[list]:
    """Alternatives as branches that share no record: the i-th, and none of those before it. So their pages merge
    without duplicates and their counts add up. (Each alternative is a comparison of a NOT NULL column, so its
    negation is exactly "the others".)"""
    return [[alt, *(sa.not_(before) for before in either[:i])] for i, alt in enumerate(either)]
