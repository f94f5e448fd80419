"""Agents for the API: pause and resume (cluster-wide, in the database), and the monitor of the caller's agents,
read from the database (every node's presence, the pause states, the calls in progress), so that any replica of a
cluster answers for every node."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from . import cdr, validation
from .agent_store import AgentStore
from .errors import ApiError
from .schema.agents import AgentPaused, AgentStatus, MonitorQuery
from .states import AgentCallState, Direction
from .tenants import Tenant


class AgentsService:
    def __init__(self, store: AgentStore, tz: ZoneInfo, trunks: frozenset[str]) -> None:
        self.store = store
        self.tz = tz
        self.trunks = trunks  # hotline trunks: PJSIP endpoints that are never agents

    def _check(self, ext: str, tenant: Tenant) -> str:
        """An extension as API input: a valid name, not a trunk (404 as if it did not exist), the tenant's own (403)."""
        validation.extension(ext, "ext")
        if ext in self.trunks:
            raise ApiError("EXTENSION_NOT_FOUND", f"extension {ext} does not exist")
        tenant.check_own(ext)
        return ext

    async def pause(self, ext: str, tenant: Tenant, paused: bool, reason: str | None = None) -> AgentPaused:
        """Pause (ring groups skip the agent) or resume; doing it twice changes nothing more."""
        ext = self._check(ext, tenant)
        return AgentPaused(status="success", extension=ext, paused=await self.store.set_paused(ext, paused, reason))

    async def monitor(self, tenant: Tenant, query: MonitorQuery) -> list[AgentStatus]:
        """The tenant's agents that are registered or on a call, on every node (one item per node an extension is
        registered on). An agent paused while logged out is listed again, paused, when it registers."""
        rows, paused, in_progress = await self.store.monitor_rows(query.extension)
        now = time.time()
        listed = []
        for row in rows:
            ext, state = row["extension"], AgentCallState(row["call_state"])
            mine = tenant.owns(ext) and (tenant.agent is None or ext == tenant.agent)  # an agent token: its own
            if not mine or not (row["registered"] or state is not AgentCallState.IDLE):
                continue
            call = in_progress.get(ext) if state is not AgentCallState.IDLE else None
            call_id = row["call_id"] or (call and call["call_id"]) or ""
            destination = row["destination"] or (call and call["phone"]) or ""
            direction = row["direction"] or (call and call["direction"]) or ""
            since = row["state_since"] if state is not AgentCallState.IDLE else \
                max(row["state_since"], row["registered_since"] or 0.0)
            listed.append(AgentStatus(
                extension=ext, call_state=state, call_id=call_id,
                call_time=0 if state is AgentCallState.IDLE else max(0, int(now - row["state_since"])),
                destination=destination, direction=Direction(direction) if direction else "",
                user_agent=row["user_agent"] or "", network_ip=row["network_ip"] or "", server_host=row["node"],
                registered=bool(row["registered"]), paused=ext in paused, since=cdr.fmt_time(since, self.tz)))
        return listed
