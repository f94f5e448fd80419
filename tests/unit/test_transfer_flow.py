"""Transfers as the call flows carry them (transfers.py's rules are tested in test_transfers.py): the legs that
leave on purpose do not end the call, the target that answered is the party from then on (its hang-up ends the
call, a hold holds it), a call's end reaches a ringing target, the target's events are routed to its call, and the
record and the `transfer` webhook say what happened."""

from __future__ import annotations

import pytest

from click2call.states import CallAction, CallStatus, EventName, HangupBy, Party, Side
from click2call.stasis_app import call_flow as flow
from click2call.stasis_app import controls as c
from click2call.stasis_app import events, ids
from click2call.stasis_app import inbound_flow as f
from click2call.stasis_app import transfers as x
from click2call.webhooks.events import events_between, payload

from .factories import SPEC, connected

AGENT, CUSTOMER, TARGET, BRIDGE = "c1.agent", "c1.customer", "c1.transfer-1", "c1.bridge"


def run(state, *events, transition=flow.transition):
    commands = []
    for event in events:
        state, more = transition(state, event)
        commands += more
    return state, commands


def blind(ext="102", at=10.0, **kw):
    return x.TransferRequested(x.Mode.BLIND, Side.BLEG, ext=ext, at=at, ref=7, by="acme", **kw)


def test_blind_the_agent_leaves_at_once_and_the_target_rings_in_the_bridge_then_is_the_agent():
    state, commands = run(connected(), blind())
    assert commands == [x.Hangup(AGENT), x.CreateTarget(1, TARGET, "PJSIP/102", "<0899098899>"), c.Reply(7)]
    state, commands = run(state, flow.ChannelGone(Party.AGENT, 16, "Normal Clearing", 10.1))
    assert commands == [] and state.phase is flow.Phase.CONNECTED and state.hangup_by is None
    state, commands = run(state, x.TargetReady(1))
    assert commands == [x.DialTarget(1, TARGET, "<0899098899>", SPEC.ring_timeout, BRIDGE)]
    state, _ = run(state, x.TargetRinging(1, 11.0), x.TargetAnswered(1, 12.0))
    assert state.transfers.channel_of(Party.AGENT, AGENT) == TARGET
    assert state.actions[-1] == c.Action(CallAction.TRANSFER, Party.CUSTOMER, 10.0, "acme", ext="102")
    # later controls reach the target; its hang-up ends the call
    _, commands = run(state, c.ControlRequested(CallAction.MUTE, Party.AGENT, ref=8))
    assert commands[0] == c.Mute(TARGET)
    state, commands = run(state, x.TargetGone(1, 16, "Normal Clearing", 20.0))
    assert commands == [flow.Hangup(CUSTOMER)] and state.hangup_by is HangupBy.AGENT
    state, commands = run(state, flow.ChannelGone(Party.CUSTOMER, 16, "", 20.1))
    assert state.phase is flow.Phase.ENDED and flow.final_status(state) is CallStatus.ANSWERED
    assert x.transferred_to(state.transfers) == "102"


def test_a_hangup_while_the_target_rings_reaches_the_target():
    state, _ = run(connected(), blind(), flow.ChannelGone(Party.AGENT, 16, "", 10.1), x.TargetReady(1))
    state, commands = run(state, flow.HangupRequested(HangupBy.API))
    assert set(commands) == {flow.Hangup(CUSTOMER), flow.Hangup(TARGET)}
    state, commands = run(state, flow.ChannelGone(Party.CUSTOMER, 16, "", 11.0))
    # the customer gone, the transfer failed (its target hung up already): nothing left to wait for
    assert state.phase is flow.Phase.ENDED and flow.Finish() in commands
    assert state.transfers.get(1).status is x.Status.FAILED


def test_a_blind_target_that_fails_ends_the_call():
    state, _ = run(connected(), blind(), flow.ChannelGone(Party.AGENT, 16, "", 10.1), x.TargetReady(1))
    state, commands = run(state, x.TargetGone(1, 17, "User busy", 11.0))
    assert commands == [x.Hangup(CUSTOMER)]
    state, _ = run(state, flow.ChannelGone(Party.CUSTOMER, 16, "", 11.1))
    assert state.phase is flow.Phase.ENDED and state.transfers.get(1).status is x.Status.FAILED


def test_attended_declined_leaves_agent_and_customer_talking():
    request = x.TransferRequested(x.Mode.ATTENDED, Side.BLEG, ext="102", at=10.0, ref=7)
    state, commands = run(connected(), request)
    assert x.Hangup(AGENT) not in commands
    state, commands = run(state, x.TargetReady(1))
    assert commands == [x.DialTarget(1, TARGET, "<0899098899>", SPEC.ring_timeout, None)]
    state, commands = run(state, x.TargetGone(1, 21, "Call Rejected", 11.0))
    assert commands == [] and state.phase is flow.Phase.CONNECTED and flow._xctx(state).connected


def test_attended_answered_the_agent_leaves_and_the_target_joins():
    request = x.TransferRequested(x.Mode.ATTENDED, Side.BLEG, ext="102", at=10.0, ref=7)
    state, commands = run(connected(), request, x.TargetReady(1), x.TargetAnswered(1, 12.0))
    assert commands[-2:] == [x.Hangup(AGENT), x.Bridge(BRIDGE, (TARGET,))]
    state, _ = run(state, flow.ChannelGone(Party.AGENT, 16, "", 12.1))
    assert state.phase is flow.Phase.CONNECTED and flow._xctx(state).connected


def test_refused_before_the_customer_answers_and_during_another_transfer():
    state = flow.CallState(SPEC, created_at=1.0)
    state, _ = run(state, flow.Start(), flow.Originated(1.1), flow.Answered(Party.AGENT, 2.0))
    _, commands = run(state, blind())
    assert commands == [c.Reply(7, "CALL_NOT_CONNECTED")]
    state, _ = run(connected(), blind())
    _, commands = run(state, blind("103"))
    assert commands == [c.Reply(7, "TRANSFER_IN_PROGRESS")]


def test_an_external_number_rings_through_the_trunk_showing_the_hotline():
    _, commands = run(connected(), x.TransferRequested(x.Mode.BLIND, Side.BLEG, phone="0912345678", ref=7))
    assert x.CreateTarget(1, TARGET, "PJSIP/0912345678@trunk-a", "<02873000001>") in commands


def test_the_targets_events_reach_its_call():
    assert ids.parse_leg(TARGET) == ("c1", "transfer-1")
    raw = {"type": "ChannelStateChange", "timestamp": "2026-11-30T16:14:50.058+0000",
           "channel": {"id": TARGET, "state": "Up"}}
    assert isinstance(events.outbound_event(raw, "c1", "transfer-1"), x.TargetAnswered)
    assert events.inbound_event({"type": "StasisStart", "channel": {"id": TARGET}}, "c1", "transfer-1") \
        == x.TargetReady(1)
    gone = events.outbound_event({"type": "ChannelDestroyed", "cause": 17, "cause_txt": "User busy",
                                  "channel": {"id": TARGET}}, "c1", "transfer-1")
    assert (gone.n, gone.cause) == (1, 17)


def test_the_webhook_says_started_then_answered():
    before = connected()
    started, _ = run(before, blind())
    assert events_between(before, started) == [(EventName.TRANSFER, "transfer-1/started")]
    body = payload(started, {}, EventName.TRANSFER, "transfer-1/started", 3, 10.0)
    assert (body["state"], body["status"], body["ext"], body["legs"], body["mode"], body["by"]) == \
        ("transfer", "started", "102", "bleg", "blind", "acme")
    answered, _ = run(started, x.TargetReady(1), x.TargetRinging(1, 11.0), x.TargetAnswered(1, 12.0))
    assert events_between(started, answered) == [(EventName.RINGING, "transfer-1"), (EventName.ANSWERED, "transfer-1"),
                                                 (EventName.TRANSFER, "transfer-1/answered")]
    ringing = payload(answered, {}, EventName.RINGING, "transfer-1", 4, 11.0)
    assert (ringing["leg"], ringing["to_number"], ringing["state"]) == ("transfer", "102", "ringing")
    failed, _ = run(started, x.TargetReady(1), x.TargetGone(1, 17, "User busy", 11.0))
    body = payload(failed, {}, EventName.TRANSFER, "transfer-1/failed", 4, 11.0)
    assert (body["status"], body["cause"], body["cause_code"]) == ("failed", "User busy", 17)


def test_a_target_moved_on_again_gets_its_hangup_while_the_call_goes_on():
    state, _ = run(connected(), blind(), flow.ChannelGone(Party.AGENT, 16, "", 10.1), x.TargetReady(1),
                   x.TargetRinging(1, 11.0), x.TargetAnswered(1, 12.0))
    # the customer goes on to 103: the first target's leg is hung up and ends while the call goes on
    second = x.TransferRequested(x.Mode.BLIND, Side.BLEG, ext="103", at=30.0, ref=8, by="acme")
    moved, commands = run(state, second)
    assert x.Hangup(TARGET) in commands
    before, after = moved, run(moved, x.TargetGone(1, 16, "Normal Clearing", 30.2))[0]
    assert events_between(before, after) == [(EventName.HANGUP, "transfer-1")]
    body = payload(after, {}, EventName.HANGUP, "transfer-1", 6, 30.2)
    assert (body["leg"], body["to_number"], body["cause"], body["duration"], body["billsec"], body["status"]) == \
        ("transfer", "102", "NORMAL_CLEARING", 20, 18, "ANSWERED")
    # the call's own hangup, when it ends, is the party's (the second target, now the agent)
    state, _ = run(after, x.TargetReady(2), x.TargetRinging(2, 31.0), x.TargetAnswered(2, 32.0))
    ended, _ = run(state, x.TargetGone(2, 16, "", 40.0), flow.ChannelGone(Party.CUSTOMER, 16, "", 40.1))
    assert (EventName.HANGUP, Party.AGENT) in events_between(state, ended)
    assert not [e for e in events_between(state, ended) if e[1] == "transfer-2"]


def test_an_inbound_call_transfers_the_caller_the_same_way():
    spec = f.InboundSpec(call_id="in1", channel="1795752289.12", caller="0899", caller_name="", hotline="028",
                         trunk="trunk-a", group=f.RingGroup(name="g", extensions=("101", "102")))
    state, _ = run(f.InboundState(spec, created_at=1.0), f.Start(1.0),
                   f.Surveyed((f.Available("101"), f.Available("103"))), f.AgentAnswered(1, 3.0), f.Connected(3.1),
                   transition=f.transition)
    state, commands = run(state, x.TransferRequested(x.Mode.BLIND, Side.BLEG, ext="102", ref=7),
                          transition=f.transition)
    assert commands[:2] == [x.Hangup("in1.agent-1"), x.CreateTarget(1, "in1.transfer-1", "PJSIP/102", "<0899>")]
    state, commands = run(state, f.AgentGone(0, 16, "", 3.0), f.AgentGone(1, 16, "", 4.0), x.TargetReady(1), x.TargetAnswered(1, 5.0),
                          transition=f.transition)
    assert state.phase is f.Phase.CONNECTED and f._xctx(state).connected
    state, commands = run(state, f.CustomerGone(16, "", 6.0), transition=f.transition)
    assert commands == [f.Hangup("in1.transfer-1")]
    state, commands = run(state, x.TargetGone(1, 16, "", 6.1), transition=f.transition)
    assert state.phase is f.Phase.ENDED and state.hangup_by is HangupBy.CUSTOMER


def test_the_transfer_body_takes_one_target_and_hold_only_when_attended():
    import pytest
    from pydantic import ValidationError

    from click2call.schema.call_control import TransferBody

    body = TransferBody.model_validate({"ext": "102", "legs": "bleg"})
    assert (body.ext, body.phone, body.mode, body.hold, body.legs) == ("102", None, "blind", False, Side.BLEG)
    body = TransferBody.model_validate({"phone": "0912345678", "legs": "aleg", "mode": "attended", "hold": True})
    assert (body.phone, body.hold, body.legs) == ("0912345678", True, Side.ALEG)
    for bad in ({"legs": "bleg"}, {"ext": "102", "phone": "0912", "legs": "bleg"}, {"ext": "10;2", "legs": "bleg"},
                {"ext": "102@evil", "legs": "bleg"}, {"ext": "102", "legs": "cleg"}, {"ext": "102"},
                {"ext": "102", "legs": "bleg", "hold": True}, {"ext": "102", "legs": "bleg", "mode": "warm"},
                {"phone": "09x", "legs": "bleg"}):
        with pytest.raises(ValidationError):
            TransferBody.model_validate(bad)


def test_park_then_a_transfer_picks_the_parked_customer_up():
    state, commands = run(connected(), x.ParkRequested(Side.BLEG, by="acme", at=10.0, ref=3))
    assert commands == [x.Hangup(AGENT), x.Unbridge(BRIDGE, CUSTOMER), x.Moh(CUSTOMER, True),
                        x.StartTimer(x.PARK_TIMER), c.Reply(3)]
    assert state.actions[-1] == c.Action(CallAction.PARK, Party.CUSTOMER, 10.0, "acme")
    state, commands = run(state, flow.ChannelGone(Party.AGENT, 16, "", 10.1))
    assert commands == [] and state.phase is flow.Phase.CONNECTED
    _, commands = run(state, x.TransferRequested(x.Mode.BLIND, Side.ALEG, ext="102", ref=4))
    assert commands == [c.Reply(4, "CALL_PARKED")]
    state, _ = run(state, blind(), x.TargetReady(1))
    state, commands = run(state, x.TargetAnswered(1, 12.0))
    assert commands == [x.CancelTimer(x.PARK_TIMER), x.Moh(CUSTOMER, False), x.Bridge(BRIDGE, (CUSTOMER, TARGET))]
    assert flow._xctx(state).connected


def test_a_park_nobody_picks_up_ends_the_call():
    state, _ = run(connected(), x.ParkRequested(Side.BLEG, ref=3), flow.ChannelGone(Party.AGENT, 16, "", 10.1))
    state, commands = run(state, x.ParkTimeout())
    assert commands == [x.Hangup(CUSTOMER)]
    state, _ = run(state, flow.ChannelGone(Party.CUSTOMER, 16, "", 20.1))
    assert state.phase is flow.Phase.ENDED and state.hangup_by is HangupBy.SYSTEM


REFER = {"type": "ChannelTransfer", "timestamp": "2026-11-30T16:14:50.058+0000",
         "refer_to": {"requested_destination": {"destination": "132"}},
         "referred_by": {"source_channel": {"id": AGENT, "name": "PJSIP/134-00000000", "state": "Up"},
                         "connected_channel": {"id": CUSTOMER}, "bridge": {"id": BRIDGE}}}


def test_a_phones_refer_is_checked_then_carried_out_and_the_phone_told():
    assert events.target(REFER) == ("c1", "agent")
    event = events.outbound_event(REFER, "c1", "agent")
    assert event == x.PhoneTransfer(AGENT, "132")
    assert events.outbound_event({**REFER, "state": "channel_progress"}, "c1", "agent") is None  # our own echo
    assert "ChannelTransfer" in events.handled_types()
    state, commands = run(connected(), event)
    assert commands == [x.CheckTarget("132", AGENT)]
    state, commands = run(state, x.TransferRequested(x.Mode.BLIND, Side.BLEG, ext="132", refer=True, at=10.0))
    assert commands == [x.TransferProgress(AGENT, x.Progress.TRYING), x.Unbridge(BRIDGE, AGENT),
                        x.CreateTarget(1, TARGET, "PJSIP/132", "<0899098899>")]
    assert state.actions[-1].by == "phone"
    state, commands = run(state, x.TargetReady(1), x.TargetAnswered(1, 12.0))
    assert commands[-2:] == [x.TransferProgress(AGENT, x.Progress.ANSWERED), x.Hangup(AGENT)]
    state, commands = run(state, flow.ChannelGone(Party.AGENT, 16, "", 12.1))
    assert commands == [] and flow._xctx(state).connected


def test_a_refer_whose_target_declines_puts_the_agent_back():
    state, _ = run(connected(), x.TransferRequested(x.Mode.BLIND, Side.BLEG, ext="132", refer=True),
                   x.TargetReady(1))
    state, commands = run(state, x.TargetGone(1, 21, "Call Rejected", 11.0))
    assert commands == [x.TransferProgress(AGENT, x.Progress.DECLINED), x.Bridge(BRIDGE, (AGENT,))]
    assert flow._xctx(state).connected


def test_a_phone_that_hangs_up_after_its_refer_makes_it_blind():
    state, _ = run(connected(), x.TransferRequested(x.Mode.BLIND, Side.BLEG, ext="132", refer=True),
                   x.TargetReady(1))
    # Asterisk gives the REFER's event twice when the phone hangs up right after the 202: the repeat is not
    # refused (no channel_unavailable in the middle of the transfer), before or after the phone's leg ended
    assert run(state, x.PhoneTransfer(AGENT, "132")) == (state, [])
    state, commands = run(state, flow.ChannelGone(Party.AGENT, 16, "", 10.5))
    assert commands == [] and state.phase is flow.Phase.CONNECTED
    assert run(state, x.PhoneTransfer(AGENT, "132")) == (state, [])
    state, commands = run(state, x.TargetAnswered(1, 12.0))
    assert x.TransferProgress(AGENT, x.Progress.ANSWERED) not in commands


def test_an_attended_refer_or_one_during_a_transfer_is_refused_at_once():
    _, commands = run(connected(), x.PhoneTransfer(AGENT, "132", attended=True))
    assert commands == [x.TransferProgress(AGENT, x.Progress.UNAVAILABLE)]
    state, _ = run(connected(), x.TransferRequested(x.Mode.ATTENDED, Side.BLEG, ext="133"))
    _, commands = run(state, x.PhoneTransfer(AGENT, "132"))
    assert commands == [x.TransferProgress(AGENT, x.Progress.UNAVAILABLE)]  # a transfer is under way
    _, commands = run(connected(), x.PhoneTransfer("someone-else", "132"))
    assert commands == []


def test_after_a_reconnect_a_vanished_target_is_gone_and_an_answered_one_answered():
    state, _ = run(connected(), blind(), flow.ChannelGone(Party.AGENT, 16, "", 10.1), x.TargetReady(1))
    assert flow.resync(state, {CUSTOMER: "Up", TARGET: "Up"}, 30.0) == [x.TargetAnswered(1, 30.0)]
    assert flow.resync(state, {CUSTOMER: "Up", TARGET: "Ringing"}, 30.0) == []
    [gone] = flow.resync(state, {CUSTOMER: "Up"}, 30.0)
    assert (gone.n, gone.cause) == (1, 38)
    # adopted from its record: the target that answered is the agent, the one under way is still under way
    answered, _ = run(state, x.TargetAnswered(1, 12.0))
    replayed = x.replay("c1", x.transfers_of(x.transfers_json(answered.transfers)), ORIGINALS)
    assert replayed.channel_of(Party.AGENT, AGENT) == TARGET and replayed.active is None
    assert x.replay("c1", x.transfers_of(x.transfers_json(state.transfers)), ORIGINALS).active == 1


ORIGINALS = {Party.AGENT: AGENT, Party.CUSTOMER: CUSTOMER}
PARK = x.ParkRequested(Side.BLEG, by="acme", at=10.0, ref=3)


def attended(ext="102", at=10.0, **kw):
    return x.TransferRequested(x.Mode.ATTENDED, Side.BLEG, ext=ext, at=at, ref=7, **kw)


@pytest.mark.parametrize("events", [
    [blind(), flow.ChannelGone(Party.AGENT, 16, "", 10.1), x.TargetReady(1)],  # under way
    [blind(), x.TargetReady(1), x.TargetAnswered(1, 12.0)],
    [attended(hold=True), x.TargetReady(1), x.TargetAnswered(1, 12.0)],
    [attended(), x.TargetReady(1), x.TargetGone(1, 17, "busy", 11.0)],  # declined: talking on
    [PARK],  # parked, nobody picked it up yet
    [PARK, x.TransferRequested(x.Mode.BLIND, Side.BLEG, ext="102", at=15.0, ref=4), x.TargetReady(1)],
    [PARK, x.TransferRequested(x.Mode.BLIND, Side.BLEG, ext="102", at=15.0, ref=4), x.TargetReady(1),
     x.TargetAnswered(1, 16.0)],  # picked up
    [blind(), x.TargetReady(1), x.TargetAnswered(1, 12.0), blind("103", at=20.0), x.TargetReady(2),
     x.TargetAnswered(2, 22.0)],  # moved on again
], ids=["blind-under-way", "blind", "attended-hold", "attended-declined", "parked", "pick-up-under-way",
        "picked-up", "moved-on"])
def test_a_call_adopted_from_its_record_has_the_same_transfers_park_and_let_go_legs(events):
    state, _ = run(connected(), *events)
    replayed = x.replay("c1", x.transfers_of(x.transfers_json(state.transfers)), ORIGINALS, state.actions)
    assert replayed == state.transfers


def test_an_adopted_parked_call_keeps_the_rest_of_its_park_timer():
    state, _ = run(connected(), PARK)
    replayed = x.replay("c1", x.transfers_of(x.transfers_json(state.transfers)), ORIGINALS, state.actions)
    assert x.park_left(replayed, 10.0, now=13.5) == 6.5
    assert x.park_left(replayed, 10.0, now=25.0) == 0.0
    assert x.park_left(x.Transfers(), 10.0, now=13.5) is None
