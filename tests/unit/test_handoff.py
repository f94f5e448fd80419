"""Stasis arguments of a dialplan handoff are validated like API input."""

import pytest

from click2call import handoff
from click2call.errors import ApiError
from click2call.stasis_app import call_flow as flow
from click2call.stasis_app.call_flow import AnswerAgent, CreateCustomer, HandedOff, Phase

from .factories import SPEC

PJSIP = {"id": "1764212345.12", "name": "PJSIP/115-0000000a", "caller": {"number": "115"},
         "dialplan": {"context": "agents", "exten": "0899098899"}}
LOCAL = {"id": "1764212345.20", "name": "Local/116@click2call-agents-00000001;1", "caller": {"number": ""},
         "dialplan": {"context": "click2call-originate", "exten": "0899098899"}}


def test_outbound_takes_the_dialled_number_and_the_agent_from_the_channel():
    assert handoff.parse(PJSIP, ["outbound"]) == handoff.Handoff("115", "0899098899", None)
    assert handoff.parse(PJSIP, ["outbound", "02873000002"]).hotline == "02873000002"
    assert handoff.parse(PJSIP, ["outbound", ""]).hotline is None  # ${EMPTY} from the dialplan


def test_click2call_takes_the_phone_argument_and_a_local_channel_agent():
    assert handoff.parse(LOCAL, ["click2call", "0987654321", "02873000001"]) == handoff.Handoff(
        "116", "0987654321", "02873000001")


@pytest.mark.parametrize("channel,args", [
    (PJSIP, []), (PJSIP, ["dial"]), (PJSIP, ["click2call"]), (PJSIP, ["click2call", "0899&PJSIP/2"]),
    (PJSIP, ["outbound", "0287@x"]), (PJSIP, ["outbound", "1", "2"]),
    ({**PJSIP, "dialplan": {"exten": "s"}}, ["outbound"]),
    ({**PJSIP, "name": "Console/dsp", "caller": {"number": "bad ext!"}}, ["outbound"]),
])
def test_bad_arguments_are_refused_with_a_reason(channel, args):
    with pytest.raises(ApiError) as exc:
        handoff.parse(channel, args)
    assert exc.value.message


def test_a_handed_off_channel_is_the_agent_leg_answered_then_the_customer_is_created():
    spec = flow.replace(SPEC, agent_channel="1764212345.12")
    state, commands = flow.transition(flow.CallState(spec), HandedOff(5.0, "sip-x"))
    assert commands == [AnswerAgent("1764212345.12"), CreateCustomer(spec)]
    assert state.phase is Phase.DIALING and state.agent.answered and state.agent.sip_call_id == "sip-x"
    assert spec.channel_id("agent") == "1764212345.12" and spec.channel_id("customer") == "c1.customer"
