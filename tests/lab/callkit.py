"""Calls put together by hand in a test's own Stasis app, the way the service's flows do it through ARI, for the lab
kits that prove a feature on the real Asterisk before the service has it (tests/lab/test_transfer_kit.py).

    with AriApp(lab, "c2c-my-kit") as app:
        with bridged_call(ari, app, "PJSIP/131", f"PJSIP/{phone}@trunk-f") as call:     # agent, customer
            talking(ari, app, call.customer, 1500, TONES)       # the customer hears the agent's tone
            create_and_dial(ari, app, "PJSIP/132", call.leg("transfer-1"), bridge=call.bridge)   # into the bridge

Channel ids are `<key>.<leg>` like the service's (`<key>.agent`, `<key>.customer`, `<key>.transfer-1`), the bridge
`<key>.bridge`; every channel and bridge of the key is hung up / destroyed when the block ends.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

from .audio import AUDIBLE_RMS, AriApp, Heard, heard
from .helpers import wait_for


@dataclass(frozen=True)
class Call:
    key: str

    @property
    def agent(self) -> str:
        return self.leg("agent")

    @property
    def customer(self) -> str:
        return self.leg("customer")

    @property
    def bridge(self) -> str:
        return self.leg("bridge")

    def leg(self, name: str) -> str:
        return f"{self.key}.{name}"


def in_bridge(ari, bridge_id: str) -> set[str]:
    return set(ari.get(f"/bridges/{bridge_id}").json().get("channels", []))


def originate(ari, app: AriApp, endpoint: str, channel_id: str, *, variables: dict | None = None,
              timeout: int = 15) -> None:
    """Ring `endpoint` into the test's app; it enters (StasisStart) when it answers."""
    r = ari.post("/channels", params={"endpoint": endpoint, "app": app.name, "channelId": channel_id,
                                      "timeout": timeout}, json={"variables": variables or {}})
    assert r.status_code == 200, r.text


def create_and_dial(ari, app: AriApp, endpoint: str, channel_id: str, *, bridge: str | None = None,
                    connected_line: str | None = None, timeout: int = 15) -> None:
    """The service's recipe for a leg the other party must hear ringing: create the channel in the app (it enters
    at once), put it in `bridge` first (then whoever is in the bridge hears its ringback or early media), set the
    caller ID the called party sees (connected line: From / P-Asserted-Identity), and dial it."""
    r = ari.post("/channels/create", params={"endpoint": endpoint, "app": app.name, "channelId": channel_id})
    assert r.status_code == 200, r.text
    app.stasis_start(channel_id, 10)
    if bridge is not None:
        r = ari.post(f"/bridges/{bridge}/addChannel", params={"channel": channel_id})
        assert r.status_code == 204, r.text
    if connected_line is not None:
        r = ari.post(f"/channels/{channel_id}/variable", params={"variable": "CONNECTEDLINE(all)",
                                                                 "value": connected_line})
        assert r.status_code == 204, r.text
    r = ari.post(f"/channels/{channel_id}/dial", params={"timeout": timeout})
    assert r.status_code == 204, r.text


def state_is(channel_id: str, state: str):
    return lambda e: (e["type"] == "ChannelStateChange" and e["channel"]["id"] == channel_id
                      and e["channel"]["state"] == state)


def destroyed(channel_id: str):
    return lambda e: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == channel_id


@contextlib.contextmanager
def bridged_call(ari, app: AriApp, agent_endpoint: str, customer_endpoint: str, *,
                 agent_variables: dict | None = None, key: str | None = None):
    """A connected call as the service makes one: both legs rung into the test's app, answered, in a mixing bridge.
    Yields a Call; hangs up every channel of its key and destroys its bridge after."""
    call = Call(key or f"kit-{uuid.uuid4().hex[:8]}")
    try:
        originate(ari, app, agent_endpoint, call.agent, variables=agent_variables)
        originate(ari, app, customer_endpoint, call.customer)
        app.stasis_start(call.agent, 15)
        app.stasis_start(call.customer, 15)
        assert ari.post("/bridges", params={"type": "mixing", "bridgeId": call.bridge}).status_code == 200
        r = ari.post(f"/bridges/{call.bridge}/addChannel", params={"channel": f"{call.customer},{call.agent}"})
        assert r.status_code == 204, r.text
        wait_for(lambda: in_bridge(ari, call.bridge) == {call.customer, call.agent}, 10, "both in the bridge")
        yield call
    finally:
        for channel in ari.get("/channels").json():
            if channel["id"].startswith(call.key + "."):
                ari.delete(f"/channels/{channel['id']}")
        ari.delete(f"/bridges/{call.bridge}")


def talking(ari, app: AriApp, channel_id: str, hz: int, tones: list[int], seconds: float = 1.0) -> Heard:
    """What Asterisk sends to the channel is the tone hz and little else."""
    h = heard(ari, app, channel_id, seconds, hz=hz)
    assert h.rms >= AUDIBLE_RMS and h.dominant(tones) == hz and h.share(hz) > 0.8, h
    return h


def ring_tone(h: Heard, hz: int = 425) -> bool:
    """A ring tone (indications.conf: 425 Hz, 1 s on, 4 s off): audible, and two or more 200 ms frames nearly pure
    hz. `h` must be captured with hz=425 (the default) and span an "on" second."""
    return h.rms >= AUDIBLE_RMS and len([f for f in h.audible_frames if f[1] > 0.8]) >= 2 and h.hz == hz
