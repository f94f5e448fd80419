"""What the unit tests build their calls from (imported by them; no test module imports another)."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

from click2call.records import CallStore
from click2call.stasis_app import call_flow as flow
from click2call.stasis_app.call_flow import (
    Answered, ChannelGone, CustomerReady, Originated, Ringing, Start,
)

SPEC = flow.CallSpec(
    call_id="c1", ext="101", phone="0899098899", hotline="02873000001", trunk="trunk-a",
    src_cid_name="Click2Call", src_cid_number="101", dest_cid_name=None, dest_cid_number="02873000001",
    auto_answer=False, ring_timeout=30, dial_timeout=60,
)

# A connected call in steps, as the ARI events arrive: (event, ...) per state written. Times are seconds after the
# click; SIP Call-IDs "<call_id>-a" / "<call_id>-c" are filled in by Call.
AGENT_RINGS = [Start(), Originated(0.1), Ringing("agent", 0.2, "{a}")]
AGENT_ANSWERS = [Answered("agent", 2.0, "{a}"), CustomerReady()]
CUSTOMER_RINGS = [Ringing("customer", 3.0, "{c}")]
CUSTOMER_ANSWERS = [Answered("customer", 5.0, "{c}")]
CUSTOMER_HANGS_UP = [ChannelGone("customer", 16, "Normal Clearing", 65.0)]
AGENT_GONE = [ChannelGone("agent", 16, "Normal Clearing", 65.1)]
CONNECTED = [AGENT_RINGS, AGENT_ANSWERS, CUSTOMER_RINGS, CUSTOMER_ANSWERS, CUSTOMER_HANGS_UP, AGENT_GONE]
# What a hook for every event receives of it, in order (event, leg).
CONNECTED_EVENTS = [("ringing", "agent"), ("answered", "agent"), ("ringing", "customer"), ("answered", "customer"),
                    ("hangup", "customer"), ("cdr", "")]
AGENT_BUSY = [AGENT_RINGS, [ChannelGone("agent", 17, "User busy", 1.0)]]


def connected() -> flow.CallState:
    """A click-to-call of SPEC whose customer answered: agent and customer talk (no record, no ARI)."""
    state = flow.CallState(SPEC, created_at=1.0)
    for event in (Start(), Originated(1.1), Answered("agent", 2.0), CustomerReady(), Answered("customer", 5.0)):
        state, _ = flow.transition(state, event)
    assert state.phase is flow.Phase.CONNECTED
    return state


REPLICA = "replica-1"


class Call:
    """One call driven through the real state machine (call_flow.transition) and written through a real CallStore,
    each step as the service writes it: the state after the step's events, with the state before it."""

    def __init__(self, store: CallStore, *, call_id: str | None = None, created_at: float | None = None,
                 **spec: object) -> None:
        self.store = store
        call_id = call_id or uuid.uuid4().hex
        self.created_at = time.time() if created_at is None else created_at
        self.state = flow.CallState(replace(SPEC, call_id=call_id, **spec), created_at=self.created_at)
        self.created = False

    @property
    def call_id(self) -> str:
        return self.state.spec.call_id

    @property
    def agent_sip(self) -> str:
        return f"{self.call_id}-a"

    @property
    def customer_sip(self) -> str:
        return f"{self.call_id}-c"

    def play(self, events: list) -> tuple[flow.CallState, flow.CallState]:
        """(before, after) of the events, without writing; times are made absolute, SIP Call-IDs filled in."""
        before, state = self.state, self.state
        for event in events:
            if hasattr(event, "at"):
                event = replace(event, at=self.created_at + event.at)
            if getattr(event, "sip_call_id", None):
                event = replace(event, sip_call_id=event.sip_call_id.format(a=self.agent_sip, c=self.customer_sip))
            state, _ = flow.transition(state, event)
        return before, state

    async def create(self) -> "Call":
        await self.store.create(self.state, claimed_by=REPLICA)  # placed by a replica that runs it
        self.created = True
        return self

    async def step(self, events: list) -> bool:
        """Play the events and write the new state (guarded); False when the store refused it."""
        before, self.state = self.play(events)
        return await self.store.save(self.state, before)

    async def run(self, steps: list[list]) -> "Call":
        """Create the record (if the call is new) and write each step."""
        if not self.created:
            await self.create()
        for events in steps:
            assert await self.step(events), f"step {events} of {self.call_id} was refused"
        return self
