"""Call control as service functions: hold, unhold, mute, unmute, DTMF, and a supervisor's listen, whisper or barge, on
a connected call, whichever replica runs it. Done in order with the call's events by the call's own worker
(stasis_app.calls.StasisApp.control / supervise); through a replica that does not run it, as a request to the one
that does."""

from __future__ import annotations

import asyncio

from .cluster.bus import Bus, Kind
from .endpoints import check_extension
from .errors import CODES, ApiError
from .records import CallStore, agent_of
from .replica import Replica
from .stasis_app import ids
from .stasis_app.transfers import Mode
from .states import SUPERVISE, CallAction, CallStatus, HangupBy, Side
from .tenants import Tenant


class CallControl:
    def __init__(self, store: CallStore, replica: Replica, bus: Bus | None = None, wait: float = 10.0,
                 trunks: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.replica = replica
        self.bus = bus  # a cluster's: a call another replica runs is asked through it
        self.wait = wait  # seconds to wait for another replica's answer
        self.trunks = trunks  # hotline trunks: never a supervisor

    async def control(self, call_id: str, tenant: Tenant, action: CallAction, side: Side, digits: str = "") -> None:
        """Carried out when this returns; ApiError otherwise (nothing changed)."""
        call, record = await self._find(call_id, tenant)
        if call is not None:
            stasis = self.replica.runs(call.state.spec.node)
            _done(await stasis.control(call_id, action, side.party, digits, by=tenant.name or ""))
            return
        await self._ask(record, action, {"party": side.party, "digits": digits, "by": tenant.name or ""})

    async def supervise(self, call_id: str, tenant: Tenant, mode: CallAction, ext: str) -> None:
        """Ring `ext` onto the call in that mode, or switch it if it is on the call already; returns once it rings
        (or has switched)."""
        assert mode in SUPERVISE
        if ext in self.trunks:
            raise ApiError("EXTENSION_NOT_FOUND", f"extension {ext} does not exist")
        tenant.check_extension(ext)
        call, record = await self._find(call_id, tenant)
        node = call.state.spec.node if call is not None else record["node"] or ""
        # Registered and free; a supervisor already on this call (a mode switch) is not busy for it.
        await check_extension(self.replica.aris[node], ext, ours=ids.numbered(call_id, ids.SUPERVISOR_PREFIX, ""))
        if call is not None:
            stasis = self.replica.runs(node)
            _done(await stasis.supervise(call_id, mode, ext, by=tenant.name or ""))
            return
        await self._ask(record, mode, {"ext": ext, "by": tenant.name or ""})

    async def transfer(self, call_id: str, tenant: Tenant, legs: Side, ext: str = "", phone: str = "",
                       mode: str = "blind", hold: bool = False) -> None:
        """Transfer a party of the call to an extension (checked like a click's first: nothing changes on a refusal)
        or an external number (through the call's trunk); returns once the target's leg is on its way."""
        call, record = await self._find(call_id, tenant)
        node = call.state.spec.node if call is not None else record["node"] or ""
        if ext:
            if ext in self.trunks:
                raise ApiError("EXTENSION_NOT_FOUND", f"extension {ext} does not exist")
            tenant.check_extension(ext)
            await check_extension(self.replica.aris[node], ext)
        by = tenant.name or ""
        if call is not None:
            stasis = self.replica.runs(node)
            _done(await stasis.transfer(call_id, Mode(mode), legs, ext, phone, hold, by=by))
            return
        await self._ask(record, CallAction.TRANSFER, {"legs": legs, "ext": ext, "phone": phone, "mode": mode,
                                                      "hold": hold, "by": by})

    async def park(self, call_id: str, tenant: Tenant, legs: Side) -> None:
        """The other party leaves; `legs` hears music until a transfer picks it up or C2C_PARK_TIMEOUT ends it."""
        call, record = await self._find(call_id, tenant)
        if call is not None:
            _done(await self.replica.runs(call.state.spec.node).park(call_id, legs, by=tenant.name or ""))
            return
        await self._ask(record, CallAction.PARK, {"legs": legs, "by": tenant.name or ""})

    async def _find(self, call_id: str, tenant: Tenant):
        """(the call, if this replica runs it; else None, and its record: in progress on another replica)."""
        missing = ApiError("CALL_NOT_FOUND", f"no call with call_id {call_id}")
        call = self.replica.find(call_id)
        if call is not None:
            if not tenant.sees_call(call.state.spec.tenant, agent_of(call.state)):
                raise missing
            return call, None
        record = await self.store.get(call_id)
        if record is None or record["call_id"] != call_id \
                or not tenant.sees_call(record["tenant"], record["extension"]):
            raise missing
        if record["status"] != CallStatus.IN_PROGRESS or self.bus is None:  # one replica: it is just ending
            raise ApiError("CALL_ENDED", f"call {call_id} has ended")
        return None, record

    async def _ask(self, record: dict, action: CallAction, params: dict) -> None:
        """Ask the replica that runs the call, and wait for its answer (or the call's end)."""
        call_id = record["call_id"]
        ended = self.bus.expect(Kind.ENDED, call_id)
        try:
            request_id = await self.store.request(call_id, record["node"] or "", action, HangupBy.API, params)
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


def _done(outcome: tuple[str, str] | None) -> None:
    if outcome is not None:
        raise ApiError(*outcome)
