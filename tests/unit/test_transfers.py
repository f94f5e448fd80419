"""Transfer and park on a connected call, as the pure state machine does them (stasis_app/transfers.py): the ARI
steps of each kind (the recipes tests/lab/test_transfer_kit.py proves on the real Asterisk), refusals that change
nothing, what the record and the `transfer` webhook say."""

from __future__ import annotations

from dataclasses import replace

import pytest

from click2call import q850
from click2call.states import Party, Side
from click2call.stasis_app import controls as c
from click2call.stasis_app import transfers as tr

AGENT, CUSTOMER, BRIDGE, T1 = "c1.agent", "c1.customer", "c1.bridge", "c1.transfer-1"
CID = '"0909123456" <0909123456>'
CTX = tr.Context("c1", connected=True, bridge=BRIDGE, channels={Party.AGENT: AGENT, Party.CUSTOMER: CUSTOMER},
                 trunk="trunk-a", caller_id=CID, ring_timeout=30)


def run(events, t=None, ctx=CTX):
    t, out = t or tr.Transfers(), []
    for event in events:
        t, commands = tr.apply(t, ctx, event)
        out.append(commands)
    return t, out


def ask(mode=tr.Mode.BLIND, legs=Side.BLEG, ext="102", **kw):
    return tr.TransferRequested(mode, legs, ext=ext, **{"by": "acme", "at": 10.0, "ref": 7, **kw})


def test_blind_hangs_up_the_agent_at_once_and_rings_the_target_in_the_bridge():
    t, (started, ready, ringing, answered) = run([ask(), tr.TargetReady(1), tr.TargetRinging(1, 11.0),
                                                  tr.TargetAnswered(1, 14.0)])
    assert started == [tr.Hangup(AGENT), tr.CreateTarget(1, T1, "PJSIP/102", CID), c.Reply(7)]
    assert ready == [tr.DialTarget(1, T1, CID, 30, bridge=BRIDGE)]  # into the bridge first: the customer hears ringback
    assert ringing == [] and answered == []  # the customer and the target are in the bridge already
    x = t.history[0]
    assert (x.status, x.mode, x.legs, x.ringing_at, x.answered_at) == (tr.Status.ANSWERED, "blind", "bleg", 11.0, 14.0)
    assert t.active is None and t.channel_of(Party.AGENT, AGENT) == T1 and t.party_of(T1) is Party.AGENT
    assert AGENT in t.retired and tr.transferred_to(t) == "102"


def test_blind_target_failing_ends_the_call():
    t, (_, _, declined) = run([ask(), tr.TargetReady(1), tr.TargetGone(1, q850.USER_BUSY, "User busy", 12.0)])
    assert declined == [tr.Hangup(CUSTOMER)]
    assert t.history[0].status is tr.Status.FAILED and t.history[0].cause == 17 and tr.transferred_to(t) is None


def test_the_agent_side_can_move_too_and_an_external_number_goes_through_the_trunk():
    _, (started, _) = run([ask(legs=Side.ALEG, ext="", phone="0987654321"), tr.TargetReady(1)])
    assert started == [tr.Hangup(CUSTOMER), tr.CreateTarget(1, T1, "PJSIP/0987654321@trunk-a", CID), c.Reply(7)]


def test_attended_with_hold_music_until_the_target_answers_then_the_agent_leaves():
    t, (started, ready, answered) = run([ask(tr.Mode.ATTENDED, hold=True), tr.TargetReady(1),
                                         tr.TargetAnswered(1, 15.0)])
    assert started == [tr.Unbridge(BRIDGE, CUSTOMER), tr.Moh(CUSTOMER, True), tr.CreateTarget(1, T1, "PJSIP/102", CID),
                       c.Reply(7)]
    assert ready == [tr.DialTarget(1, T1, CID, 30, bridge=None)]  # outside the bridge: they (or the agent) talk on
    assert answered == [tr.Hangup(AGENT), tr.Moh(CUSTOMER, False), tr.Bridge(BRIDGE, (CUSTOMER, T1))]
    assert t.history[0].status is tr.Status.ANSWERED and t.channel_of(Party.AGENT, AGENT) == T1


def test_attended_without_hold_the_target_joins_the_bridge_when_it_answers():
    _, (started, _, answered) = run([ask(tr.Mode.ATTENDED), tr.TargetReady(1), tr.TargetAnswered(1, 15.0)])
    assert started == [tr.CreateTarget(1, T1, "PJSIP/102", CID), c.Reply(7)]
    assert answered == [tr.Hangup(AGENT), tr.Bridge(BRIDGE, (T1,))]


@pytest.mark.parametrize("hold, back", [(False, []), (True, [tr.Moh(CUSTOMER, False), tr.Bridge(BRIDGE, (CUSTOMER,))])])
def test_attended_declined_leaves_agent_and_customer_talking(hold, back):
    t, (_, _, declined) = run([ask(tr.Mode.ATTENDED, hold=hold), tr.TargetReady(1),
                               tr.TargetGone(1, q850.CALL_REJECTED, "Call Rejected", 12.0)])
    assert declined == back
    assert t.active is None and t.history[0].status is tr.Status.FAILED and not t.retired
    assert not tr.survives(t, Party.AGENT)  # over: the agent hanging up now ends the call as usual
    # another transfer may follow: transfer-2
    t, (again,) = run([ask()], t)
    assert again[1] == tr.CreateTarget(2, "c1.transfer-2", "PJSIP/102", CID)


def test_the_agent_hanging_up_during_an_attended_transfer_makes_it_blind():
    t, _ = run([ask(tr.Mode.ATTENDED, hold=True), tr.TargetReady(1)])
    assert tr.survives(t, Party.AGENT) and not tr.survives(t, Party.CUSTOMER)
    t, (gone,) = run([tr.PartyGone(Party.AGENT, 12.0)], t)
    assert gone == [tr.Moh(CUSTOMER, False), tr.Bridge(BRIDGE, (CUSTOMER,)), tr.Bridge(BRIDGE, (T1,))]
    assert t.current.mode is tr.Mode.BLIND


def test_the_customer_hanging_up_during_a_transfer_stops_the_target():
    t, (_, _, gone) = run([ask(tr.Mode.ATTENDED), tr.TargetReady(1), tr.PartyGone(Party.CUSTOMER, 12.0)])
    assert gone == [tr.Hangup(T1)]
    assert t.active is None and t.history[0].status is tr.Status.FAILED and T1 in t.retired


@pytest.mark.parametrize("ctx, t, asked, error", [
    (replace(CTX, connected=False), tr.Transfers(), ask(), "CALL_NOT_CONNECTED"),
    (CTX, run([ask(tr.Mode.ATTENDED)])[0], ask(), "TRANSFER_IN_PROGRESS"),
    (replace(CTX, held=frozenset({Party.CUSTOMER})), tr.Transfers(), ask(), "PARTY_HELD"),
    (CTX, run([tr.ParkRequested(Side.BLEG, ref=1)])[0], ask(legs=Side.ALEG), "CALL_PARKED"),
    (CTX, run([tr.ParkRequested(Side.BLEG, ref=1)])[0], tr.ParkRequested(Side.BLEG, ref=7), "ALREADY_PARKED"),
    (replace(CTX, connected=False), tr.Transfers(), tr.ParkRequested(Side.BLEG, ref=7), "CALL_NOT_CONNECTED"),
])
def test_refusals_change_nothing(ctx, t, asked, error):
    after, commands = tr.apply(t, ctx, asked)
    assert after == t and commands == [c.Reply(7, error)]


def test_a_refer_from_the_phone_is_a_blind_transfer_told_to_the_phone():
    refer = ask(by="", ref=0, refer=True)
    t, (started, ready, answered) = run([refer, tr.TargetReady(1), tr.TargetAnswered(1, 14.0)])
    # 100 Trying now; the agent's leg leaves the bridge but stays up until it is told the outcome
    assert started == [tr.TransferProgress(AGENT, tr.Progress.TRYING), tr.Unbridge(BRIDGE, AGENT),
                       tr.CreateTarget(1, T1, "PJSIP/102", CID)]
    assert ready == [tr.DialTarget(1, T1, CID, 30, bridge=BRIDGE)]
    assert answered == [tr.TransferProgress(AGENT, tr.Progress.ANSWERED), tr.Hangup(AGENT)]
    assert t.history[0].by == "phone" and t.history[0].refer


@pytest.mark.parametrize("cause, progress", [(q850.USER_BUSY, tr.Progress.DECLINED),
                                             (q850.CALL_REJECTED, tr.Progress.DECLINED),
                                             (19, tr.Progress.UNAVAILABLE)])
def test_a_refer_that_fails_tells_the_phone_and_the_agent_is_back(cause, progress):
    t, (_, _, failed) = run([ask(ref=0, refer=True), tr.TargetReady(1), tr.TargetGone(1, cause, "", 12.0)])
    assert failed == [tr.TransferProgress(AGENT, progress), tr.Bridge(BRIDGE, (AGENT,))]
    assert not t.retired


def test_a_refused_refer_is_told_to_the_phone_not_to_a_waiter():
    t, _ = run([ask(tr.Mode.ATTENDED)])
    after, commands = tr.apply(t, CTX, ask(ref=0, refer=True))
    assert after == t and commands == [tr.TransferProgress(AGENT, tr.Progress.UNAVAILABLE)]


def test_a_phone_that_hangs_up_after_its_refer_leaves_a_plain_blind_transfer():
    t, _ = run([ask(ref=0, refer=True), tr.TargetReady(1), tr.PartyGone(Party.AGENT, 11.0)])
    assert tr.survives(t, Party.AGENT) and AGENT in t.retired
    _, (failed,) = run([tr.TargetGone(1, q850.USER_BUSY, "", 12.0)], t)
    assert failed == [tr.Hangup(CUSTOMER)]  # no phone to tell, nobody to go back to


def test_park_music_until_a_transfer_picks_it_up():
    t, (parked,) = run([tr.ParkRequested(Side.BLEG, "acme", 10.0, 3)])
    assert parked == [tr.Hangup(AGENT), tr.Unbridge(BRIDGE, CUSTOMER), tr.Moh(CUSTOMER, True),
                      tr.StartTimer(tr.PARK_TIMER), c.Reply(3)]
    assert t.parked is Party.CUSTOMER and tr.survives(t, Party.AGENT)
    ctx = replace(CTX, connected=False)  # the agent's leg is gone
    t, (pick, ready, declined) = run([ask(), tr.TargetReady(1), tr.TargetGone(1, q850.USER_BUSY, "", 12.0)], t, ctx)
    assert pick == [tr.CreateTarget(1, T1, "PJSIP/102", CID), c.Reply(7)]  # the parked party keeps its music
    assert ready == [tr.DialTarget(1, T1, CID, 30, bridge=None)]
    assert declined == [] and t.parked is Party.CUSTOMER  # still parked
    t, (_, _, answered) = run([ask(), tr.TargetReady(2), tr.TargetAnswered(2, 15.0)], t, ctx)
    assert answered == [tr.CancelTimer(tr.PARK_TIMER), tr.Moh(CUSTOMER, False), tr.Bridge(BRIDGE, (CUSTOMER,
                                                                                                  "c1.transfer-2"))]
    assert t.parked is None and t.channel_of(Party.AGENT, AGENT) == "c1.transfer-2"


def test_park_nobody_picks_up_the_timer_hangs_it_up():
    t, (_, timeout) = run([tr.ParkRequested(Side.BLEG, ref=3), tr.ParkTimeout()])
    assert timeout == [tr.Hangup(CUSTOMER)]


def test_a_failed_ari_step_fails_the_transfer():
    t, (_, failed) = run([ask(tr.Mode.ATTENDED, hold=True), tr.TargetFailed(1, "Allocation failed", False)])
    assert failed == [tr.Moh(CUSTOMER, False), tr.Bridge(BRIDGE, (CUSTOMER,))]
    assert t.history[0].status is tr.Status.FAILED and t.history[0].cause == q850.NETWORK_OUT_OF_ORDER


def test_late_or_foreign_target_events_are_ignored():
    t, outs = run([ask(), tr.TargetReady(1), tr.TargetAnswered(1, 14.0), tr.TargetReady(1), tr.TargetAnswered(9, 1.0),
                   tr.TargetRinging(1, 20.0)])
    assert outs[3:] == [[], [], []]
    t, (after,) = run([tr.TargetGone(1, 16, "Normal Clearing", 30.0)], t)  # the target, now the agent, hangs up
    assert after == [] and t.history[0].ended_at == 30.0 and t.history[0].status is tr.Status.ANSWERED


def test_the_webhook_says_started_answered_or_failed_once_each():
    before, _ = run([])
    t1, _ = run([ask(tr.Mode.ATTENDED)])
    assert tr.webhook_events(before, t1) == [{"transfer": 1, "status": "started", "mode": "attended", "legs": "bleg",
                                              "hold": False, "by": "acme", "ext": "102"}]
    t2, _ = run([tr.TargetReady(1), tr.TargetGone(1, 17, "User busy", 12.0)], t1)
    assert tr.webhook_events(t1, t2) == [{"transfer": 1, "status": "failed", "mode": "attended", "legs": "bleg",
                                          "hold": False, "by": "acme", "ext": "102", "cause": 17,
                                          "cause_txt": "User busy"}]
    assert tr.webhook_events(t2, t2) == []
    t3, _ = run([ask(phone="0987654321", ext=""), tr.TargetReady(2), tr.TargetAnswered(2, 20.0)], t2)
    assert [e["status"] for e in tr.webhook_events(t2, t3)] == ["started", "answered"]
    assert tr.webhook_events(t2, t3)[1]["phone"] == "0987654321"


def test_the_record_keeps_every_transfer_and_reads_back():
    t, _ = run([ask(tr.Mode.ATTENDED, hold=True), tr.TargetReady(1), tr.TargetGone(1, 17, "User busy", 12.0),
                ask(phone="0987654321", ext=""), tr.TargetReady(2), tr.TargetAnswered(2, 20.0)])
    text = tr.transfers_json(t)
    assert '"legs":"bleg"' in text and tr.transfers_of(text) == t.history
    assert tr.transfers_json(tr.Transfers()) is None and tr.transfers_of(None) == ()


def test_target_leg_ids():
    assert tr.target_channel("c1", 3) == "c1.transfer-3"
    assert tr.target_index("transfer-3") == 3
    assert tr.target_index("transfer-") is None and tr.target_index("transfer-x") is None
    assert tr.target_index("agent-1") is None and tr.target_index("transfer-\u0663") is None
