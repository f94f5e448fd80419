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
from .bus import Kind, Message, publish

log = logging.getLogger(__name__)

# The database's clock, so that every replica's leases are measured on one clock.
DB_NOW = sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
SAFETY = 0.9  # of a lease: when a replica that could not renew stops acting, by its own clock


@dataclass
class Held:
    epoch: int
    valid_until: float  # time.monotonic() after which this replica must stop acting on the node


class NodeStatus:
    """Whether this replica has each node's ARI event stream: kept by the replica that runs the nodes, told to the
    other replicas by the leases (the node's `reachable` in the database)."""

    def __init__(self) -> None:
        self.connected: dict[str, bool] = {}
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def set(self, node: str, up: bool) -> None:
        if self.connected.get(node) != up:
            self.connected[node] = up
            for listener in self._listeners:
                listener()


Acquired = Callable[[str, int], Awaitable[None]]  # (node, epoch): start running it
Lost = Callable[[str], Awaitable[None]]  # node: stop running it now, write nothing more for it


class Leases:
    """Node leases in PostgreSQL, for a cluster of replicas."""

    def __init__(self, engine: AsyncEngine, replica_id: str, replica_name: str, nodes: list[str], lease: float,
                 acquired: Acquired, lost: Lost, quiet: Lost | None = None, status: NodeStatus | None = None) -> None:
        self.engine = engine
        self.replica_id = replica_id
        self.replica_name = replica_name
        self.nodes = sorted(nodes)
        self.lease = lease
        self.acquired = acquired
        self.lost = lost
        self.quiet = quiet or (lambda node: asyncio.sleep(0))  # stop acting on a node, its event stream kept open
        self.held: dict[str, Held] = {}
        self.started_at = time.time()
        self._wake = asyncio.Event()
        self._next = lease / 3  # seconds to the next round
        self._handing: set[asyncio.Task] = set()  # nodes handed over, waiting for their next owner
        self._closing = False  # stopping: take nothing more, renew nothing
        self.status = status or NodeStatus()
        self._told: dict[str, bool] = {}  # what the database was last told of each node's event stream
        self.status.subscribe(self.wake)

    def wake(self) -> None:
        """Another replica freed nodes (cluster.bus), or a node's event stream came or went: a round at once."""
        self._wake.set()

    def owns(self, node: str) -> bool:
        held = self.held.get(node)
        return held is not None and time.monotonic() < held.valid_until

    async def start(self) -> None:
        """The first round, before the service takes requests: the nodes it can have, it runs from the start."""
        await self.tick()

    async def run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._next):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
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
        if self._closing:
            return
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
            # Look again the moment another replica's lease runs out (if it was not renewed, that replica is gone and
            # its nodes are to be shared out), not up to a third of a lease later.
            self._next = self.lease / 3
            expiring = (await conn.execute(sa.select(sa.func.min(asterisk_nodes.c.lease_until)).where(
                asterisk_nodes.c.name.in_(self.nodes), asterisk_nodes.c.owner.is_not(None),
                asterisk_nodes.c.owner != self.replica_id, asterisk_nodes.c.lease_until >= now))).scalar()
            if expiring is not None:
                self._next = max(0.05, min(self._next, expiring - now + 0.05))
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
                                reachable=False, updated_at=now)
                        .returning(asterisk_nodes.c.epoch))).scalar()
                    if epoch is not None:
                        taken[node] = epoch
            for node in renewed:  # what the other replicas' /readyz and /v1/cluster show of this replica's nodes
                up = self.status.connected.get(node, False)
                if self._told.get(node) != up:
                    await conn.execute(asterisk_nodes.update().where(
                        asterisk_nodes.c.name == node, asterisk_nodes.c.owner == self.replica_id,
                    ).values(reachable=up, updated_at=now))
                    self._told[node] = up
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
            self._told[node] = False
            self.held[node] = Held(epoch, valid_until)
            await self.acquired(node, epoch)
        extra = sorted(self.held)[share:] if len(self.held) > share else []
        for node in extra:  # more than a fair share: another replica came; let it have some
            log.info("node %s: handed over to spread the nodes across %d replicas", node, live)
            task = await self.hand_over([node])
            self._handing.add(task)
            task.add_done_callback(self._handing.discard)

    async def hand_over(self, nodes: list[str]) -> asyncio.Task:
        """Let other replicas have these nodes without a gap: stop acting on them, free their leases and tell the
        others; their event streams stay open (events unanswered) until the next owner's stream replaces them, so
        that Asterisk never finds the app unattended (an agent answering then would be hung up). Returns the task
        that closes them."""
        for node in nodes:
            self.held.pop(node, None)
            await self.quiet(node)
        async with self.engine.begin() as conn:
            for node in nodes:
                await conn.execute(asterisk_nodes.update().where(
                    asterisk_nodes.c.name == node, asterisk_nodes.c.owner == self.replica_id,
                ).values(owner=None, lease_until=0.0))
                await conn.run_sync(publish, Message(Kind.RELEASED, "", node))
        return asyncio.create_task(self._close_when_taken(nodes), name="node-hand-over")

    async def _close_when_taken(self, nodes: list[str]) -> None:
        deadline = time.monotonic() + 2 * self.lease
        waiting = set(nodes)
        try:
            while waiting and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                async with self.engine.connect() as conn:  # taken, and its new owner's event stream is up
                    waiting -= set((await conn.execute(sa.select(asterisk_nodes.c.name).where(
                        asterisk_nodes.c.name.in_(waiting), asterisk_nodes.c.owner.is_not(None),
                        asterisk_nodes.c.owner != self.replica_id, asterisk_nodes.c.reachable))).scalars())
        finally:
            for node in nodes:
                await self.lost(node)

    async def close(self) -> None:
        """A clean stop: hand the nodes over at once, so that others need not wait for the leases to run out."""
        self._closing = True
        async with self.engine.begin() as conn:  # leaving: the others share the nodes out without this replica
            await conn.execute(replicas.delete().where(replicas.c.id == self.replica_id))
        await asyncio.gather(*self._handing, await self.hand_over(list(self.held)), return_exceptions=True)


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


    async def close(self) -> None:
        for node in list(self.held):
            del self.held[node]
            await self.lost(node)
