"""Supervision as the pure flows do it: a supervisor rung, then listening (own bridge + a snoop on the agent),
whispering (the snoop whispers to the agent) or barging (the call's bridge); switching without a new ring; its
hang-up ends only its part; the call's end ends it."""

from __future__ import annotations

from click2call.states import CallAction, HangupBy, Party
from click2call.stasis_app import call_flow as flow
from click2call.stasis_app import controls as c
from click2call.stasis_app import supervision as s

from .factories import SPEC, connected

LISTEN, WHISPER, BARGE = CallAction.LISTEN, CallAction.WHISPER, CallAction.BARGE
SUP, ROOM = "c1.supervisor-0", "c1.supervise-0"


def run(state, *events):
    commands = []
    for event in events:
        state, more = flow.transition(state, event)
        commands += more
    return state, commands


def test_listen_then_whisper_then_barge_then_listen_without_a_new_ring():
    state, commands = run(connected(), s.SuperviseRequested(LISTEN, "103", "acme", 10.0, ref=1))
    assert commands == [s.RingSupervisor("c1", 0, "103", "101"), c.Reply(1)]
    state, commands = run(state, s.SupervisorRinging(0, 11.0), s.SupervisorAnswered(0, 12.0))
    # joined: the agent is announced (a beep, if the operator wants one); switching modes later is not announced
    assert commands == [s.OpenRoom(ROOM), c.Rebridge(ROOM, SUP), s.Snoop("c1.agent", "c1.snoop-0", whisper=False),
                        s.Announce("c1.agent")]
    state, commands = run(state, s.SnoopReady(0))
    assert commands == [c.Rebridge(ROOM, "c1.snoop-0")]

    state, commands = run(state, s.SuperviseRequested(WHISPER, "103", ref=2))  # same room, a whispering snoop
    assert commands == [s.Drop("c1.snoop-0"), s.Snoop("c1.agent", "c1.snoop-1", whisper=True), c.Reply(2)]
    state, commands = run(state, s.SnoopReady(0), s.SnoopReady(1))  # the old one's late arrival is dropped
    assert commands == [s.Drop("c1.snoop-0"), c.Rebridge(ROOM, "c1.snoop-1")]

    state, commands = run(state, s.SuperviseRequested(BARGE, "103", ref=3))
    # into the call's bridge before its own room goes: never a channel in a bridge being destroyed
    assert commands == [s.Drop("c1.snoop-1"), c.Rebridge("c1.bridge", SUP), s.CloseRoom(ROOM), c.Reply(3)]
    state, commands = run(state, s.SuperviseRequested(LISTEN, "103", ref=4))
    assert commands == [c.Unbridge("c1.bridge", SUP), s.OpenRoom(ROOM), c.Rebridge(ROOM, SUP),
                        s.Snoop("c1.agent", "c1.snoop-2", whisper=False), c.Reply(4)]
    state, commands = run(state, s.SuperviseRequested(LISTEN, "103", ref=5))
    assert commands == [c.Reply(5)]  # already listening: nothing to do, nothing recorded
    assert [(a.action, a.ext) for a in state.actions] == [(LISTEN, "103"), (WHISPER, "103"), (BARGE, "103"),
                                                          (LISTEN, "103")]


def test_the_supervisor_hanging_up_ends_only_its_part():
    state, _ = run(connected(), s.SuperviseRequested(LISTEN, "103"), s.SupervisorAnswered(0), s.SnoopReady(0))
    state, commands = run(state, s.SupervisorGone(0, 16, "Normal Clearing", 20.0))
    assert commands == [s.Drop("c1.snoop-0"), s.CloseRoom(ROOM)]
    assert state.phase is flow.Phase.CONNECTED and not state.supervision.alive()


def test_the_calls_end_ends_the_supervision():
    state, _ = run(connected(), s.SuperviseRequested(BARGE, "103"), s.SupervisorAnswered(0))
    state, commands = run(state, flow.ChannelGone(Party.CUSTOMER, 16, "", 30.0))
    assert commands[:2] == [s.Drop(SUP), s.CloseRoom(ROOM)] and flow.Hangup("c1.agent") in commands
    state, commands = run(state, flow.ChannelGone(Party.AGENT, 16, "", 30.1))
    assert commands == [flow.DestroyBridge("c1.bridge"), flow.Finish()]
    assert state.hangup_by is HangupBy.CUSTOMER


def test_a_supervisor_who_answers_after_the_call_ended_is_hung_up():
    state, _ = run(connected(), s.SuperviseRequested(LISTEN, "103"))
    state, _ = run(state, flow.HangupRequested())
    _, commands = run(state, s.SupervisorAnswered(0))
    assert commands == []  # its leg was dropped with the call's end already


def test_not_before_the_customer_answers():
    state, _ = run(flow.CallState(SPEC, created_at=1.0), flow.Start())
    after, commands = run(state, s.SuperviseRequested(LISTEN, "103", ref=9))
    assert commands == [c.Reply(9, "CALL_NOT_CONNECTED")] and after == state
