"""Which replica runs which Asterisk node's event stream.

Each node is owned by at most one live replica at a time, under a lease in the database that the owner renews
every third of the lease. A replica takes free or expired nodes up to its fair share (the nodes divided by the
live replicas, rounded up) and lets go of any beyond it, so the nodes spread out as replicas come and go. Every
change of owner increases the node's epoch: the fence that record writes check (records.CallStore).

A replica that cannot renew (its database is gone, it stalled) stops acting on its nodes by its own clock before
the lease can run out in the database's: it counts the lease from the moment it sent the renewal, which is before
the database stamped it. Another replica can take a node only once the database's clock has passed the lease.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import asterisk_nodes, replicas

log = logging.getLogger(__name__)

# The database's clock, so that every replica's leases are measured on one clock.
DB_NOW = sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
SAFETY = 0.9  # of a lease: when a replica that could not renew stops acting, by its own clock


@dataclass
class Held:
    epoch: int
    valid_until: float  # time.monotonic() after which this replica must stop acting on the node


Acquired = Callable[[str, int], Awaitable[None]]  # (node, epoch): start running it
Lost = Callable[[str], Awaitable[None]]  # node: stop running it now, write nothing more for it


class Leases:
    """Node leases in PostgreSQL, for a cluster of replicas."""

    def __init__(self, engine: AsyncEngine, replica_id: str, replica_name: str, nodes: list[str], lease: float,
                 acquired: Acquired, lost: Lost) -> None:
        self.engine = engine
        self.replica_id = replica_id
        self.replica_name = replica_name
        self.nodes = sorted(nodes)
        self.lease = lease
        self.acquired = acquired
        self.lost = lost
        self.held: dict[str, Held] = {}
        self.started_at = time.time()

    def owns(self, node: str) -> bool:
        held = self.held.get(node)
        return held is not None and time.monotonic() < held.valid_until

    async def start(self) -> None:
        """The first round, before the service takes requests: the nodes it can have, it runs from the start."""
        await self.tick()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("node leases not renewed: %s: %s", type(exc).__name__, exc)
            await self._drop_expired()

    async def _drop_expired(self) -> None:
        now = time.monotonic()
        for node in [n for n, h in self.held.items() if h.valid_until <= now]:
            log.warning("node %s: lease not renewed in time; stopped acting on it", node)
            del self.held[node]
            await self.lost(node)

    async def tick(self) -> None:
        """Renew what this replica holds, take up to its fair share, let go of the rest."""
        sent = time.monotonic()
        async with self.engine.begin() as conn:
            now = (await conn.execute(sa.select(DB_NOW))).scalar_one()
            await conn.execute(pg_insert(replicas).values(
                id=self.replica_id, name=self.replica_name, started_at=self.started_at, last_seen=now,
            ).on_conflict_do_update(index_elements=[replicas.c.id], set_={"last_seen": now}))
            await conn.execute(pg_insert(asterisk_nodes).values([
                {"name": n, "owner": None, "epoch": 0, "lease_until": 0.0, "reachable": False, "updated_at": now}
                for n in self.nodes]).on_conflict_do_nothing(index_elements=[asterisk_nodes.c.name]))
            renewed = dict((await conn.execute(
                asterisk_nodes.update().where(asterisk_nodes.c.owner == self.replica_id,
                                              asterisk_nodes.c.name.in_(self.nodes))
                .values(lease_until=now + self.lease).returning(asterisk_nodes.c.name, asterisk_nodes.c.epoch)
            )).all())
            live = (await conn.execute(sa.select(sa.func.count()).select_from(replicas).where(
                replicas.c.last_seen > now - self.lease))).scalar_one()
            share = math.ceil(len(self.nodes) / max(live, 1))
            taken: dict[str, int] = {}
            if len(renewed) < share:
                free = (await conn.execute(sa.select(asterisk_nodes.c.name).where(
                    asterisk_nodes.c.name.in_(self.nodes), asterisk_nodes.c.name.notin_(list(renewed)),
                    sa.or_(asterisk_nodes.c.owner.is_(None), asterisk_nodes.c.lease_until < now),
                ).order_by(asterisk_nodes.c.name))).scalars().all()
                for node in free[:share - len(renewed)]:
                    epoch = (await conn.execute(
                        asterisk_nodes.update().where(
                            asterisk_nodes.c.name == node,
                            sa.or_(asterisk_nodes.c.owner.is_(None), asterisk_nodes.c.lease_until < now))
                        .values(owner=self.replica_id, epoch=asterisk_nodes.c.epoch + 1, lease_until=now + self.lease,
                                updated_at=now)
                        .returning(asterisk_nodes.c.epoch))).scalar()
                    if epoch is not None:
                        taken[node] = epoch
        valid_until = sent + self.lease * SAFETY
        for node in [n for n in self.held if n not in renewed]:
            log.warning("node %s: lease lost (another replica owns it now); stopped acting on it", node)
            del self.held[node]
            await self.lost(node)
        for node, epoch in renewed.items():
            if node in self.held and self.held[node].epoch == epoch:
                self.held[node].valid_until = valid_until
        for node, epoch in taken.items():
            log.info("node %s: taken (epoch %d)", node, epoch)
            self.held[node] = Held(epoch, valid_until)
            await self.acquired(node, epoch)
        extra = sorted(self.held)[share:] if len(self.held) > share else []
        for node in extra:  # more than a fair share: another replica came; let it have some
            log.info("node %s: handed over to spread the nodes across %d replicas", node, live)
            del self.held[node]
            await self.lost(node)  # stop acting first, then free it
            async with self.engine.begin() as conn:
                await conn.execute(asterisk_nodes.update().where(
                    asterisk_nodes.c.name == node, asterisk_nodes.c.owner == self.replica_id,
                ).values(owner=None, lease_until=0.0))

    async def report(self, node: str, reachable: bool, entity_id: str | None = None) -> None:
        """The owner's view of its node, for /v1/cluster and /readyz of every replica."""
        values: dict = {"reachable": reachable, "updated_at": time.time()}
        if entity_id:
            values["entity_id"] = entity_id
        async with self.engine.begin() as conn:
            await conn.execute(asterisk_nodes.update().where(
                asterisk_nodes.c.name == node, asterisk_nodes.c.owner == self.replica_id).values(**values))

    async def close(self) -> None:
        """A clean stop: free the nodes at once, so that others need not wait for the leases to run out."""
        for node in list(self.held):
            del self.held[node]
            await self.lost(node)
        async with self.engine.begin() as conn:
            await conn.execute(asterisk_nodes.update().where(asterisk_nodes.c.owner == self.replica_id)
                               .values(owner=None, lease_until=0.0))
            await conn.execute(replicas.delete().where(replicas.c.id == self.replica_id))


class SoleOwner:
    """One replica (SQLite, or PostgreSQL without a cluster): it owns every node, always."""

    def __init__(self, nodes: list[str], acquired: Acquired, lost: Lost) -> None:
        self.nodes = sorted(nodes)
        self.acquired = acquired
        self.lost = lost
        self.held: dict[str, Held] = {}

    def owns(self, node: str) -> bool:
        return node in self.held

    async def start(self) -> None:
        for node in self.nodes:
            self.held[node] = Held(0, math.inf)
            await self.acquired(node, 0)

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def report(self, node: str, reachable: bool, entity_id: str | None = None) -> None:
        pass

    async def close(self) -> None:
        for node in list(self.held):
            del self.held[node]
            await self.lost(node)
