"""Call control as one service function: hold, unhold, mute, unmute or DTMF on a connected call, whichever replica
runs it. Done in order with the call's events, by the call's own worker (stasis_app.calls.StasisApp.control)."""

from __future__ import annotations

import asyncio

from .cluster.bus import Bus, Kind
from .errors import CODES, ApiError
from .records import CallStore
from .replica import Replica
from .states import CallAction, CallStatus, HangupBy, Side
from .tenants import Tenant


class CallControl:
    def __init__(self, store: CallStore, replica: Replica, bus: Bus | None = None, wait: float = 10.0) -> None:
        self.store = store
        self.replica = replica
        self.bus = bus  # a cluster's: a call another replica runs is asked through it
        self.wait = wait  # seconds to wait for another replica's answer

    async def control(self, call_id: str, tenant: Tenant, action: CallAction, side: Side, digits: str = "") -> None:
        """Carried out when this returns; ApiError otherwise (nothing changed)."""
        missing = ApiError("CALL_NOT_FOUND", f"no call with call_id {call_id}")
        call = self.replica.find(call_id)
        if call is not None:
            if not tenant.sees(call.state.spec.tenant):
                raise missing
            stasis = self.replica.runs(call.state.spec.node)
            outcome = await stasis.control(call_id, action, side.party, digits, by=tenant.name or "")
            if outcome is not None:
                raise ApiError(*outcome)
            return
        record = await self.store.get(call_id)
        if record is None or record["call_id"] != call_id or not tenant.sees(record["tenant"]):
            raise missing
        if record["status"] != CallStatus.IN_PROGRESS:
            raise ApiError("CALL_ENDED", f"call {call_id} has ended")
        if self.bus is None:  # recorded in progress, but not running here: it is just ending
            raise ApiError("CALL_ENDED", f"call {call_id} has ended")
        await self._on_another_replica(record, tenant, action, side, digits)

    async def _on_another_replica(self, record: dict, tenant: Tenant, action: CallAction, side: Side,
                                  digits: str) -> None:
        call_id = record["call_id"]
        ended = self.bus.expect(Kind.ENDED, call_id)
        try:
            request_id = await self.store.request(call_id, record["node"] or "", action, HangupBy.API, {
                "party": side.party, "digits": digits, "by": tenant.name or ""})
            replied = self.bus.expect(Kind.REPLY, f"request:{request_id}")
            try:
                async with asyncio.timeout(self.wait):
                    done, _ = await asyncio.wait([replied, ended], return_when=asyncio.FIRST_COMPLETED)
            except TimeoutError:
                raise ApiError("SERVICE_UNAVAILABLE", f"no answer from the replica running node {record['node']}; "
                                                      "the call's record will show whether it was done") from None
            finally:
                replied.cancel()
        finally:
            ended.cancel()
        if replied in done and not replied.cancelled():
            result = replied.result().result
            if result == "success":
                return
            raise ApiError(result if result in CODES else "CALL_FAILED")
        raise ApiError("CALL_ENDED", f"call {call_id} has ended")
