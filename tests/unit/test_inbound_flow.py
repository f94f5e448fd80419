"""The inbound call flow (ring groups), as a pure state machine: which agents ring, in which order, and how the call
ends; and the webhook events its changes make."""

from __future__ import annotations

from dataclasses import replace

from click2call.ring_group import RingGroup
from click2call.states import CallStatus, EventName, HangupBy, NoAnswer, RingStrategy
from click2call.stasis_app import inbound_flow as f
from click2call.stasis_app.call_flow import HangupRequested
from click2call.webhooks.events import events_between, payload

GROUP = RingGroup(name="sales", extensions=("101", "102", "103"), ring_seconds=15, timeout=60)
CHANNEL = "1795752289.12"


def spec(**group) -> f.InboundSpec:
    return f.InboundSpec(call_id="c1", channel=CHANNEL, caller="0899098899", caller_name="", hotline="02873000001",
                         trunk="trunk-a", group=replace(GROUP, **group), tenant="acme", node="n1")


def run(state: f.InboundState, *events) -> tuple[f.InboundState, list]:
    commands = []
    for event in events:
        state, more = f.transition(state, event)
        commands += more
    return state, commands


def available(*exts: str, idle: dict | None = None) -> tuple[f.Available, ...]:
    return tuple(f.Available(e, (idle or {}).get(e)) for e in exts)


def rung(commands) -> list[tuple[int, str, int]]:
    return [(c.index, c.ext, c.timeout) for c in commands if isinstance(c, f.RingAgent)]


def started(**group) -> f.InboundState:
    state, commands = run(f.InboundState(spec(**group), created_at=1000.0), f.Start(1000.0))
    assert commands[:2] == [f.Ring(CHANNEL), f.StartTimer(f.TOTAL, group.get("timeout", 60))]
    assert isinstance(commands[2], f.Survey)
    return state


def test_ringall_rings_everyone_available_and_bridges_the_first_to_answer():
    state = started()
    state, commands = run(state, f.Surveyed(available("101", "102", "103"), at=1001.0))
    assert rung(commands) == [(0, "101", 59), (1, "102", 59), (2, "103", 59)]  # the call's timeout left
    state, commands = run(state, f.AgentRinging(0, 1001.1), f.AgentRinging(1, 1001.2), f.AgentRinging(2, 1001.3),
                          f.AgentAnswered(1, 1005.0, "sip-102"))
    # the others stop ringing at once; the caller is answered only now, with the agent who answered
    assert commands == [f.Hangup("c1.agent-0"), f.Hangup("c1.agent-2"), f.Connect(state.spec, 1)]
    assert state.phase is f.Phase.CONNECTED and state.answered_ext == "102"
    state, commands = run(state, f.AgentAnswered(2, 1005.05))  # answered just as it was cancelled: too late
    assert commands == [f.Hangup("c1.agent-2")]
    state, commands = run(state, f.Connected(1005.1), f.AgentGone(0, 16, at=1005.2), f.AgentGone(2, 16, at=1005.2))
    assert commands == []
    state, commands = run(state, f.CustomerGone(16, "Normal Clearing", 1030.0))
    assert commands == [f.Hangup("c1.agent-1")]
    state, commands = run(state, f.AgentGone(1, 16, at=1030.1))
    assert commands == [f.DestroyBridge("c1.bridge"), f.Finish()]
    assert f.final_status(state) is CallStatus.ANSWERED and state.hangup_by is HangupBy.CUSTOMER


def test_sequential_rings_in_order_each_for_ring_seconds():
    state = started(strategy=RingStrategy.SEQUENTIAL)
    state, commands = run(state, f.Surveyed(available("101", "102", "103"), at=1000.0))
    assert rung(commands) == [(0, "101", 15)]
    state, commands = run(state, f.AgentRinging(0, 1000.1), f.AgentGone(0, 19, "No answer", 1015.0))
    assert commands == [f.Survey(state.spec.group, "0899098899", sticky=False)]
    # 102 went busy meanwhile: skipped (the survey leaves it out); 101 was rung already
    state, commands = run(state, f.Surveyed(available("101", "103"), at=1015.1))
    assert rung(commands) == [(1, "103", 15)]
    state, commands = run(state, f.AgentGone(1, 19, at=1030.0), f.Surveyed(available("101", "103"), at=1030.1))
    # everyone available was rung: nobody answered, before the timeout
    assert commands[-1] == f.Hangup(CHANNEL, "no_answer")
    state, commands = run(state, f.CustomerGone(19, at=1030.2))
    assert commands == [f.Finish()] and f.final_status(state) is CallStatus.NO_ANSWER


def test_longest_idle_rings_the_agent_idle_longest_first():
    state = started(strategy=RingStrategy.LONGEST_IDLE)
    idle = {"101": 900.0, "102": 500.0, "103": 700.0}
    _, commands = run(state, f.Surveyed(available("101", "102", "103", idle=idle)))
    assert rung(commands)[0][1] == "102"
    # an agent with no call since it registered counts as idle longest
    _, commands = run(state, f.Surveyed(available("101", "102", "103", idle={**idle, "103": None})))
    assert rung(commands)[0][1] == "103"


def test_sticky_agent_rings_alone_first_then_the_group():
    state = started(sticky_days=7, sticky_seconds=10)
    assert state.step is f.Step.STICKY
    state, commands = run(state, f.Surveyed(available("101", "102", "103"), sticky="103", at=1000.0))
    assert rung(commands) == [(0, "103", 10)]
    state, commands = run(state, f.AgentGone(0, 19, at=1010.0))
    assert commands == [f.Survey(state.spec.group, "0899098899", sticky=False)]
    _, commands = run(state, f.Surveyed(available("101", "102", "103"), at=1010.1))
    assert [ext for _, ext, _ in rung(commands)] == ["101", "102", "103"]


def test_a_sticky_agent_not_available_is_passed_over():
    state = started(sticky_days=7)
    _, commands = run(state, f.Surveyed(available("101", "102"), sticky="103"))
    assert [ext for _, ext, _ in rung(commands)] == ["101", "102"]


def test_nobody_answers_in_time_agents_stopped_and_the_caller_hung_up():
    state = started()
    state, _ = run(state, f.Surveyed(available("101", "102")), f.AgentRinging(0), f.AgentRinging(1))
    state, commands = run(state, f.TimerFired(f.TOTAL))
    assert commands == [f.Hangup("c1.agent-0"), f.Hangup("c1.agent-1"), f.Hangup(CHANNEL, "no_answer")]
    state, commands = run(state, f.AgentGone(0, 16), f.AgentGone(1, 16), f.CustomerGone(16))
    assert commands == [f.Finish()]
    assert f.final_status(state) is CallStatus.NO_ANSWER


def test_nobody_available_plays_the_prompt_then_hangs_up():
    state = started(prompt="vm-goodbye")
    state, commands = run(state, f.Surveyed(()))
    assert commands == [f.PlayPrompt(CHANNEL, "vm-goodbye")]
    state, commands = run(state, f.PromptDone())
    assert commands == [f.Hangup(CHANNEL)]
    state, _ = run(state, f.CustomerGone(16))
    assert state.phase is f.Phase.ENDED and f.final_status(state) is CallStatus.NO_ANSWER


def test_continue_sends_the_caller_to_the_dialplan():
    state = started(no_answer=NoAnswer.CONTINUE, continue_to=("voicemail", "s", 1))
    state, _ = run(state, f.Surveyed(available("101")))
    state, commands = run(state, f.TimerFired(f.TOTAL))
    assert commands == [f.Hangup("c1.agent-0"), f.ContinueInDialplan(CHANNEL, "voicemail", "s", 1)]
    state, commands = run(state, f.AgentGone(0, 16), f.CustomerGone(16, "left the app", by=HangupBy.SYSTEM))
    assert commands == [f.Finish()] and f.final_status(state) is CallStatus.NO_ANSWER


def test_the_caller_hanging_up_while_agents_ring_cancels_the_call():
    state = started()
    state, _ = run(state, f.Surveyed(available("101", "102")), f.AgentRinging(0))
    state, commands = run(state, f.CustomerGone(16, "Normal Clearing", 1003.0))
    assert commands == [f.Hangup("c1.agent-0"), f.Hangup("c1.agent-1")]
    state, commands = run(state, f.AgentGone(0, 16), f.AgentGone(1, 16))
    assert commands == [f.Finish()]
    assert f.final_status(state) is CallStatus.CANCELLED and state.hangup_by is HangupBy.CUSTOMER


def test_the_timer_after_an_answer_changes_nothing():
    state = started()
    state, _ = run(state, f.Surveyed(available("101")), f.AgentAnswered(0), f.Connected())
    assert run(state, f.TimerFired(f.TOTAL)) == (state, [])


def test_a_bridge_that_fails_ends_the_call_as_failed():
    state = started()
    state, _ = run(state, f.Surveyed(available("101")), f.AgentAnswered(0))
    state, commands = run(state, f.ConnectFailed("bridge gone"))
    assert set(commands) == {f.Hangup("c1.agent-0"), f.Hangup(CHANNEL)}
    state, _ = run(state, f.AgentGone(0, 16), f.CustomerGone(16))
    assert f.final_status(state) is CallStatus.FAILED


def test_api_hangup_while_ringing():
    state = started()
    state, _ = run(state, f.Surveyed(available("101")))
    state, commands = run(state, HangupRequested())
    assert set(commands) == {f.Hangup("c1.agent-0"), f.Hangup(CHANNEL)}


def test_resync_finds_what_happened_while_disconnected():
    state = started()
    state, _ = run(state, f.Surveyed(available("101", "102")))
    events = f.resync(state, {CHANNEL: "Ring", "c1.agent-1": "Up"}, 2000.0)
    assert events == [f.AgentGone(0, 38, "vanished while ARI was disconnected", 2000.0), f.AgentAnswered(1, 2000.0)]
    assert f.resync(state, {}, 2000.0)[-1].by is HangupBy.SYSTEM


def test_resumed_sets_the_remaining_timeout_again():
    state = started()
    state, _ = run(state, f.Surveyed(available("101")))
    _, commands = run(state, f.Resumed(1040.0))
    assert commands == [f.StartTimer(f.TOTAL, 20.0)]


def test_webhook_events_of_an_inbound_call():
    state = started()
    steps = [f.Surveyed(available("101", "102"), at=1000.5), f.AgentRinging(0, 1001.0, "s0"),
             f.AgentRinging(1, 1001.0, "s1"), f.AgentAnswered(1, 1004.0, "s1"), f.Connected(1004.1),
             f.AgentGone(0, 16, at=1004.2), f.CustomerGone(16, at=1010.0), f.AgentGone(1, 16, at=1010.1)]
    seen = []
    for event in steps:
        before = state
        state, _ = f.transition(state, event)
        seen += events_between(before, state)
    assert seen == [(EventName.RINGING, "agent-0"), (EventName.RINGING, "agent-1"), (EventName.ANSWERED, "agent-1"),
                    (EventName.HANGUP, "customer"), (EventName.CDR, "")]
    ringing = payload(state, {}, EventName.RINGING, "agent-1", 2, 1001.0)
    assert (ringing["from_number"], ringing["to_number"], ringing["leg"], ringing["direction"]) == \
        ("0899098899", "102", "agent", "inbound")
    hangup = payload(state, {"status": CallStatus.ANSWERED, "duration": 10}, EventName.HANGUP, "customer", 4, 1010.0)
    assert hangup["to_number"] == "102"


def test_missed_event_when_nobody_answered():
    state = started()
    before = state
    state, _ = run(state, f.Surveyed(available("101", "102"), at=1000.5), f.AgentGone(0, 19), f.AgentGone(1, 19))
    state, _ = run(state, f.CustomerGone(19, at=1060.0))
    assert events_between(before, state)[-3:] == [(EventName.HANGUP, ""), (EventName.MISSED, ""), (EventName.CDR, "")]
    missed = payload(state, {"duration": 60, "status": CallStatus.NO_ANSWER}, EventName.MISSED, "", 3, 1060.0)
    assert missed["rung"] == ["101", "102"] and missed["waited"] == 60 and missed["ring_group"] == "sales"
    assert missed["to_number"] == "" and missed["from_number"] == "0899098899"
