"""Pure parts of webhooks: which events a state change makes, and the retry policy."""

import pytest

from click2call.webhooks import events as webhooks
from click2call.webhooks.retry import Outcome, Policy, decide, retry_after
from click2call.stasis_app import call_flow as flow
from click2call.stasis_app.call_flow import Answered, ChannelGone, Originated, Ringing, Start

from .factories import SPEC


def steps(*events):
    """The webhook events of each step of a call."""
    state = flow.CallState(SPEC, created_at=1000.0)
    out = []
    for event in events:
        after, _ = flow.transition(state, event)
        out.append(webhooks.events_between(state, after))
        state = after
    return out


def test_a_connected_call_makes_every_event_once_in_order():
    made = steps(Start(), Originated(1), Ringing("agent", 2), Ringing("agent", 2), Answered("agent", 3),
                 Ringing("customer", 4), Answered("customer", 5), ChannelGone("customer", 16, "", 9),
                 ChannelGone("agent", 16, "", 9), ChannelGone("agent", 16, "", 9))
    assert [e for step in made for e in step] == [
        ("ringing", "agent"), ("answered", "agent"), ("ringing", "customer"), ("answered", "customer"),
        ("hangup", "customer"), ("cdr", ""),
    ]


def test_unanswered_call_ends_with_hangup_and_cdr():
    made = steps(Start(), Originated(1), Ringing("agent", 2), ChannelGone("agent", 17, "", 3))
    assert made[-1] == [("hangup", "agent"), ("cdr", "")]


def test_payload_fields():
    state = flow.CallState(SPEC, created_at=1000.0)
    for event in (Start(), Originated(1), Answered("agent", 3, "sip-a")):
        state, _ = flow.transition(state, event)
    body = webhooks.payload(state, {}, "answered", "agent", 2, 3.0)
    assert body == {
        "call_id": "c1", "sip_call_id": "sip-a", "direction": "outbound", "from_number": "101",
        "to_number": "0899098899", "hotline": "02873000001", "state": "answered", "leg": "agent", "cause": "",
        "customer_id": "", "node": "", "timestamp": 3.0, "sequence": 2,
    }


POLICY = Policy(max_age=3600, base=1, cap=600)


@pytest.mark.parametrize("status,expected", [
    (200, Outcome("delivered")), (204, Outcome("delivered")),
    (410, Outcome("failed", disable_hook=True)),
    (400, Outcome("failed")), (401, Outcome("failed")), (404, Outcome("failed")), (422, Outcome("failed")),
])
def test_final_outcomes(status, expected):
    assert decide(status, 1, 0, None, POLICY, rand=1.0) == expected


@pytest.mark.parametrize("status", [None, 429, 500, 502, 503])
def test_retryable_outcomes_back_off(status):
    assert [decide(status, n, 0, None, POLICY, rand=1.0).delay for n in (1, 2, 3, 11)] == [1, 2, 4, 600]
    assert decide(status, 1, 0, None, POLICY, rand=0.0).delay == 0.5  # jitter


def test_retry_after_is_honoured_and_the_window_ends():
    assert decide(429, 1, 0, 30, POLICY, rand=1.0) == Outcome("retry", 30)
    assert decide(503, 1, 0, 10_000, POLICY, rand=1.0) == Outcome("retry", 600)  # capped
    assert decide(500, 5, 3590, None, POLICY, rand=1.0) == Outcome("failed")  # past max_age


def test_retry_after_header_forms():
    assert retry_after("120", 0) == 120
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 60) == 60
    assert retry_after("soon", 0) is None and retry_after(None, 0) is None
    assert retry_after("¹²", 0) is None  # digits to str.isdigit, not to float()
