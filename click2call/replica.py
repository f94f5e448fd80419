"""This replica: the Asterisk nodes it runs (their event streams and calls) and those it only reaches over ARI's
REST API, and what it does for the other replicas of a cluster (start a call they recorded, carry out a request
for a call it runs).

Which nodes it runs is the leases' decision (cluster.leases): with one replica it runs them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from .cluster.bus import Kind, Message
from .cluster.leases import NodeStatus
from .metrics import Metrics
from .records import CallStore, Fence
from .errors import ApiError
from .states import SUPERVISE, CallAction, HangupBy, Party, Side
from .stasis_app import call_flow as flow
from .stasis_app.ari import Ari
from .stasis_app.calls import AgentPresence, HandoffSpec, ReferCheck, RingGroups, StasisApp
from .stasis_app.transfers import Mode

log = logging.getLogger(__name__)

HANGUP = "hangup"  # the one request another replica makes of a call today
CONTROL_TTL = 15.0  # seconds a control asked through another replica stays worth doing (its asker waits less)
TAKE_OVER_CONNECT = 3.0  # seconds clicks wait for a node just taken over to connect its event stream

# Makes the keeper of a node's agents' presence (presence_tracker.PresenceTracker) for the node and its ARI.
PresenceFor = Callable[[str, Ari], AgentPresence]


class Replica:
    def __init__(self, replica_id: str, aris: dict[str, Ari], store: CallStore, metrics: Metrics, *,
                 clustered: bool, handoff_spec: HandoffSpec | None, ari_grace: float, node_down_after: float = 30.0,
                 agent_context: str = "", status: NodeStatus | None = None,
                 ring_groups: RingGroups | None = None, presence: PresenceFor | None = None,
                 park_timeout: float = 10.0, refer_check: ReferCheck | None = None,
                 supervision_beep: bool = False) -> None:
        self.id = replica_id
        self.aris = aris  # every node's ARI client: REST for all, the event stream for the nodes this replica runs
        self.store = store
        self.metrics = metrics
        self.clustered = clustered  # writes are fenced by the node's lease
        self.handoff_spec = handoff_spec
        self.ring_groups = ring_groups  # inbound calls handed over by the dialplan
        self.ari_grace = ari_grace
        self.node_down_after = node_down_after
        self.agent_context = agent_context
        self.status = status or NodeStatus()  # whether each node's event stream is up (the leases tell the cluster)
        self.presence = presence
        self.park_timeout = park_timeout
        self.supervision_beep = supervision_beep
        self.refer_check = refer_check
        self.running: dict[str, StasisApp] = {}
        self._events: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()
        self._controls: set[int] = set()  # controls asked by other replicas, being carried out

    # ---- leases decide ----

    async def acquired(self, node: str, epoch: int) -> None:
        """Run this node from now on: take its calls in progress over, then listen to its events."""
        stasis = StasisApp(self.aris[node], self.store, self.metrics, node=node, replica=self.id,
                           fence=Fence(node, self.id, epoch) if self.clustered else None,
                           handoff_spec=self.handoff_spec, ari_grace=self.ari_grace,
                           node_down_after=self.node_down_after, agent_context=self.agent_context,
                           connect_grace=TAKE_OVER_CONNECT if self.clustered else 0.0, ring_groups=self.ring_groups,
                           agents=self.presence(node, self.aris[node]) if self.presence else None,
                           park_timeout=self.park_timeout, refer_check=self.refer_check,
                           supervision_beep=self.supervision_beep)
        self.running[node] = stasis
        stasis.adopt(await self.store.unfinished(node, self.id) if self.clustered else await self._first_run(node))
        await self._requests(stasis)
        ari = self.aris[node]

        async def connected() -> None:
            self._tell(node, True)
            await stasis.on_connect()
            if self.clustered:  # calls recorded for this node while its event stream was down start now
                await self._start_waiting(stasis)

        def disconnected() -> None:
            self._tell(node, False)
            stasis.on_disconnect()

        self._events[node] = asyncio.create_task(ari.run_events(stasis.on_event, connected, disconnected),
                                                 name=f"ari-events-{node}")

    async def _first_run(self, node: str) -> list[flow.CallState]:
        """One replica: every call left in progress, on this node (records from before nodes had names too)."""
        return [s for s in await self.store.unfinished() if s.spec.node in (node, "")]

    async def lost(self, node: str) -> None:
        """Stop running this node at once: no event handled and no record written for it from here on."""
        events = self._events.pop(node, None)
        stasis = self.running.pop(node, None)
        if events is not None:
            events.cancel()
            await asyncio.gather(events, return_exceptions=True)
        if stasis is not None:
            await stasis.close()

    def _tell(self, node: str, up: bool) -> None:
        self.metrics.node_events.labels(node).set(1 if up else 0)
        self.status.set(node, up)

    def ready(self) -> list[str]:
        """The nodes this replica runs whose event stream is down."""
        return [node for node, stasis in self.running.items() if not stasis.ari.connected.is_set()]

    async def quiet(self, node: str) -> None:
        """Stop acting on this node (no event handled, no record written) but keep its event stream open, so that
        Asterisk keeps the app attended until the next owner's stream replaces this one."""
        stasis = self.running.pop(node, None)
        if stasis is not None:
            stasis.silent = True
            await stasis.close()

    def runs(self, node: str) -> StasisApp | None:
        return self.running.get(node)

    def find(self, call_id: str):
        """The call, if this replica runs it."""
        for stasis in self.running.values():
            call = stasis.calls.get(call_id)
            if call is not None:
                return call
        return None

    # ---- the other replicas ask ----

    def on_message(self, message: Message) -> None:
        stasis = self.running.get(message.node) if message.node else None
        if stasis is None:
            return
        if message.kind == Kind.START:
            self._spawn(self._start(stasis, message.call))
        elif message.kind == Kind.REQUEST:
            self._spawn(self._requests(stasis, [message.call]))

    async def _start(self, stasis: StasisApp, call_id: str) -> None:
        if not stasis.ari.connected.is_set():
            return  # Asterisk would find the app unattended: left unclaimed, started once the stream is back
        state = await self.store.claim(call_id, stasis.node, self.id)
        if state is not None:
            stasis.adopt([state])

    async def _requests(self, stasis: StasisApp, call_ids: list[str] | None = None) -> None:
        """Carry out what other replicas asked of this node's calls (e.g. a hang-up through their API)."""
        for request in await self.store.requests(call_ids if call_ids is not None else list(stasis.calls)):
            if request["action"] == HANGUP and request["call_id"] in stasis.calls:
                stasis.hangup(request["call_id"], HangupBy(request["by"]))
            elif request["action"] in CallAction.__members__.values() and request["call_id"] in stasis.calls \
                    and request["id"] not in self._controls:
                self._controls.add(request["id"])  # until answered: a second look at the requests skips it
                self._spawn(self._control(stasis, request))

    async def _control(self, stasis: StasisApp, request: dict) -> None:
        """A control asked through another replica's API: carried out here, its answer written and told."""
        if time.time() - request["created_at"] > CONTROL_TTL:
            outcome = ("SERVICE_UNAVAILABLE", "asked too long ago; not done")
        else:
            params, action = json.loads(request["params"] or "{}"), CallAction(request["action"])
            try:
                if action in SUPERVISE:
                    asked = stasis.supervise(request["call_id"], action, params["ext"], params.get("by", ""))
                elif action is CallAction.PARK:
                    asked = stasis.park(request["call_id"], Side(params["legs"]), params.get("by", ""))
                elif action is CallAction.TRANSFER:
                    asked = stasis.transfer(request["call_id"], Mode(params["mode"]), Side(params["legs"]),
                                            params.get("ext", ""), params.get("phone", ""), bool(params.get("hold")),
                                            params.get("by", ""))
                else:
                    asked = stasis.control(request["call_id"], action, Party(params["party"]),
                                           params.get("digits", ""), params.get("by", ""))
                outcome = await asked
            except ApiError as exc:
                outcome = (exc.code, exc.message)
        try:
            await self.store.reply(request["id"], outcome)
        finally:
            self._controls.discard(request["id"])

    async def caught_up(self) -> None:
        """After notifications may have been missed: start what is waiting, carry out what was asked."""
        for stasis in list(self.running.values()):
            await self._start_waiting(stasis)
            await self._requests(stasis)

    async def _start_waiting(self, stasis: StasisApp) -> None:
        for state in await self.store.unfinished(stasis.node, None):
            if state.phase is flow.Phase.NEW and state.spec.call_id not in stasis.calls:
                await self._start(stasis, state.spec.call_id)

    def _spawn(self, work) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for node in list(self.running):
            await self.lost(node)
        for task in list(self._tasks):
            task.cancel()
