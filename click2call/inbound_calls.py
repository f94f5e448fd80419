"""Inbound calls' edges that need the configuration, Asterisk and the database: which group a caller handed over by
the dialplan rings (its Stasis arguments validated like API input), and who of that group can be rung now."""

from __future__ import annotations

import asyncio
import logging
import time

import sqlalchemy as sa
from pydantic_core import PydanticCustomError
from sqlalchemy.ext.asyncio import AsyncEngine

from .agent_store import available
from .db import calls
from .errors import ApiError
from .ring_group import GROUP_PREFIX, RingGroup
from .schema import fields
from .schema.tenants_file import NAME_RE
from .states import CallStatus
from .stasis_app.ari import Ari, AriError
from .stasis_app.inbound_flow import Available, InboundSpec, Surveyed
from .tenants import Directory

log = logging.getLogger(__name__)

DAY = 86400.0


def _last_ended(ext: str) -> sa.ScalarSelect:
    """The end of the agent's last call: one step into (extension, ended_at) at its last entry (a GROUP BY over the
    group's extensions read every call they ever had)."""
    return sa.select(calls.c.ended_at).where(calls.c.extension == ext, calls.c.ended_at.is_not(None)).order_by(
        calls.c.ended_at.desc()).limit(1).scalar_subquery()


# The caller's last answered call (inbound or a click-to-call) with an agent of the group, in the last N days.
_STICKY = sa.select(calls.c.extension).where(
    calls.c.phone == sa.bindparam("caller"), calls.c.status == CallStatus.ANSWERED,
    calls.c.created_at >= sa.bindparam("since"), calls.c.extension.in_(sa.bindparam("exts", expanding=True)),
).order_by(calls.c.created_at.desc()).limit(1)


async def history(engine: AsyncEngine, exts: list[str], caller: str | None, since: float | None
                  ) -> tuple[dict[str, float], str | None]:
    """What the records say for a ring: the end of each extension's last call (those that had one), and, with a
    caller and `since`, the agent of the group the caller last talked to since then."""
    async with engine.connect() as conn:
        idle = {}
        if exts:
            lasts = (await conn.execute(sa.select(*(_last_ended(e) for e in exts)))).one()
            idle = {e: t for e, t in zip(exts, lasts) if t is not None}
        last = None
        if caller and since is not None:
            last = (await conn.execute(_STICKY, {"caller": caller, "exts": exts, "since": since})).scalar()
    return idle, last


def _valid(rule, value: object, default: str = "") -> str:
    try:
        return rule(value, "value")
    except PydanticCustomError:
        return default


def trunk_of(channel_name: str) -> str:
    """PJSIP/trunk-a-0000002a -> trunk-a."""
    tech, _, rest = channel_name.partition("/")
    endpoint = rest.rpartition("-")[0]
    return endpoint if tech == "PJSIP" and NAME_RE.fullmatch(endpoint) else ""


class InboundCalls:
    def __init__(self, directory: Directory, engine: AsyncEngine, aris: dict[str, Ari], ring_seconds: int) -> None:
        self.directory = directory
        self.engine = engine
        self.aris = aris
        self.ring_seconds = ring_seconds  # an inbound call to one extension rings it this long (C2C_RING_TIMEOUT)

    def inbound_spec(self, channel: dict, args: list[str], call_id: str) -> InboundSpec:
        """Stasis(click2call,inbound[,TARGET]): TARGET an extension or group:NAME; without it, the group of the
        dialled hotline (${EXTEN}). Raises ApiError (its message is the logged reason)."""
        if len(args) > 2:
            raise ApiError("INVALID_PARAMETER", "Stasis(app,inbound[,TARGET]) takes at most one target")
        target = args[1] if len(args) == 2 else ""
        exten = (channel.get("dialplan") or {}).get("exten", "")
        hotline = _valid(fields.phone, exten)
        if target.startswith(GROUP_PREFIX):
            name = target[len(GROUP_PREFIX):]
            group = self.directory.group(name)
            if group is None:
                raise ApiError("INVALID_PARAMETER", f"no ring group named {name[:64]!r}")
        elif target:
            try:
                ext = fields.extension(target, "inbound target")
            except PydanticCustomError as exc:
                raise ApiError("INVALID_PARAMETER", exc.message()) from None
            group = RingGroup.of_extension(ext, self.directory.owner_of(ext).name, self.ring_seconds)
        else:
            if not hotline:
                raise ApiError("INVALID_PARAMETER", f"the dialled number {exten[:32]!r} is not a hotline number")
            group = self.directory.group_of_hotline(hotline)
            if group is None:
                raise ApiError("HOTLINE_NOT_FOUND", f"no ring group answers hotline {hotline}")
        caller = channel.get("caller") or {}
        return InboundSpec(
            call_id=call_id, channel=channel["id"], caller=_valid(fields.phone, caller.get("number", "")),
            caller_name=_valid(fields.display_name, caller.get("name", "")), hotline=hotline,
            trunk=trunk_of(channel.get("name", "")), group=group, tenant=group.tenant,
            sip_call_id=channel.get("protocol_id") or "")

    async def survey(self, group: RingGroup, caller: str, sticky: bool, node: str) -> Surveyed:
        """The group's agents that can be rung now on this node: registered (ARI says online), free (no channel),
        not paused; with their idle time, in the group's order. Asterisk is asked, not the presence kept from its
        events: at the moment of ringing only its word is current."""
        exts = list(group.extensions)
        endpoints = await asyncio.gather(*(self._endpoint(node, e) for e in exts))
        agents = await available(self.engine, node, exts)  # paused; idle since (the presence kept from events)
        paused = {e for e, a in agents.items() if a.paused}
        # An agent whose presence has not seen a call end yet: the end of its last call on record.
        since = time.time() - group.sticky_days * DAY if sticky and caller and group.sticky_days else None
        idle, last = await history(self.engine, exts, caller, since)
        idle.update({e: a.idle_since for e, a in agents.items() if a.idle_since is not None})
        free = tuple(Available(e, idle.get(e)) for e, endpoint in zip(exts, endpoints)
                     if endpoint is not None and endpoint.get("state") == "online"
                     and not endpoint.get("channel_ids") and e not in paused)
        return Surveyed(free, last, time.time())

    async def _endpoint(self, node: str, ext: str) -> dict | None:
        try:
            return await self.aris[node].request("GET", f"/endpoints/PJSIP/{ext}")
        except AriError as exc:
            if exc.status != 404:
                log.warning("endpoint %s on node %s not read: %s", ext, node, exc)
            return None
