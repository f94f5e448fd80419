"""What an originate of the agent leg asks of Asterisk (pure)."""

from click2call.stasis_app.commands import originate_params

from .factories import SPEC


def test_an_agent_leg_goes_straight_into_the_app_or_through_the_dialplan_context_that_retries():
    params, body = originate_params(SPEC, "click2call")
    assert (params["app"], params["appArgs"], params["channelId"]) == ("click2call", "agent", "c1.agent")
    assert "context" not in params and "C2C_APP" not in body["variables"]
    params, body = originate_params(SPEC, "click2call", "click2call-stasis")
    assert (params["context"], params["extension"], params["priority"]) == ("click2call-stasis", "s", 1)
    assert "app" not in params and body["variables"]["C2C_APP"] == "click2call"  # Stasis(${C2C_APP},agent)
    assert params["channelId"] == "c1.agent" and body["variables"]["PJSIP_HEADER(add,X-Click2Call-Id)"] == "c1"
