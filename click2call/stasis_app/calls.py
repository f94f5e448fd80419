"""The running Stasis app: one queue and one worker per call, fed by the ARI event stream.

The websocket reader only routes events to their call's queue, so a call's events are handled
in arrival order and a slow call never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from .. import q850
from ..errors import ApiError
from ..logs import call_id_var
from ..metrics import Metrics
from ..states import CallAction, HangupBy, Party, Side
from . import call_flow as flow
from . import controls as control
from . import events, ids
from . import supervision as supervise
from . import transfers as xfer
from . import inbound_flow as inbound
from .ari import Ari, AriError
from .commands import Executor

log = logging.getLogger(__name__)

State = flow.CallState | inbound.InboundState


@dataclass(frozen=True)
class Machine:
    """A kind of call: its pure state machine, and how ARI events and a reconnect become its events."""

    transition: Callable
    translate: Callable[[dict, str, str | None], object]
    resync: Callable[[State, dict[str, str], float, frozenset[str]], list]
    final_status: Callable
    channels: Callable[[State], list[str]]  # every channel of the call, to hang up when its worker fails


CLICK_TO_CALL = Machine(flow.transition, events.outbound_event, flow.resync, flow.final_status,
                        lambda s: [*(s.spec.channel_id(leg) for leg in Party),
                                   *flow.alive_targets(s.transfers, s.spec.call_id)])
INBOUND = Machine(inbound.transition, events.inbound_event,
                  lambda s, channels, at, outside: inbound.resync(s, channels, at), inbound.final_status,
                  lambda s: [s.spec.channel, *(s.spec.agent_channel(i) for i in range(len(s.agents))),
                             *flow.alive_targets(s.transfers, s.spec.call_id)])


class Call:
    """The mutable shell around one call's pure state."""

    def __init__(self, spec: flow.CallSpec | inbound.InboundSpec, state: State | None = None) -> None:
        if state is None:
            kind = inbound.InboundState if isinstance(spec, inbound.InboundSpec) else flow.CallState
            state = kind(spec, created_at=time.time())
        self.state = state
        self.machine = INBOUND if isinstance(state, inbound.InboundState) else CLICK_TO_CALL
        self.queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self.answered: asyncio.Future[tuple[str, str] | None] = loop.create_future()
        self.done = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.replies: dict[int, asyncio.Future[tuple[str, str] | None]] = {}  # control requests waiting
        self.control_error: str | None = None  # an ARI request of the control being carried out failed

    @property
    def call_id(self) -> str:
        return self.state.spec.call_id

    def set_timer(self, name: str, seconds: float) -> None:
        """The flow's timer: its event joins the call's queue when it fires."""
        if old := self.timers.pop(name, None):
            old.cancel()
        # The park timer is a transfer's (either kind of call); the others are an inbound call's.
        event = xfer.ParkTimeout() if name == xfer.PARK_TIMER else inbound.TimerFired(name)
        self.timers[name] = asyncio.get_running_loop().call_later(seconds, self.queue.put_nowait, event)

    def cancel_timer(self, name: str) -> None:
        if handle := self.timers.pop(name, None):
            handle.cancel()

    def cancel_timers(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()


class CallRecords(Protocol):
    """Where the calls' records are written (records.CallStore)."""

    async def create(self, state: flow.CallState, *, token: str | None = None, cap: int = 0,
                     claimed_by: str | None = None) -> None: ...

    async def delete_new(self, call_id: str) -> None: ...

    async def save(self, state: flow.CallState, before: flow.CallState | None = None, fence=None) -> bool: ...


class AgentPresence(Protocol):
    """Keeps the node's agents' presence from its endpoint events (presence_tracker.PresenceTracker)."""

    def on_event(self, raw: dict) -> None: ...

    async def on_connect(self) -> None: ...

    async def close(self) -> None: ...


# Checks a phone's REFER destination as the API checks an extension (node, the call's tenant, ext); raises ApiError.
ReferCheck = Callable[[str, "str | None", str], Awaitable[None]]

# Builds the spec of a dialplan handoff from the channel and its Stasis arguments (raises ApiError).
HandoffSpec = Callable[[dict, list[str]], flow.CallSpec]


class RingGroups(Protocol):
    """Inbound calls' ring groups (click2call.ring_groups)."""

    def inbound_spec(self, channel: dict, args: list[str], call_id: str) -> inbound.InboundSpec:
        """The inbound call the dialplan hands over (raises ApiError for bad Stasis arguments)."""

    async def survey(self, group: inbound.RingGroup, caller: str, sticky: bool, node: str) -> inbound.Surveyed:
        """Who of the group can be rung now on this node, and the caller's last agent."""


class StasisApp:
    """The calls of one Asterisk node, run by this replica while it owns the node. `fence` (a cluster's) goes with
    every record write: once another replica owns the node, this one's writes are refused."""

    def __init__(self, ari: Ari, store: CallRecords, metrics: Metrics, *, node: str = "", replica: str = "",
                 fence: object | None = None, handoff_spec: HandoffSpec | None = None, ari_grace: float = 5.0,
                 node_down_after: float = 30.0, agent_context: str = "", connect_grace: float = 0.0,
                 ring_groups: RingGroups | None = None, agents: AgentPresence | None = None,
                 park_timeout: float = 10.0, refer_check: ReferCheck | None = None,
                 supervision_beep: bool = False) -> None:
        self.ari = ari
        self.store = store
        self.metrics = metrics
        self.node = node
        self.replica = replica  # what the records of calls this app runs say in claimed_by
        self.fence = fence
        self.handoff_spec = handoff_spec
        self.ring_groups = ring_groups
        self.ari_grace = ari_grace  # seconds waiting requests wait for a lost ARI to come back
        self.node_down_after = node_down_after  # seconds unreachable after which the node's calls are lost
        self._foreign: dict[str, tuple[str, str]] = {}  # a channel the dialplan handed over -> (call_id, leg)
        self._refusals: set[asyncio.Task] = set()
        self._grace: asyncio.Task | None = None
        self._down: asyncio.Task | None = None
        self.executor = Executor(ari, agent_context, supervision_beep)
        self.silent = False  # handed over: events are left to the next owner (its reconnect check catches up)
        # A node just taken over from another replica: clicks wait this long for its event stream to connect
        # (the first time only) rather than being refused at once.
        self._connect_by = time.monotonic() + connect_grace
        self.calls: dict[str, Call] = {}
        self.agents = agents
        self.refer_check = refer_check  # a REFER's destination: the API's checks of an extension
        self.park_timeout = park_timeout  # C2C_PARK_TIMEOUT: the park timer's length (the flows ask for it by name)

    # ---- the event stream ----

    def _resolve(self, channel_id: str) -> tuple[str, str] | None:
        return self._foreign.get(channel_id) or ids.parse_leg(channel_id)

    def on_event(self, raw: dict) -> None:
        if self.silent:
            return
        if self.agents is not None:
            self.agents.on_event(raw)
        args = events.handoff_args(raw)
        if args is not None:
            if args[:1] == ["inbound"]:
                self._inbound(raw, args)
            else:
                self._handoff(raw, args)
            return
        target = events.target(raw, self._resolve)
        call = self.calls.get(target[0]) if target is not None else None
        if call is None:
            return
        event = call.machine.translate(raw, *target)
        if event is not None:
            call.queue.put_nowait(event)

    async def on_connect(self) -> None:
        """After a (re)connect nothing is replayed: catch every call up with what Asterisk has now, and hang up
        channels of ours that no call of ours has any more (their call ended while the node was unreachable)."""
        if self.silent:
            return
        self._connect_by = 0.0  # connected once: a later loss is refused at once
        for task in (self._grace, self._down):
            if task is not None:
                task.cancel()
        await self._filter_events()
        if self.agents is not None:
            await self.agents.on_connect()
        listed = await self.ari.request("GET", "/channels")
        channels = {c["id"]: c["state"] for c in listed}
        outside = frozenset(c["id"] for c in listed if (c.get("dialplan") or {}).get("app_name") != "Stasis")
        now = time.time()
        for call in list(self.calls.values()):
            for event in call.machine.resync(call.state, channels, now, outside):
                call.queue.put_nowait(event)
        app = await self.ari.request("GET", f"/applications/{self.ari.app}")  # not other apps' channels
        for channel_id in (app or {}).get("channel_ids", []):
            ours = ids.parse_leg(channel_id)
            if ours is not None and ours[0] not in self.calls:
                log.info("hanging up %s: its call ended while the node was unreachable", channel_id)
                await self.executor.hangup(channel_id)

    async def _filter_events(self) -> None:
        """Ask Asterisk to send the app only the event types it handles: of the ~58 events a call makes, most are
        ChannelVarset, Dial, ChannelDialplan and the like, which we would only parse and drop."""
        try:
            await self.ari.filter_events(events.handled_types())
        except AriError as exc:  # an Asterisk without event filters: everything still works, only busier
            log.warning("ARI event filter not set (%s); the app receives every event", exc)

    def on_disconnect(self) -> None:
        """Lost ARI: requests waiting for a call must not hang. Give Asterisk a short grace to come back; a node
        that stays away longer has lost its calls."""
        if self.silent:
            return
        if self._grace is None or self._grace.done():
            self._grace = asyncio.create_task(self._fail_waiters_after_grace())
        if self._down is None or self._down.done():
            self._down = asyncio.create_task(self._lose_calls_after(self.node_down_after))

    async def _lose_calls_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.ari.connected.is_set():
            return
        log.warning("node %s: unreachable for %g s; its %d call(s) are lost", self.node or "-", seconds,
                    len(self.calls))
        now = time.time()
        for call in list(self.calls.values()):
            for event in call.machine.resync(call.state, {}, now, frozenset()):  # every leg gone: system, Q.850 38
                call.queue.put_nowait(event)

    async def _fail_waiters_after_grace(self) -> None:
        await asyncio.sleep(self.ari_grace)
        if self.ari.connected.is_set():
            return
        failure = ("SERVICE_UNAVAILABLE", "lost contact with Asterisk; the call is reconciled when it returns")
        for call in self.calls.values():
            _settle(call.answered, failure)

    async def connected(self) -> bool:
        """The node's event stream is up. Just taken over (a replica died or handed the node over), it is given a
        moment to connect rather than refusing the clicks that arrive meanwhile."""
        if not self.ari.connected.is_set():
            left = self._connect_by - time.monotonic()
            if left > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self.ari.connected.wait()
        return self.ari.connected.is_set()

    # ---- calls ----

    async def start(self, spec: flow.CallSpec, checked: Awaitable[None] | None = None, *, token: str | None = None,
                    cap: int = 0) -> Call:
        """Record the call, then run it. A call that cannot be recorded is not placed.

        `checked` (the extension's check with Asterisk) runs while the record is written; the call is placed
        when both are done. A refusal by the check takes the record back out, so it leaves none. The record holds
        the extension (USER_BUSY) and counts against the token's cap (TOO_MANY_CALLS) across every replica."""
        call = Call(spec)
        created = asyncio.ensure_future(self.store.create(call.state, token=token, cap=cap, claimed_by=self.replica))
        await settle_check_and_record(spec.call_id, checked, created, self.store)
        self._launch(call, [flow.Start()])
        return call

    def adopt(self, states: list[flow.CallState]) -> None:
        """Take over calls from their records: those a previous run or another replica left in progress (their
        channels live on in Asterisk under the same app; the reconnect check ends the legs that vanished, and the
        rest stay controllable through the API), and those recorded but started by nobody yet."""
        for state in states:
            call = Call(state.spec, state)
            if (left := xfer.park_left(state.transfers, self.park_timeout, time.time())) is not None:
                call.set_timer(xfer.PARK_TIMER, left)  # parked: its timer goes on from the park
            if isinstance(state, inbound.InboundState):
                _settle(call.answered, None)
                self._launch(call, [inbound.Resumed(time.time())])
            elif state.phase is flow.Phase.NEW:
                self._launch(call, [flow.Start()])
            else:
                _settle(call.answered, None)
                self._launch(call, [])
        if states:
            log.info("node %s: took %d call(s) in progress", self.node or "-", len(states))

    def _handoff(self, raw: dict, args: list[str]) -> None:
        channel = raw["channel"]
        try:
            if self.handoff_spec is None:
                raise ApiError("CALL_FAILED", "this app takes no dialplan handoffs")
            spec = replace(self.handoff_spec(channel, args), node=self.node)
        except ApiError as exc:
            self._refuse(channel, args, exc)
            return
        call = Call(spec)
        log.info("call %s: dialplan handoff of %s (%s) to %s", spec.call_id, channel.get("name"), args[0], spec.phone)
        self._launch(call, [flow.HandedOff(events.timestamp(raw), channel.get("protocol_id") or "")], record=True)

    def _inbound(self, raw: dict, args: list[str]) -> None:
        """A caller handed over by the dialplan: ring the agents of its group."""
        channel = raw["channel"]
        try:
            if self.ring_groups is None:
                raise ApiError("CALL_FAILED", "this app takes no inbound calls")
            spec = replace(self.ring_groups.inbound_spec(channel, args, str(uuid.uuid4())), node=self.node)
        except ApiError as exc:
            self._refuse(channel, args, exc)
            return
        log.info("call %s: inbound call from %s to %s, ringing group %s", spec.call_id, spec.caller or "anonymous",
                 spec.hotline, spec.group.name)
        self._launch(Call(spec), [inbound.Start(events.timestamp(raw))], record=True)

    def _refuse(self, channel: dict, args: list[str], exc: ApiError) -> None:
        log.warning("dialplan handoff of %s refused (%s): %s; hanging it up", channel.get("name"), args, exc.message)
        task = asyncio.create_task(self.executor.hangup(channel["id"]))
        self._refusals.add(task)
        task.add_done_callback(self._refusals.discard)

    def _launch(self, call: Call, first: list[flow.Event], record: bool = False) -> None:
        """Register the call and start its worker."""
        self.calls[call.call_id] = call
        if foreign := _foreign_channel(call.state):  # events of Asterisk's channel id find the call through this map
            self._foreign[foreign[0]] = (call.call_id, foreign[1])
        self._count(+1)
        call.task = asyncio.create_task(self._run(call, first, record), name=f"call-{call.call_id}")

    def control(self, call_id: str, action: CallAction, party: Party, digits: str = "", by: str = ""
                ) -> asyncio.Future[tuple[str, str] | None]:
        """Ask a call for a control (hold, mute, DTMF...): done in order with its events; the future gets None once
        carried out, or (error code, message)."""
        call = self.calls.get(call_id)
        if call is None:
            raise ApiError("CALL_NOT_FOUND", f"no call in progress with call_id {call_id}")
        ref = next(_refs)
        call.replies[ref] = asyncio.get_running_loop().create_future()
        call.queue.put_nowait(control.ControlRequested(action, party, digits, by, time.time(), ref))
        return call.replies[ref]

    def supervise(self, call_id: str, mode: CallAction, ext: str, by: str = ""
                  ) -> asyncio.Future[tuple[str, str] | None]:
        """Ring a supervisor onto the call (listen, whisper, barge), or switch one already on it: the future gets
        None once rung (or switched), or (error code, message)."""
        call = self.calls.get(call_id)
        if call is None:
            raise ApiError("CALL_NOT_FOUND", f"no call in progress with call_id {call_id}")
        ref = next(_refs)
        call.replies[ref] = asyncio.get_running_loop().create_future()
        call.queue.put_nowait(supervise.SuperviseRequested(mode, ext, by, time.time(), ref))
        return call.replies[ref]

    def transfer(self, call_id: str, mode: xfer.Mode, legs: Side, ext: str = "", phone: str = "", hold: bool = False,
                 by: str = "") -> asyncio.Future[tuple[str, str] | None]:
        """Transfer a party of the call to an extension or number (checked already): the future gets None once the
        target's leg is being created (the outcome is the `transfer` webhook's), or (error code, message)."""
        call = self.calls.get(call_id)
        if call is None:
            raise ApiError("CALL_NOT_FOUND", f"no call in progress with call_id {call_id}")
        ref = next(_refs)
        call.replies[ref] = asyncio.get_running_loop().create_future()
        call.queue.put_nowait(xfer.TransferRequested(mode, legs, ext, phone, hold, by, time.time(), ref))
        return call.replies[ref]

    def park(self, call_id: str, legs: Side, by: str = "") -> asyncio.Future[tuple[str, str] | None]:
        """Park a party: the other leaves, it hears music until a transfer picks it up or the park timer ends it."""
        call = self.calls.get(call_id)
        if call is None:
            raise ApiError("CALL_NOT_FOUND", f"no call in progress with call_id {call_id}")
        ref = next(_refs)
        call.replies[ref] = asyncio.get_running_loop().create_future()
        call.queue.put_nowait(xfer.ParkRequested(legs, by, time.time(), ref))
        return call.replies[ref]

    def hangup(self, call_id: str, by: HangupBy = HangupBy.API) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise ApiError("CALL_NOT_FOUND", f"no call in progress with call_id {call_id}")
        call.queue.put_nowait(flow.HangupRequested(by))
        return call

    async def _run(self, call: Call, first: list[flow.Event], record: bool = False) -> None:
        call_id_var.set(call.call_id)  # every line logged by this call's worker names the call
        pending = list(first)
        try:
            if record:  # a handoff: the record is written here, off the event reader
                await self.store.create(call.state, claimed_by=self.replica)
            while call.state.phase not in (flow.Phase.ENDED, inbound.Phase.ENDED):
                event = pending.pop(0) if pending else await call.queue.get()
                before = call.state
                call.state, commands = call.machine.transition(call.state, event)
                # A state's commands run while its record is written, and the next event waits for both: the
                # record is at most one step behind Asterisk and the API (a crash there is reconciled from the
                # channels at the next start), and no step of a call waits for a commit first. Except a call's
                # end: it is let go only once its final record is written.
                saving = asyncio.ensure_future(self.store.save(call.state, before, self.fence)) \
                    if call.state != before else None
                try:
                    for command in commands:
                        if isinstance(command, (flow.Finish, inbound.Finish)) and saving is not None:
                            await saving
                        follow_up = await self._execute(call, command)
                        if follow_up is not None:
                            pending.extend(follow_up if isinstance(follow_up, list) else [follow_up])
                finally:
                    call.control_error = None  # a failure belongs to this step's control only
                    if saving is not None:
                        await saving
        except Exception:
            log.exception("call %s: worker failed; hanging up its channels", call.call_id)
            for channel_id in call.machine.channels(call.state):
                await self.executor.hangup(channel_id)
            self._finish(call, ("CALL_FAILED", "internal error"))

    async def _execute(self, call: Call, command) -> object | list | None:
        if isinstance(command, CONTROL_COMMANDS):
            return await self._execute_control(call, command)
        if isinstance(command, TRANSFER_COMMANDS):
            return await self._execute_transfer(call, command)
        if isinstance(call.state, inbound.InboundState):
            return await self._execute_inbound(call, command)
        match command:
            case flow.OriginateAgent(spec):
                return await self.executor.originate(spec)
            case flow.CreateCustomer(spec):
                return await self.executor.create_customer(spec)
            case flow.DialCustomer(spec):
                return await self.executor.dial_customer(spec)
            case flow.StartRecording(spec):
                return await self.executor.start_recording(spec)
            case flow.AnswerAgent(channel_id):
                await self.executor.answer(channel_id)
                await self.executor.refer_to_app(channel_id)
            case flow.Hangup(channel_id):
                await self.executor.hangup(channel_id)
            case flow.DestroyBridge(bridge_id):
                await self.executor.destroy_bridge(bridge_id)
            case flow.ReportAnswered(error, message):
                _settle(call.answered, (error, message) if error else None)
            case flow.Finish():
                self._finish(call, None)
        return None

    async def _execute_inbound(self, call: Call, command: inbound.Command) -> object | list | None:
        run = self.executor
        match command:
            case inbound.Ring(channel):
                await run.ring(channel)
            case inbound.Survey(group, caller, sticky):
                return await self.ring_groups.survey(group, caller, sticky, self.node)
            case inbound.RingAgent(spec, index, ext, timeout):
                return await run.ring_agent(spec, index, ext, timeout)
            case inbound.Connect(spec, index):
                return await run.connect(spec, index)
            case inbound.StartTimer(name, seconds):
                call.set_timer(name, seconds)
            case inbound.PlayPrompt(channel, sound):
                return await run.play(channel, sound)
            case inbound.ContinueInDialplan(channel, context, extension, priority):
                return await run.continue_in_dialplan(channel, context, extension, priority)
            case inbound.Hangup(channel_id, reason):
                await run.hangup(channel_id, reason)
            case inbound.DestroyBridge(bridge_id):
                await run.destroy_bridge(bridge_id)
            case inbound.Finish():
                self._finish(call, None)
        return None

    async def _execute_control(self, call: Call, command: control.Command) -> object | None:
        run = self.executor
        if isinstance(command, control.Reply):
            error, call.control_error = call.control_error, None
            outcome = (command.error, command.message) if command.error else ("CALL_FAILED", error) if error else None
            _settle(call.replies.pop(command.ref, None), outcome)
            return control.ControlFailed(command.request, error) if error and command.request else None
        if call.control_error is not None:
            return None  # an earlier step of this control failed: the rest is not done
        try:
            match command:
                case control.Unbridge(bridge_id, channel):
                    await run.bridge_channel(bridge_id, channel, add=False)
                case control.Rebridge(bridge_id, channel):
                    await run.bridge_channel(bridge_id, channel, add=True)
                case control.StartMoh(channel) | control.StopMoh(channel):
                    await run.moh(channel, on=isinstance(command, control.StartMoh))
                case control.Mute(channel) | control.Unmute(channel):
                    await run.mute(channel, on=isinstance(command, control.Mute))
                case control.SendDtmf(channel, digits):
                    await run.dtmf(channel, digits)
                case supervise.RingSupervisor(call_id, index, ext, caller):
                    await run.ring_supervisor(call_id, index, ext, caller)
                case supervise.Snoop(agent_channel, channel, whisper):
                    await run.snoop(agent_channel, channel, whisper)
                case supervise.OpenRoom(bridge_id):
                    await run.open_room(bridge_id)
                case supervise.Drop(channel):
                    await run.hangup(channel)
                case supervise.CloseRoom(bridge_id):
                    await run.destroy_bridge(bridge_id)
                case supervise.Announce(channel):
                    await run.announce_supervisor(channel)
        except AriError as exc:
            log.warning("call %s: %s failed: %s", call.call_id, type(command).__name__, exc)
            call.control_error = exc.message or str(exc)
            if isinstance(command, supervise.RingSupervisor):  # never rung: not on the call (asking again rings)
                return supervise.SupervisorGone(command.index, q850.NETWORK_OUT_OF_ORDER, "not rung", time.time())
        return None

    async def _execute_transfer(self, call: Call, command) -> object | None:
        run = self.executor
        match command:
            case xfer.CreateTarget():
                return await run.create_target(command)
            case xfer.DialTarget():
                return await run.dial_target(command)
            case xfer.TransferProgress(channel, state):
                await run.transfer_progress(channel, state)
            case xfer.Hangup(channel):
                await run.hangup(channel)
            case xfer.CheckTarget(destination, agent):
                try:
                    if self.refer_check is None:
                        raise ApiError("EXTENSION_NOT_FOUND", "this app takes no transfers from phones")
                    await self.refer_check(self.node, call.state.spec.tenant, destination)
                except ApiError as exc:
                    log.info("call %s: the phone's transfer to %s refused: %s", call.call_id, destination, exc.code)
                    await run.transfer_progress(agent, xfer.Progress.UNAVAILABLE)
                    return None
                return xfer.TransferRequested(xfer.Mode.BLIND, Side.BLEG, ext=destination, at=time.time(), refer=True)
            case xfer.StartTimer(name):
                call.set_timer(name, self.park_timeout)
            case xfer.CancelTimer(name):
                call.cancel_timer(name)
            case _:
                # Moving a party between the bridge and music: a channel gone meanwhile ends by its own event.
                try:
                    match command:
                        case xfer.Bridge(bridge, channels):
                            await run.bridge_channel(bridge, ",".join(channels), add=True)
                        case xfer.Unbridge(bridge, channel):
                            await run.bridge_channel(bridge, channel, add=False)
                        case xfer.Moh(channel, on):
                            await run.moh(channel, on)
                except AriError as exc:
                    log.warning("call %s: %s failed: %s", call.call_id, type(command).__name__, exc)
        return None

    def _finish(self, call: Call, failure: tuple[str, str] | None) -> None:
        _settle(call.answered, failure)
        call.cancel_timers()
        for reply in call.replies.values():  # controls asked just as the call ended
            _settle(reply, ("CALL_ENDED", "the call ended before it could be done"))
        call.replies.clear()
        if self.calls.pop(call.call_id, None) is not None:
            self._count(-1)
        status = call.machine.final_status(call.state)
        self.metrics.calls.labels(status).inc()
        if foreign := _foreign_channel(call.state):
            self._foreign.pop(foreign[0], None)
        call.done.set()
        log.info("call %s ended: %s, hangup_by=%s", call.call_id, status, call.state.hangup_by)

    def _count(self, change: int) -> None:
        self.metrics.active_calls.inc(change)
        self.metrics.node_calls.labels(self.node).inc(change)

    async def close(self) -> None:
        """Stop running these calls (their records stay as they are, for whoever runs the node next)."""
        for task in (self._grace, self._down):
            if task is not None:
                task.cancel()
        for call in list(self.calls.values()):
            call.cancel_timers()
            if call.task:
                call.task.cancel()
        self._count(-len(self.calls))
        self.calls.clear()
        if self.agents is not None:
            await self.agents.close()


async def settle_check_and_record(call_id: str, checked: Awaitable[None] | None, created: asyncio.Future,
                                  store: CallRecords) -> None:
    """Wait for both the extension's check and the call's record. A record refused says why first (e.g. our own
    call holds the extension: USER_BUSY); a refusal by the check takes the written record back out; a record that
    cannot be written refuses the call."""
    try:
        if checked is not None:
            await checked
    except BaseException:
        try:
            await created
        except ApiError:
            raise
        except Exception:
            pass  # not written: nothing to take back; the check's refusal stands
        else:
            try:
                await store.delete_new(call_id)
            except Exception:
                log.exception("call %s: refused, but its record could not be taken back", call_id)
        raise
    try:
        await created
    except ApiError:
        raise
    except Exception:
        log.exception("call %s: cannot write its record; refused", call_id)
        raise ApiError("SERVICE_UNAVAILABLE", "the call record database is not available") from None


_refs = itertools.count(1)
TRANSFER_COMMANDS = (xfer.CreateTarget, xfer.DialTarget, xfer.Bridge, xfer.Unbridge, xfer.Moh, xfer.Hangup,
                     xfer.TransferProgress, xfer.StartTimer, xfer.CancelTimer, xfer.CheckTarget)
CONTROL_COMMANDS = (control.Unbridge, control.Rebridge, control.StartMoh, control.StopMoh, control.Mute,
                    control.Unmute, control.SendDtmf, control.Reply, supervise.RingSupervisor, supervise.Snoop,
                    supervise.OpenRoom, supervise.Drop, supervise.CloseRoom, supervise.Announce)


def _foreign_channel(state: State) -> tuple[str, str] | None:
    """The call's channel that has Asterisk's id, not ours (the dialplan made it), and its leg."""
    if isinstance(state, inbound.InboundState):
        return state.spec.channel, Party.CUSTOMER
    return (state.spec.agent_channel, Party.AGENT) if state.spec.agent_channel else None


def _settle(future: asyncio.Future | None, value) -> None:
    if future is not None and not future.done():
        future.set_result(value)
