"""Call control on a connected call, as the pure flows do it: hold, unhold, mute, unmute and DTMF; what fits the
call's state and what is refused (with its own error, changing nothing); what the record keeps."""

from __future__ import annotations

from dataclasses import replace

import pytest

from click2call.states import CallAction, Party
from click2call.stasis_app import call_flow as flow
from click2call.stasis_app import controls as c
from click2call.stasis_app import inbound_flow as f

from .factories import SPEC, connected

HOLD, UNHOLD, MUTE, UNMUTE, DTMF = list(CallAction)[:5]


def ask(state, action, party=Party.CUSTOMER, digits="", ref=1):
    transition = flow.transition if isinstance(state, flow.CallState) else f.transition
    return transition(state, c.ControlRequested(action, party, digits, "acme", 10.0, ref))


def test_hold_takes_the_party_out_and_plays_it_music_then_unhold_brings_it_back():
    state, commands = ask(connected(), HOLD)
    assert commands == [c.Unbridge("c1.bridge", "c1.customer"), c.StartMoh("c1.customer"), c.Reply(1)]
    assert state.controls.held == {Party.CUSTOMER}
    state, commands = ask(state, UNHOLD, ref=2)
    assert commands == [c.StopMoh("c1.customer"), c.Rebridge("c1.bridge", "c1.customer"), c.Reply(2)]
    assert state.controls.held == frozenset()
    assert [(a.action, a.party, a.by) for a in state.actions] == [(HOLD, Party.CUSTOMER, "acme"),
                                                                  (UNHOLD, Party.CUSTOMER, "acme")]


def test_mute_and_dtmf():
    state, commands = ask(connected(), MUTE, Party.AGENT)
    assert commands == [c.Mute("c1.agent"), c.Reply(1)] and state.controls.muted == {Party.AGENT}
    state, commands = ask(state, DTMF, Party.CUSTOMER, "12#")
    assert commands == [c.SendDtmf("c1.customer", "12#"), c.Reply(1)]
    state, commands = ask(state, UNMUTE, Party.AGENT)
    assert commands == [c.Unmute("c1.agent"), c.Reply(1)] and state.controls.muted == frozenset()


@pytest.mark.parametrize("first, then, error", [
    (None, UNHOLD, "NOT_HELD"), (HOLD, HOLD, "ALREADY_HELD"), (None, UNMUTE, "NOT_MUTED"), (MUTE, MUTE, "ALREADY_MUTED"),
    (HOLD, DTMF, "PARTY_HELD"),
])
def test_what_does_not_fit_is_refused_and_changes_nothing(first, then, error):
    state = connected()
    if first is not None:
        state, _ = ask(state, first)
    after, commands = ask(state, then, digits="1", ref=7)
    assert commands == [c.Reply(7, error)] and after == state


def test_before_the_customer_answers_nothing_is_done():
    state = flow.CallState(SPEC, created_at=1.0)
    state, _ = flow.transition(state, flow.Start())
    after, commands = ask(state, HOLD)
    assert commands == [c.Reply(1, "CALL_NOT_CONNECTED")] and after == state


def test_an_ari_failure_takes_the_change_back():
    state, _ = ask(connected(), HOLD)
    request = c.ControlRequested(HOLD, Party.CUSTOMER)
    state, commands = flow.transition(state, c.ControlFailed(request, "no such bridge"))
    assert state.controls.held == frozenset() and commands == []


def test_an_inbound_call_is_controlled_the_same_way():
    spec = f.InboundSpec(call_id="in1", channel="1795752289.12", caller="0899", caller_name="", hotline="028",
                         trunk="trunk-a", group=f.RingGroup(name="g", extensions=("101", "102")))
    state = f.InboundState(spec, created_at=1.0)
    for event in (f.Start(1.0), f.Surveyed((f.Available("101"), f.Available("102"))), f.AgentAnswered(1, 3.0),
                  f.Connected(3.1)):
        state, _ = f.transition(state, event)
    _, commands = ask(state, HOLD, Party.CUSTOMER)
    assert commands[:2] == [c.Unbridge("in1.bridge", "1795752289.12"), c.StartMoh("1795752289.12")]
    _, commands = ask(state, MUTE, Party.AGENT)
    assert commands[0] == c.Mute("in1.agent-1")


def test_the_record_keeps_the_actions_and_a_call_adopted_on_hold_stays_held():
    state, _ = ask(connected(), HOLD)
    state, _ = ask(state, MUTE, Party.AGENT)
    text = c.actions_json(state.actions)
    assert c.actions_of(text) == state.actions
    assert c.replay(c.actions_of(text)) == replace(state.controls)
    assert c.actions_of(None) == () and c.actions_json(()) is None
