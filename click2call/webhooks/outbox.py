"""The outbox writer: a call's new events, stored in the same transaction as the call-record change that caused them:
every one in the live stream's log (event_log), and, for the hooks subscribed to it, a webhook event and one delivery
per hook. The stream and the webhooks carry the very same JSON text and the same per-call sequence."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from .. import cdr, event_log
from ..db import DEFAULT_HOOK, HOOKS_TTL, calls, deliveries, hooks, stream_events, webhook_events
from ..states import BY_NAME_ONLY, DeliveryStatus, Direction, EventName
from ..stasis_app.call_flow import CallState
from .events import event_time, events_between, payload
from .subscriptions import HookChanges

# Built once, so SQLAlchemy's compiled cache serves every use instead of building and hashing a statement each time.
_INSERT_EVENT = webhook_events.insert()
_INSERT_DELIVERY = deliveries.insert()
# The call's last sequence: every event is in the stream's log. Its webhook events are read too, for a call whose
# first events were written before the log existed (adopted across the upgrade that added it): its sequence goes on
# from theirs instead of clashing with them. Two index lookups in one statement.
_LAST_SEQUENCE = sa.select(sa.func.max(sa.union_all(
    sa.select(sa.func.max(stream_events.c.sequence).label("last")).where(
        stream_events.c.call_id == sa.bindparam("call_id")),
    sa.select(sa.func.max(webhook_events.c.sequence)).where(webhook_events.c.call_id == sa.bindparam("call_id")),
).subquery().c.last))
_RECORD = sa.select(calls).where(calls.c.call_id == sa.bindparam("call_id"))
# By hook and call, so that the (hook_id, call_id, sequence) index serves it: by status alone it read every
# pending delivery, all of a backlog, at each state change.
_PENDING = sa.select(deliveries.c.hook_id).where(
    deliveries.c.hook_id.in_(sa.bindparam("hooks", expanding=True)), deliveries.c.call_id == sa.bindparam("call_id"),
    deliveries.c.status == DeliveryStatus.PENDING).distinct()
_SUBSCRIBERS = sa.select(hooks.c.id, hooks.c.event, hooks.c.tenant).where(hooks.c.disabled_at.is_(None)).order_by(
    hooks.c.created_at)


class Outbox:
    """Writes a call's new events to the stream's log, and for subscribed hooks a webhook event and one delivery per
    hook, inside the caller's transaction.

    A new delivery is written already leased (due when the lease ends) and handed, once committed, straight to the
    dispatcher, which sends it without reading the outbox or claiming it first. Should this process die before it
    is sent, the lease runs out and the delivery is due like any other. Except when an earlier delivery of the call
    to the same hook is still pending (being sent, waiting for a retry, left by a crash): then the new one is due at
    once and marked "behind", and the dispatcher's poller sends it in turn."""

    def __init__(self, tz: ZoneInfo, default_hook: bool, changes: HookChanges,
                 hand_off: Callable[[list[dict]], None] = lambda fresh: None, lease: float = 0.0) -> None:
        self.tz = tz
        self.default_hook = default_hook
        self.hand_off = hand_off  # gives the dispatcher the deliveries just committed
        self.lease = lease  # seconds a new delivery is reserved for the hand-off
        self._hooks: dict[str, list[tuple[str, str | None]]] | None = None  # event -> enabled (hook id, tenant)
        self._hooks_read_at = 0.0
        self._changes = 0
        changes.subscribe(self.hooks_changed)

    def hooks_changed(self) -> None:
        """A hook was created or deleted here: read them again at the next event."""
        self._hooks = None
        self._changes += 1

    def add(self, conn: sa.Connection, before: CallState, after: CallState, values: dict) -> list[dict]:
        """The deliveries written, for hand_off once the transaction is committed."""
        happened = events_between(before, after)
        if not happened:
            return []
        subscribed = self._subscribers(conn, {event for event, _ in happened}, after.spec.tenant)
        default = [DEFAULT_HOOK] if self.default_hook else []
        targets = {event: subscribed.get(event, []) + (default if event not in BY_NAME_ONLY else [])
                   for event, _ in happened}
        call_id = after.spec.call_id
        tenant = after.spec.tenant
        sequence = conn.execute(_LAST_SEQUENCE, {"call_id": call_id}).scalar() or 0
        now = time.time()
        receivers = {hook_id for event, _ in happened for hook_id in targets[event]}
        waiting = {hook_id for (hook_id,) in conn.execute(_PENDING, {"hooks": sorted(receivers), "call_id": call_id})
                   } if receivers else set()
        logged, fresh = [], []
        for event, leg in happened:
            sequence += 1  # every event counts, in the stream as in the webhooks: a hook sees gaps for the others
            body = payload(after, values, event, leg, sequence, event_time(after, event, leg))
            if event is EventName.CDR:
                record = conn.execute(_RECORD, {"call_id": call_id}).mappings().one()
                body["cdr"] = cdr.serialise(dict(record), self.tz)
                body["recording_url"] = body["cdr"]["recording_url"]
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            agent = body["to_number"] if body["direction"] == Direction.INBOUND else body["from_number"]
            logged.append({"event": event, "body": text, "tenant": tenant, "extension": agent, "call_id": call_id,
                           "sequence": sequence, "created_at": now})
            if not targets[event]:
                continue  # an event no hook receives is not stored for the webhooks: nothing would ever send it
            event_id = "msg_" + uuid.uuid4().hex
            conn.execute(_INSERT_EVENT, dict(
                id=event_id, call_id=call_id, sequence=sequence, event=event, created_at=now, body=text))
            new = [{"id": uuid.uuid4().hex, "event_id": event_id, "hook_id": hook_id, "call_id": call_id,
                    "sequence": sequence, "status": DeliveryStatus.PENDING, "attempts": 0,
                    "next_attempt_at": now if hook_id in waiting else now + self.lease, "created_at": now}
                   for hook_id in targets[event]]
            conn.execute(_INSERT_DELIVERY, new)
            fresh += [dict(d, body=text, behind=d["hook_id"] in waiting) for d in new]
        event_log.append(conn, logged)
        return fresh

    def _subscribers(self, conn: sa.Connection, events: set[EventName], tenant: str | None) -> dict[str, list[str]]:
        """The enabled hooks of each event for a call of this tenant: the operator's hooks (tenant NULL) get every
        call, a tenant's hooks only that tenant's calls. The hook table is read at most once a second (and again
        after a change made here), not at every state change of every call: a hook created or deleted through
        another instance on the same database is seen within HOOKS_TTL; deliveries to a hook disabled meanwhile
        fail at once when sent."""
        now = time.monotonic()
        table = self._hooks  # this runs in the database writer's thread, hooks_changed() in the event loop's
        if table is None or now - self._hooks_read_at > HOOKS_TTL:
            changes = self._changes
            table = {}
            for hook_id, event, owner in conn.execute(_SUBSCRIBERS):
                table.setdefault(event, []).append((hook_id, owner))
            if changes == self._changes:  # else a change came during the read: read again next time
                self._hooks, self._hooks_read_at = table, now
        picked = {event: [h for h, owner in table.get(event, ()) if owner is None or owner == tenant]
                  for event in events}
        return {event: hook_ids for event, hook_ids in picked.items() if hook_ids}
