"""The cluster as GET /v1/cluster and /readyz see it: nodes (reachable, owner, lease, registered extensions, calls
in progress) and replicas (last seen)."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import asterisk_nodes, calls, replicas
from ..states import CallStatus
from ..stasis_app.ari import Ari, AriError
from .leases import DB_NOW


async def registered(ari: Ari, trunks: set[str]) -> tuple[int | None, str | None]:
    """Extensions online on a node (PJSIP endpoints but the hotlines' trunks), or None and why it cannot be asked
    (e.g. its TLS certificate fails verification)."""
    try:
        endpoints = await ari.request("GET", "/endpoints/PJSIP")
    except AriError as exc:
        return None, exc.message
    return sum(1 for e in endpoints or () if e.get("state") == "online" and e.get("resource") not in trunks), None


async def entity_ids(aris: dict[str, Ari]) -> dict[str, str]:
    """Asterisk's entity id of every node that answers (`GET /asterisk/info`)."""
    async def one(ari: Ari) -> str | None:
        try:
            info = await ari.request("GET", "/asterisk/info", params={"only": "system"})
        except AriError:
            return None
        return ((info or {}).get("system") or {}).get("entity_id")

    found = await asyncio.gather(*(one(a) for a in aris.values()))
    return {node: e for node, e in zip(aris, found) if e}


async def cluster(engine: AsyncEngine, aris: dict[str, Ari], lease: float, trunks: set[str]) -> dict:
    async with engine.connect() as conn:
        now = (await conn.execute(sa.select(DB_NOW))).scalar_one() if engine.dialect.name == "postgresql" \
            else time.time()
        leases = {r["name"]: dict(r) for r in (await conn.execute(sa.select(asterisk_nodes))).mappings()}
        alive = [dict(r) for r in (await conn.execute(sa.select(replicas).order_by(replicas.c.name))).mappings()]
        active = dict((await conn.execute(sa.select(calls.c.node, sa.func.count()).where(
            calls.c.status == CallStatus.IN_PROGRESS).group_by(calls.c.node))).all())
    online, ids = await asyncio.gather(asyncio.gather(*(registered(a, trunks) for a in aris.values())),
                                       entity_ids(aris))
    nodes = []
    for (name, ari), (count, error) in zip(aris.items(), online):
        held = leases.get(name, {})
        owned = bool(held.get("owner")) and held.get("lease_until", 0) > now
        nodes.append({
            "name": name, "ari_url": ari.base.removesuffix("/ari"), "reachable": count is not None, "ari_error": error,
            "owner": held.get("owner") if owned else None, "lease_expires_in": round(held["lease_until"] - now, 1)
            if owned else None, "epoch": held.get("epoch", 0), "entity_id": ids.get(name, ""),
            "registered_extensions": count, "calls_in_progress": active.get(name, 0),
        })
    return {
        "nodes": nodes,
        "replicas": [{"id": r["id"], "name": r["name"], "last_seen_seconds_ago": round(now - r["last_seen"], 1),
                      "live": now - r["last_seen"] < lease} for r in alive],
    }


async def unowned(engine: AsyncEngine, nodes: list[str]) -> list[str]:
    """The nodes no live replica holds a lease on (for /readyz of a clustered replica)."""
    async with engine.connect() as conn:
        now = (await conn.execute(sa.select(DB_NOW))).scalar_one()
        held = set((await conn.execute(sa.select(asterisk_nodes.c.name).where(
            asterisk_nodes.c.owner.is_not(None), asterisk_nodes.c.lease_until > now))).scalars())
    return [n for n in nodes if n not in held]

