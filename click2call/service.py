"""Click-to-call as one service function: checks, then hand the call to the Stasis app."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

from . import cdr
from .call_specs import CallSpecs
from .db import calls
from .errors import ApiError
from .logs import call_id_var
from .metrics import Metrics
from .ratelimit import Limits
from .records import CallStore
from .schema.calls import LiveCall
from .schema.cdr import Cdr, CdrFilters, CdrPage
from .schema.click_to_call import ClickToCall
from .states import Direction, HangupBy
from .stasis_app.ari import Ari, AriError, AriUnavailable
from .stasis_app.calls import StasisApp
from .tenants import Tenant


class ClickToCallService:
    def __init__(self, specs: CallSpecs, ari: Ari, stasis: StasisApp, limits: Limits, metrics: Metrics) -> None:
        self.specs = specs
        self.limits = limits
        self.ari = ari
        self.stasis = stasis
        self.metrics = metrics

    async def click_to_call(self, req: ClickToCall, tenant: Tenant, *, wait: bool, limit_key: str = "") -> str:
        """Ring the agent. wait=False: return the call_id once the extension is known to be logged in and free and
        the call is recorded, as the API's contract says ("returns call_id if the extension is logged in"); the
        call goes on, and how it ends is in its record and webhooks. wait=True: once the agent answered."""
        spec = self.specs.spec(req, str(uuid.uuid4()), tenant)
        call_id_var.set(spec.call_id)
        if not self.ari.connected.is_set():
            raise ApiError("SERVICE_UNAVAILABLE")
        self.stasis.reserve(spec.ext, spec.call_id)
        counted = None
        try:
            counted = self.limits.call_started(limit_key) if limit_key else None
            # The extension's check with Asterisk and the write of the call's record go side by side.
            call = await self.stasis.start(spec, checked=self._check_extension(spec.ext))
        except BaseException:
            self.stasis.release(spec.ext, spec.call_id)
            if counted:
                self.limits.call_ended(counted)
            raise
        if counted:  # the token's call count drops when the call ends
            call.task.add_done_callback(lambda _: self.limits.call_ended(counted))
        if not wait:
            return spec.call_id
        pending = self.metrics.pending_sync
        pending.inc()
        try:
            outcome = await call.answered
        finally:
            pending.dec()
        if outcome is not None:
            raise ApiError(*outcome)
        return spec.call_id

    async def _check_extension(self, ext: str) -> None:
        try:
            endpoint = await self.ari.request("GET", f"/endpoints/PJSIP/{ext}")
        except AriUnavailable:
            raise ApiError("SERVICE_UNAVAILABLE") from None
        except AriError as exc:
            if exc.status == 404:
                raise ApiError("EXTENSION_NOT_FOUND", f"extension {ext} does not exist") from None
            raise ApiError("CALL_FAILED", exc.message) from None
        if endpoint.get("state") != "online":
            raise ApiError("USER_NOT_REGISTERED")
        if endpoint.get("channel_ids"):
            raise ApiError("USER_BUSY", f"extension {ext} is on a call")


class RecordsService:
    """Reading call records, and the calls in progress."""

    def __init__(self, tz: ZoneInfo, store: CallStore, stasis: StasisApp) -> None:
        self.tz = tz
        self.store = store
        self.stasis = stasis

    async def cdr_list(self, filters: CdrFilters, tenant: Tenant) -> CdrPage:
        query = cdr.parse_query(filters, self.tz)
        where = query.where if tenant.is_operator else [*query.where, calls.c.tenant == tenant.name]
        rows, total = await self.store.search(where, query.limit, page=query.page, after=query.after)
        body = CdrPage(data=[cdr.serialise(r, self.tz) for r in rows], limit=query.limit)
        if query.page is not None:
            body.update(page=query.page, total=total)
        else:
            body["scroll_id"] = cdr.encode_cursor(rows[-1]) if len(rows) == query.limit else None
        return body

    async def cdr_get(self, key: str, tenant: Tenant) -> Cdr:
        record = await self.store.get(key)
        if record is None or not tenant.sees(record["tenant"]):
            raise ApiError("CALL_NOT_FOUND", f"no call record with id {key}")
        return cdr.serialise(record, self.tz)

    def active_calls(self, tenant: Tenant) -> list[LiveCall]:
        return [
            LiveCall(
                call_id=call.call_id, extension=call.state.spec.ext, destination=call.state.spec.phone,
                hotline=call.state.spec.hotline, direction=Direction.OUTBOUND, state=call.state.phase.value,
                time_started=cdr.fmt_time(call.state.created_at, self.tz),
            )
            for call in self.stasis.calls.values() if tenant.sees(call.state.spec.tenant)
        ]

    async def hangup(self, call_id: str, tenant: Tenant) -> None:
        call = self.stasis.calls.get(call_id)
        if call is not None and not tenant.sees(call.state.spec.tenant):
            raise ApiError("CALL_NOT_FOUND", f"no call in progress with call_id {call_id}")
        call = self.stasis.hangup(call_id, HangupBy.API)
        await call.done.wait()
