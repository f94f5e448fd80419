"""The pure call flow: every rule of the call, without an Asterisk."""

from click2call.stasis_app import call_flow as flow
from click2call.stasis_app.call_flow import (
    Answered, ChannelGone, CreateCustomer, CustomerFailed, CustomerReady, DestroyBridge, DialCustomer, Finish, Hangup, HangupRequested,
    OriginateAgent, OriginateFailed, Originated, Phase, ReportAnswered, Ringing, Start,
)

from .factories import SPEC

AGENT, CUSTOMER, BRIDGE = "c1.agent", "c1.customer", "c1.bridge"


def run(*events, state=None):
    state = state or flow.CallState(SPEC)
    out = []
    for event in events:
        state, commands = flow.transition(state, event)
        out.append(commands)
    return state, out


def ringing():
    return run(Start(), Originated())[0]


def bridged():
    return run(Start(), Originated(), Answered("agent"))[0]


def test_start_originates_the_agent_and_then_it_rings():
    state, (start, originated) = run(Start(), Originated())
    assert start == [OriginateAgent(SPEC)]
    assert originated == []
    assert state.phase is Phase.AGENT_RINGING


def test_originate_failure_wakes_the_sync_waiter_with_the_code_and_ends():
    state, (_, failed) = run(Start(), OriginateFailed("USER_NOT_REGISTERED", "no contact"))
    assert failed == [ReportAnswered("USER_NOT_REGISTERED", "no contact"), Finish()]
    assert state.phase is Phase.ENDED


def test_agent_answer_reports_success_then_creates_the_customer_leg():
    state, (commands,) = run(Answered("agent"), state=ringing())
    assert commands == [ReportAnswered(None), CreateCustomer(SPEC)]
    assert state.phase is Phase.DIALING and state.result == "success"


def test_customer_leg_is_bridged_and_dialled_once_it_is_in_the_app():
    state, (commands, again) = run(CustomerReady(), CustomerReady(), state=bridged())
    assert commands == [DialCustomer(SPEC)]
    assert again == []  # dialled once, whatever Asterisk repeats


def test_customer_ready_after_the_call_ended_dials_nothing():
    ending, _ = run(ChannelGone("agent", 16), state=bridged())
    assert flow.transition(ending, CustomerReady()) == (ending, [])


def test_customer_answer_connects_without_commands():
    state, (commands,) = run(Answered("customer"), state=bridged())
    assert commands == [] and state.phase is Phase.CONNECTED


def test_customer_ringing_before_answer_is_recorded():
    state, _ = run(flow.Ringing("customer"), state=bridged())
    assert state.customer.ringing and state.phase is Phase.DIALING


def test_agent_cause_maps_to_api_error():
    for cause, code in [(17, "USER_BUSY"), (21, "CALL_REJECTED"), (19, "NO_ANSWER"), (18, "NO_ANSWER"),
                        (20, "USER_NOT_REGISTERED"), (34, "CALL_FAILED")]:
        state, (commands,) = run(ChannelGone("agent", cause, "x"), state=ringing())
        assert commands[0] == ReportAnswered(code, "agent leg ended: x")
        assert commands[1:] == [Finish()]  # no bridge was made before the answer
        assert state.phase is Phase.ENDED and state.result == code and state.hangup_by == "agent"


def test_customer_hangup_hangs_up_the_agent_then_destroys_the_bridge():
    state = run(Answered("customer"), state=bridged())[0]
    state, (first, second) = run(ChannelGone("customer", 16, "Normal Clearing"), ChannelGone("agent", 16), state=state)
    assert first == [Hangup(AGENT)]
    assert second == [DestroyBridge(BRIDGE), Finish()]
    assert state.phase is Phase.ENDED and state.hangup_by == "customer" and state.customer.cause == 16


def test_agent_hangup_while_customer_rings_hangs_up_the_customer():
    state, (first, second) = run(ChannelGone("agent", 16), ChannelGone("customer", 16), state=bridged())
    assert first == [Hangup(CUSTOMER)]
    assert second == [DestroyBridge(BRIDGE), Finish()]
    assert state.hangup_by == "agent"


def test_customer_busy_ends_the_call_with_the_cause():
    state, (first, _) = run(ChannelGone("customer", 17, "User busy"), ChannelGone("agent", 16), state=bridged())
    assert first == [Hangup(AGENT)]
    assert state.customer.cause == 17 and state.phase is Phase.ENDED


def test_api_hangup_of_a_connected_call_hangs_up_both_legs():
    state = run(Answered("customer"), state=bridged())[0]
    state, (commands,) = run(HangupRequested("api"), state=state)
    assert commands == [Hangup(AGENT), Hangup(CUSTOMER)]
    assert state.phase is Phase.ENDING and state.hangup_by == "api"
    state, (a, c) = run(ChannelGone("agent", 16), ChannelGone("customer", 16), state=state)
    assert a == [] and c == [DestroyBridge(BRIDGE), Finish()]


def test_api_hangup_while_agent_rings_cancels_the_sync_request():
    state, (hangup, gone) = run(HangupRequested("api"), ChannelGone("agent", 16), state=ringing())
    assert hangup == [Hangup(AGENT)]
    assert gone == [ReportAnswered("CANCELLED", "agent leg ended: 16"), Finish()]
    assert state.result == "CANCELLED"


def test_customer_leg_that_could_not_be_created_ends_the_call():
    state, (commands,) = run(CustomerFailed("Allocation failed", channel_exists=False), state=bridged())
    assert commands == [Hangup(AGENT)]
    state, (last,) = run(ChannelGone("agent", 16), state=state)
    assert last == [DestroyBridge(BRIDGE), Finish()]


def test_customer_leg_that_exists_but_failed_to_dial_is_hung_up_too():
    _, (commands,) = run(CustomerFailed("dial failed", channel_exists=True), state=bridged())
    assert commands == [Hangup(AGENT), Hangup(CUSTOMER)]


def test_replayed_and_late_events_change_nothing():
    ended, _ = run(ChannelGone("customer", 16), ChannelGone("agent", 16), state=bridged())
    for event in (ChannelGone("agent", 16), Answered("agent"), HangupRequested(), Answered("customer")):
        assert flow.transition(ended, event) == (ended, [])
    # A second destroy of the same leg while ending is ignored, not a second hang-up.
    ending, _ = run(ChannelGone("customer", 16), state=bridged())
    assert flow.transition(ending, ChannelGone("customer", 16)) == (ending, [])


def test_agent_answer_is_only_taken_while_ringing():
    state = bridged()
    assert flow.transition(state, Answered("agent")) == (state, [])


def test_resync_after_reconnect_catches_up_on_missed_events():
    # The agent answered while we were disconnected: Asterisk has it Up.
    assert flow.resync(ringing(), {AGENT: "Up"}, 9.0) == [Answered("agent", 9.0)]
    assert flow.resync(ringing(), {AGENT: "Ringing"}, 9.0) == []
    # The customer leg entered the app (and may have answered) unseen.
    assert flow.resync(bridged(), {AGENT: "Up", CUSTOMER: "Down"}, 9.0) == [CustomerReady()]
    dialled = run(CustomerReady(), state=bridged())[0]
    assert flow.resync(dialled, {AGENT: "Up", CUSTOMER: "Up"}, 9.0) == [Answered("customer", 9.0)]
    # Adopted from a replica that stopped: the record cannot say the customer was dialled; its channel can. Ringing
    # or up, it is not dialled again.
    assert flow.resync(bridged(), {AGENT: "Up", CUSTOMER: "Ringing"}, 9.0) == [Ringing("customer", 9.0)]
    assert flow.resync(bridged(), {AGENT: "Up", CUSTOMER: "Up"}, 9.0) == [Answered("customer", 9.0)]
    rang, commands = run(Ringing("customer", 9.0), state=bridged())
    assert rang.customer.bridged and commands == [[]]
    assert run(CustomerReady(), state=rang)[1] == [[]]  # a late StasisStart of the customer dials nothing more
    # Asterisk restarted: both legs vanished; the system, not a party, ended the call.
    lost = flow.resync(dialled, {}, 9.0)
    assert lost == [ChannelGone("agent", 38, "vanished while ARI was disconnected", 9.0, by="system"),
                    ChannelGone("customer", 38, "vanished while ARI was disconnected", 9.0, by="system")]
    state, _ = run(*lost, state=dialled)
    assert state.phase is Phase.ENDED and state.hangup_by == "system"


def test_an_agent_up_but_not_in_the_app_is_not_taken_as_answered_by_the_reconnect_check():
    """An agent leg answered while no replica ran the node waits in the dialplan ([click2call-stasis]) to enter the
    app again: up, but not in Stasis, it cannot be bridged yet; its StasisStart says when it can."""
    assert flow.resync(ringing(), {AGENT: "Up"}, 9.0, outside=frozenset({AGENT})) == []
    assert flow.resync(ringing(), {AGENT: "Up"}, 9.0, outside=frozenset()) == [Answered("agent", 9.0)]
