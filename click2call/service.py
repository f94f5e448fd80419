"""Click-to-call as one service function: checks, then hand the call to the Stasis app."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from zoneinfo import ZoneInfo

from . import cdr, cdr_export
from .call_specs import CallSpecs
from .cluster.bus import Bus, Kind
from .endpoints import check_extension, endpoint, idle
from .errors import CODES, ApiError
from .logs import call_id_var
from .metrics import Metrics
from .records import CallStore, agent_of
from .replica import HANGUP, Replica
from .schema.calls import LiveCall
from .schema.cdr import Cdr, CdrFilters, CdrPage, CdrSelection
from .schema.click_to_call import ClickToCall
from .states import CallStatus, Direction, HangupBy
from .stasis_app.ari import AriUnavailable
from .stasis_app.call_flow import CallSpec, CallState
from .stasis_app.calls import settle_check_and_record
from .tenants import Tenant


class ClickToCallService:
    """Places a call on the node where its extension is registered, whichever replica runs that node."""

    def __init__(self, specs: CallSpecs, replica: Replica, store: CallStore, metrics: Metrics, *,
                 max_calls_per_token: int = 0, bus: Bus | None = None, answer_wait: float = 60.0) -> None:
        self.specs = specs
        self.replica = replica
        self.store = store
        self.metrics = metrics
        self.max_calls_per_token = max_calls_per_token
        self.bus = bus  # a cluster's: calls on nodes another replica runs are started, and waited for, through it
        self.answer_wait = answer_wait  # seconds a sync request waits for another replica's word on its call

    async def click_to_call(self, req: ClickToCall, tenant: Tenant, *, wait: bool, limit_key: str = "") -> str:
        """Ring the agent. wait=False: return the call_id once the extension is known to be logged in and free and
        the call is recorded, as the API's contract says ("returns call_id if the extension is logged in"); the
        call goes on, and how it ends is in its record and webhooks. wait=True: once the agent answered."""
        spec = self.specs.spec(req, str(uuid.uuid4()), tenant)
        call_id_var.set(spec.call_id)
        node, checked = await self._locate(spec.ext)
        spec = replace(spec, node=node)
        token = limit_key or None
        stasis = self.replica.runs(node)
        if stasis is not None:
            if not await stasis.connected():
                _close(checked)
                raise ApiError("SERVICE_UNAVAILABLE")
            # The extension's check with Asterisk and the write of the call's record go side by side.
            call = await stasis.start(spec, checked, token=token, cap=self.max_calls_per_token)
            if not wait:
                return spec.call_id
            with self._pending():
                outcome = await call.answered
            if outcome is not None:
                raise ApiError(*outcome)
            return spec.call_id
        return await self._on_another_replica(spec, checked, token, wait)

    async def _on_another_replica(self, spec: CallSpec, checked: Awaitable[None] | None, token: str | None,
                                  wait: bool) -> str:
        """Another replica runs the node: record the call for it to start (the record's commit tells it), and
        for a sync request wait for its word on the agent leg. A node between two owners (a replica died or is
        handing it over) is taken within a lease, and its new owner starts the calls recorded for it meanwhile."""
        if self.bus is None:
            _close(checked)
            raise ApiError("SERVICE_UNAVAILABLE", f"Asterisk node {spec.node} is not run by this service")
        if checked is not None:
            await checked  # before the record: its commit starts the call
        result = self.bus.expect(Kind.RESULT, spec.call_id) if wait else None
        created = asyncio.ensure_future(self.store.create(CallState(spec, created_at=time.time()), token=token,
                                                          cap=self.max_calls_per_token))
        try:
            await settle_check_and_record(spec.call_id, None, created, self.store)
        except BaseException:
            if result is not None:
                result.cancel()  # no call: nothing to wait for (and no waiter left behind on the bus)
            raise
        if result is None:
            return spec.call_id
        with self._pending():
            outcome = await self._word_on(spec, result)
        if outcome != "success":
            raise ApiError(outcome if outcome in CODES else "CALL_FAILED")
        return spec.call_id

    async def _word_on(self, spec: CallSpec, result: asyncio.Future) -> str:
        try:
            async with asyncio.timeout(spec.ring_timeout + self.answer_wait):
                return (await result).result
        except TimeoutError:
            record = await self.store.get(spec.call_id)  # a notification may have been lost with a connection
            if record is not None and record["result"]:
                return record["result"]
            raise ApiError("SERVICE_UNAVAILABLE", f"no word on the call from the replica running node {spec.node}; "
                                                  "its record will tell how it went") from None
        finally:
            result.cancel()

    @contextlib.contextmanager
    def _pending(self):
        self.metrics.pending_sync.inc()
        try:
            yield
        finally:
            self.metrics.pending_sync.dec()

    async def _locate(self, ext: str) -> tuple[str, Awaitable[None] | None]:
        """The node to ring the extension on. One node: it, and its check (to run beside the record's write).
        Several: the node where the extension is registered, checked on all of them at once."""
        aris = self.replica.aris
        if len(aris) == 1:
            (node, ari), = aris.items()
            return node, asyncio.ensure_future(check_extension(ari, ext))
        names = list(aris)
        found = await asyncio.gather(*(endpoint(aris[n], ext) for n in names), return_exceptions=True)
        unreachable = []
        exists = False
        for node, seen in zip(names, found):
            if isinstance(seen, AriUnavailable):
                unreachable.append(node)
            elif isinstance(seen, BaseException):
                raise seen
            elif seen is not None:
                exists = True
                if seen.get("state") == "online":
                    idle(seen, ext)
                    return node, None
        if unreachable:
            raise ApiError("SERVICE_UNAVAILABLE", f"extension {ext} is not registered on a reachable node, and "
                                                  f"Asterisk node(s) {', '.join(unreachable)} cannot be reached")
        if not exists:
            raise ApiError("EXTENSION_NOT_FOUND", f"extension {ext} does not exist")
        raise ApiError("USER_NOT_REGISTERED")


def _close(checked: Awaitable[None] | None) -> None:
    if isinstance(checked, asyncio.Future):
        checked.cancel()


EXPORT_BATCH = 1000  # records one read of an export takes


class RecordsService:
    """Reading call records, and the calls in progress (from their records: whichever replica runs them)."""

    def __init__(self, tz: ZoneInfo, store: CallStore, replica: Replica, bus: Bus | None = None,
                 hangup_wait: float = 30.0) -> None:
        self.tz = tz
        self.store = store
        self.replica = replica
        self.bus = bus
        self.hangup_wait = hangup_wait

    async def cdr_list(self, filters: CdrFilters, tenant: Tenant) -> CdrPage:
        query = cdr.parse_query(filters, self.tz)
        where = [*query.common, *cdr.visible(tenant)]
        rows, total = await self.store.search(where, query.limit, page=query.page, after=query.after,
                                              either=query.either, counted=cdr.countable(query, tenant))
        body = CdrPage(data=[cdr.serialise(r, self.tz) for r in rows], limit=query.limit)
        if query.page is not None:
            body.update(page=query.page, total=total)
        else:
            body["scroll_id"] = cdr.encode_cursor(rows[-1]) if len(rows) == query.limit else None
        return body

    async def cdr_export(self, selection: CdrSelection, tenant: Tenant,
                         batch: int = EXPORT_BATCH) -> AsyncIterator[bytes]:
        """The records GET /v1/cdr would page through for these filters, newest first, as CSV (cdr_export.py): the
        same query and keyset paging as the API's scroll_id pages, a batch at a time, so memory stays flat however
        many there are. A call recorded meanwhile is newer than the first page: not in the export."""
        filters = CdrFilters.model_construct(**dict(selection), limit=batch, page=None, scroll_id=None)
        query = cdr.parse_query(filters, self.tz)
        where = [*query.common, *cdr.visible(tenant)]
        yield cdr_export.header()
        after = None
        while True:
            rows, _ = await self.store.search(where, batch, after=after, either=query.either)
            if rows:
                yield cdr_export.rows(cdr.serialise(r, self.tz) for r in rows)
            if len(rows) < batch:
                return
            after = (rows[-1]["created_at"], rows[-1]["call_id"])

    async def cdr_get(self, key: str, tenant: Tenant) -> Cdr:
        record = await self.store.get(key)
        if record is None or not tenant.sees_call(record["tenant"], record["extension"]):
            raise ApiError("CALL_NOT_FOUND", f"no call record with id {key}")
        return cdr.serialise(record, self.tz)

    async def active_calls(self, tenant: Tenant) -> list[LiveCall]:
        where = cdr.visible(tenant)
        return [
            LiveCall(
                call_id=r["call_id"], extension=r["extension"], destination=r["phone"], hotline=r["hotline"],
                direction=Direction(r["direction"]), state=r["phase"], time_started=cdr.fmt_time(r["created_at"], self.tz),
                customer_id=r["customer_id"] or "",
            )
            for r in await self.store.in_progress(where)
        ]

    async def hangup(self, call_id: str, tenant: Tenant) -> None:
        """Hang both legs up; returns once the record is final, whichever replica runs the call."""
        missing = ApiError("CALL_NOT_FOUND", f"no call in progress with call_id {call_id}")
        call = self.replica.find(call_id)
        if call is not None:
            if not tenant.sees_call(call.state.spec.tenant, agent_of(call.state)):
                raise missing
            self.replica.runs(call.state.spec.node).hangup(call_id, HangupBy.API)
            await call.done.wait()
            return
        if self.bus is None:
            raise missing
        record = await self.store.get(call_id)
        if record is None or record["call_id"] != call_id or record["status"] != CallStatus.IN_PROGRESS \
                or not tenant.sees_call(record["tenant"], record["extension"]):
            raise missing
        ended = self.bus.expect(Kind.ENDED, call_id)
        try:
            await self.store.request(call_id, record["node"] or "", HANGUP, HangupBy.API)
            async with asyncio.timeout(self.hangup_wait):
                await ended
        except TimeoutError:
            raise ApiError("SERVICE_UNAVAILABLE", f"the hang-up is asked of node {record['node']}, whose replica "
                                                  "has not done it yet; it will be done when one runs the node") from None
        finally:
            ended.cancel()
