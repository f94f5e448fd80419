"""The dispatcher: sends webhook deliveries from the outbox.

At least once, in order per call and hook (an event waits while an earlier one of the same call and hook is
pending), off the call path: bounded concurrency, a request timeout, retries with backoff and jitter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import DEFAULT_HOOK, HOOKS_TTL, GroupCommit, Many, deliveries, delivery_attempts, hooks, webhook_events
from ..metrics import Metrics
from ..secret_box import SecretBox
from ..states import DeliveryStatus
from . import signing
from .destinations import Policy as Reachable, Reach
from .egress import Egress, Refused
from .retry import Outcome, Policy, Verdict, decide, retry_after
from .subscriptions import HookChanges

log = logging.getLogger(__name__)


# The dispatcher's statements, built once so that SQLAlchemy's compiled cache serves every delivery (building and
# hashing them anew cost more CPU than sending the webhook).
_earlier = deliveries.alias("earlier")
_DUE = (
    sa.select(deliveries, webhook_events.c.body)
    .join(webhook_events, webhook_events.c.id == deliveries.c.event_id)
    .where(
        deliveries.c.status == DeliveryStatus.PENDING, deliveries.c.next_attempt_at <= sa.bindparam("now"),
        ~sa.exists().where(  # an earlier event of the same call and hook still pending: keep the order
            _earlier.c.hook_id == deliveries.c.hook_id, _earlier.c.call_id == deliveries.c.call_id,
            _earlier.c.status == DeliveryStatus.PENDING, _earlier.c.sequence < deliveries.c.sequence,
        ),
    )
    .order_by(deliveries.c.next_attempt_at).limit(sa.bindparam("limit"))
)
_HOOK = sa.select(hooks).where(hooks.c.id == sa.bindparam("hook_id"))
RESPONSE_READ = 64 * 1024  # bytes of a receiver's answer read so the connection can be reused
ANSWER_KEPT = 255  # characters of a refusal's text kept with its attempt


def answer_text(body: bytes) -> str | None:
    """The start of a receiver's answer as one line of printable text (None when it said nothing)."""
    text = body[:ANSWER_KEPT * 4].decode("utf-8", errors="replace")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text[:ANSWER_KEPT] or None
BATCH_DELAY = 0.005  # seconds the dispatcher gathers wake-ups before it reads the outbox again
_CLAIM = deliveries.update().where(
    deliveries.c.id == sa.bindparam("_id"), deliveries.c.status == DeliveryStatus.PENDING,
    deliveries.c.attempts == sa.bindparam("_attempts"), deliveries.c.next_attempt_at == sa.bindparam("_due_at"),
)
_INSERT_ATTEMPT = delivery_attempts.insert()
_QUEUE_DEPTH = sa.select(sa.func.count()).select_from(deliveries).where(deliveries.c.status == DeliveryStatus.PENDING)
# Guarded: a delivery re-sent by API meanwhile is not overwritten by this older attempt.
_FINISH = deliveries.update().where(
    deliveries.c.id == sa.bindparam("_id"), deliveries.c.attempts == sa.bindparam("_attempts"))


def _record_outcomes(conn: sa.Connection, outcomes: list[tuple[dict, dict]]) -> None:
    conn.execute(_INSERT_ATTEMPT, [attempt for attempt, _ in outcomes])
    conn.execute(_FINISH, [values for _, values in outcomes])


@dataclass(frozen=True)
class Target:
    url: str
    apikey: str | None
    secrets: tuple[str, ...]
    reach: Reachable | None = None  # what its connections may reach; None: trusted (the operator configured it)


def _refused(exc: BaseException) -> Refused | None:
    """The policy's refusal behind an aiohttp connection error, if that is what it was."""
    while exc is not None:
        if isinstance(exc, Refused):
            return exc
        exc = getattr(exc, "os_error", None) or exc.__cause__
    return None


class Dispatcher:
    """Sends deliveries, in order per call and hook: one queue and one sender per (hook, call) at a time.

    Two ways in: take() gets the deliveries the outbox has just committed (leased to this process at birth, so they
    go without a read of the outbox or a claim), and run() polls the outbox for the rest: retries that are due, and
    deliveries whose lease ran out (left by a crash, or by another instance on the same database)."""

    def __init__(self, engine: AsyncEngine, egress: Egress, *, default: Target | None,
                 global_secrets: tuple[str, ...], policy: Policy, changes: HookChanges, concurrency: int = 8,
                 timeout: float = 5.0, metrics: Metrics | None = None, write: GroupCommit | None = None,
                 box: SecretBox | None = None, reach: Reach | None = None) -> None:
        self.engine = engine
        self.write = write or GroupCommit(engine)  # claims and outcomes share commits with the call records
        self.metrics = metrics or Metrics()
        self.egress = egress
        self.box = box or SecretBox()  # opens the hooks' stored secrets and API keys
        self.reach = reach or Reach()  # the networks API-made hooks may reach, by tenant
        self.default = default
        self.global_secrets = global_secrets
        self.policy = policy
        self.timeout = timeout
        self.lease = timeout + 5  # a send and the write of its outcome fit in it
        self.slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        # (hook_id, call_id) -> deliveries waiting behind the one being sent: present while that pair is sending.
        self._queues: dict[tuple[str, str], deque[tuple[dict, bool]]] = {}
        self._left: set[tuple[str, str]] = set()  # pairs with a delivery behind the one being sent, for the poller
        self.changes = changes  # a 410 disables a hook: every copy of the hook table must forget it
        changes.subscribe(self.forget_hooks)
        self._tasks: set[asyncio.Task] = set()
        self._targets: dict[str, Target | None] = {}  # hook_id -> where to send, as read at _targets_read_at
        self._targets_read_at = 0.0

    def forget_hooks(self) -> None:
        """A hook was created, deleted or disabled here: read it again before the next send."""
        self._targets.clear()

    def wake(self) -> None:
        self._wake.set()

    def take(self, fresh: list[dict]) -> None:
        """Deliveries the outbox has just committed: leased to us, or behind an earlier one of their call and hook
        still pending, and then the poller's to send in turn."""
        for item in fresh:
            key = (item["hook_id"], item["call_id"])
            if not item["behind"]:
                self._queue(item, leased=True)
            elif key in self._queues:
                self._left.add(key)  # look again when that pair's sender is done
            else:
                self.wake()

    def _queue(self, item: dict, leased: bool) -> None:
        key = (item["hook_id"], item["call_id"])
        if key in self._queues:
            self._queues[key].append((item, leased))
            return
        self._queues[key] = deque([(item, leased)])
        task = asyncio.create_task(self._drain(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, key: tuple[str, str]) -> None:
        queue = self._queues[key]
        look_again = False
        try:
            while queue:
                item, leased = queue.popleft()
                look_again |= not leased
                if not await self._send(item, leased):
                    # The later ones stay pending behind it in the outbox; the poller sends them in turn.
                    queue.clear()
                    look_again = True
        finally:
            del self._queues[key]
            if look_again or key in self._left:
                self._left.discard(key)
                self.wake()  # the next event of this call and hook may be due now

    async def run(self) -> None:
        while True:
            try:
                for item in await self._due():
                    if (item["hook_id"], item["call_id"]) not in self._queues:  # else: in order, behind that one
                        self._queue(item, leased=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatcher: cannot read the outbox; retrying")
            try:
                async with asyncio.timeout(0.5):  # not wait_for: that spawns a task per look
                    await self._wake.wait()
            except TimeoutError:
                pass
            # Sends finishing together wake us together: one look at the outbox for all of them, not one each.
            await asyncio.sleep(BATCH_DELAY)
            self._wake.clear()

    async def _due(self) -> list[dict]:
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(_DUE, {"now": time.time(), "limit": self.concurrency * 4}))
                    .mappings()]

    async def _target(self, hook_id: str) -> Target | None:
        """Where a hook's deliveries go; None for a hook deleted or disabled. Read from the database at most once a
        second per hook (and again after a change made through this instance), not for every delivery."""
        if hook_id == DEFAULT_HOOK:
            return self.default
        now = time.monotonic()
        if now - self._targets_read_at > HOOKS_TTL:
            self._targets.clear()
            self._targets_read_at = now
        if hook_id in self._targets:
            return self._targets[hook_id]
        async with self.engine.connect() as conn:
            hook = (await conn.execute(_HOOK, {"hook_id": hook_id})).mappings().first()
        target = None
        if hook is not None and hook["disabled_at"] is None:
            secrets = (self.box.open(hook["secret"]),) if hook["secret"] else self.global_secrets
            reach = None if hook["configured"] else self.reach.policy(hook["tenant"])
            target = Target(hook["callback_url"], self.box.open(hook["callback_apikey"]), secrets, reach)
        self._targets[hook_id] = target
        return target

    async def _claim(self, item: dict) -> bool:
        """Lease the delivery for this attempt. A stale read of the outbox (the delivery was sent meanwhile)
        fails the claim, so it is not sent twice; a lease left by a crash expires and the delivery is retried."""
        lease = time.time() + self.lease

        def claim(conn: sa.Connection) -> bool:
            claimed = conn.execute(_CLAIM, {
                "_id": item["id"], "_attempts": item["attempts"], "_due_at": item["next_attempt_at"],
                "next_attempt_at": lease})
            return claimed.rowcount == 1

        if await self.write(claim):
            item["next_attempt_at"] = lease  # the guard of the outcome's write
            return True
        return False

    async def _send(self, item: dict, leased: bool) -> bool:
        """One attempt; True when delivered. A delivery handed over at birth is ours while its lease has room for
        the attempt; one that waited longer is claimed like any other."""
        try:
            ours = leased and time.time() + self.timeout + 1 < item["next_attempt_at"]
            if ours or await self._claim(item):
                return await self._attempt(item)
        except Exception:
            log.exception("webhook delivery %s: attempt not recorded; it stays pending", item["id"])
        return False

    async def _attempt(self, item: dict) -> bool:
        target = await self._target(item["hook_id"])
        now = time.time()
        if target is None:
            await self._finish(item, Outcome(Verdict.FAILED), None, "hook deleted or disabled", now, 0)
            return False
        body = item["body"].encode()
        headers = {"content-type": "application/json", "user-agent": "click2call-webhooks",
                   **signing.headers(target.secrets, item["event_id"], int(now), body)}
        if target.apikey:
            headers["authorization"] = target.apikey
        status_code, error, wait, final, answer = None, None, None, None, None
        # The slot bounds requests to receivers, not the writes of their outcomes (which wait for a commit).
        async with self.slots:
            started = time.monotonic()
            try:
                if (why := self.egress.refusal(target.url, target.reach)) is not None:
                    raise Refused(why)
                # Never a redirect: its target would be reached unchecked, and a hook is one URL.
                async with self.egress.session(target.reach).post(
                        target.url, data=body, headers=headers, allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                    status_code = response.status
                    wait = retry_after(response.headers.get("retry-after"), now)
                    said = await response.content.read(RESPONSE_READ)  # the rest, if any, closes the connection
                    if not 200 <= status_code < 300:
                        answer = answer_text(said)
            except TimeoutError:
                error = f"Timeout: no answer within {self.timeout:g} s"
            except (Refused, aiohttp.ClientError) as exc:
                if (refused := _refused(exc)) is not None:  # the address is not to be reached: no retry
                    error = final = f"Refused: {refused}"[:255]
                elif isinstance(exc, aiohttp.InvalidURL):  # aiohttp will never send to it: no retry either
                    error = final = f"{type(exc).__name__}: {exc}"[:255]
                else:
                    error = f"{type(exc).__name__}: {exc}"[:255]
            elapsed_ms = int((time.monotonic() - started) * 1000)
        outcome = Outcome(Verdict.FAILED) if final else decide(
            status_code, item["attempts"] + 1, now - item["created_at"], wait, self.policy)
        await self._finish(item, outcome, status_code, error, now, elapsed_ms, answer)
        return outcome.status is Verdict.DELIVERED

    async def _finish(self, item: dict, outcome: Outcome, status_code: int | None, error: str | None, now: float,
                      elapsed_ms: int, answer: str | None = None) -> None:
        self.metrics.deliveries.labels(outcome.status).inc()
        attempt = dict(delivery_id=item["id"], attempted_at=now, status_code=status_code, error=error,
                       duration_ms=elapsed_ms, answer=answer)
        # One shape for every outcome, so that the outcomes of many sends are one executemany.
        values = {"_id": item["id"], "_attempts": item["attempts"], "attempts": item["attempts"] + 1,
                  "last_status_code": status_code, "last_error": error, "status": DeliveryStatus.PENDING,
                  "delivered_at": None,
                  "next_attempt_at": item["next_attempt_at"]}
        if outcome.status is Verdict.DELIVERED:
            values.update(status=DeliveryStatus.DELIVERED, delivered_at=time.time())
        elif outcome.status is Verdict.RETRY:
            values.update(next_attempt_at=now + outcome.delay)
        else:
            values.update(status=DeliveryStatus.FAILED)
        await self.write(Many(_record_outcomes, (attempt, values)))
        if outcome.disable_hook and item["hook_id"] != DEFAULT_HOOK:
            def disable(conn: sa.Connection) -> None:
                conn.execute(hooks.update().where(hooks.c.id == item["hook_id"], hooks.c.disabled_at.is_(None))
                                   .values(disabled_at=now, disabled_reason="receiver answered 410 Gone"))
                conn.execute(deliveries.update().where(
                    deliveries.c.hook_id == item["hook_id"], deliveries.c.status == DeliveryStatus.PENDING,
                ).values(status=DeliveryStatus.FAILED, last_error="hook disabled (410 Gone)"))

            await self.write(disable)
            self.changes.notify()
        if outcome.status is not Verdict.DELIVERED:
            log.info("webhook delivery %s (%s): %s after attempt %d (%s)", item["id"], item["hook_id"],
                     outcome.status, item["attempts"] + 1, status_code or error)

    async def queue_depth(self) -> int:
        async with self.engine.connect() as conn:
            return (await conn.execute(_QUEUE_DEPTH)).scalar_one()

    async def close(self) -> None:
        """Let sends in flight finish (each is bounded by the request timeout) so their outcome is recorded;
        anything unsent stays pending in the outbox for the next start."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.timeout + 1)
        for task in list(self._tasks):
            task.cancel()
