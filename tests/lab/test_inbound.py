"""Inbound calls to ring groups on the real Asterisk: a carrier (sipp) calls a hotline, the service rings the group's
agents (sipp phones of this module's own, extensions 121..140) and bridges the first to answer with the caller.

Who hears whom is measured on the audio each party receives (tests/lab/audio.py: an ARI snoop in this module's own
Stasis app): the caller sends 1000 Hz, the answering agent 600 Hz. Each group has a lab hotline of its own
(asterisk-conf's [from-trunk] sends 02873000010-19 to [from-hotline]), which the module routes to its service's app.
The groups are tenant acme's; tenant beta (its own agent, group, hotline, hook and token) must see none of acme's.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid

import httpx
import pytest

from lab import labkit

from .audio import AUDIBLE_RMS, AriApp, heard
from .conftest import TOKEN, Service, free_port, service_env
from .helpers import inbound_channel, route_inbound, wait_for

pytestmark = pytest.mark.lab

APP = "click2call-inbound"
TEST_APP = "c2c-inbound-test"  # this module's own app: the snoops that measure audio live there
CALLER_HZ, AGENT_HZ, CONTINUE_HZ, RING_HZ = 1000, 600, 1400, 425
TONES = [CALLER_HZ, AGENT_HZ, CONTINUE_HZ, RING_HZ]
SECRET = "whsec_QUJDREVGR0hJSktMTU5PUA=="

HOTLINES = {name: f"0287300001{n}" for n, name in enumerate(
    ["ringall", "sequential", "longest_idle", "sticky", "missed", "continue", "cancel", "prompt", "beta"])}
ACME_TOKEN, BETA_TOKEN = "acme-inbound-token-0123456789", "beta-inbound-token-0123456789"
TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{ACME_TOKEN}"]
extension_pattern = "1(2[1-9]|3[0-6])"
hotlines = [{", ".join(f'"{n}"' for name, n in HOTLINES.items() if name != "beta")}]
  [[tenant.hook]]
  event = "ringing"
  callback_url = "{{acme}}"

[[tenant]]
name = "beta"
tokens = ["{BETA_TOKEN}"]
extensions = ["137", "138"]
hotlines = ["{HOTLINES['beta']}"]
  [[tenant.hook]]
  event = "ringing"
  callback_url = "{{beta}}"
  [[tenant.group]]
  name = "beta-desk"
  extensions = ["137"]
  hotlines = ["{HOTLINES['beta']}"]
"""
GROUPS = f"""
[[group]]
name = "ringall"
extensions = ["121", "122", "123"]
timeout = 30
hotlines = ["{HOTLINES['ringall']}"]

[[group]]
name = "sequential"
strategy = "sequential"
extensions = ["124", "125", "126", "127", "128"]
ring_seconds = 5
timeout = 40
hotlines = ["{HOTLINES['sequential']}"]

[[group]]
name = "longest_idle"
strategy = "longest_idle"
extensions = ["129", "130"]
ring_seconds = 5
hotlines = ["{HOTLINES['longest_idle']}"]

[[group]]
name = "sticky"
extensions = ["131", "132"]
sticky_days = 1
sticky_seconds = 5
hotlines = ["{HOTLINES['sticky']}"]

[[group]]
name = "missed"
extensions = ["133", "134"]
timeout = 5
hotlines = ["{HOTLINES['missed']}"]

[[group]]
name = "continue"
extensions = ["135"]
timeout = 5
no_answer = "continue"
continue_to = "c2c-test-continue,s,1"
hotlines = ["{HOTLINES['continue']}"]

[[group]]
name = "prompt"
extensions = ["136"]
prompt = "tt-allbusy"
hotlines = ["{HOTLINES['prompt']}"]

[[group]]
name = "cancel"
extensions = ["136"]
timeout = 30
hotlines = ["{HOTLINES['cancel']}"]
"""

_callers = itertools.count(1)


def unique_caller() -> str:
    return f"0909{uuid.uuid4().int % 10**4:04d}{next(_callers):02d}"


@pytest.fixture(scope="module")
def hooks():
    from tests.receiver import Receiver

    r = Receiver(free_port()).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def inbound_service(lab, phones, carriers, hooks, ari, tmp_path_factory):
    work = tmp_path_factory.mktemp("inbound")
    # acme's groups are the GROUPS tables, as [[tenant.group]] of acme
    groups = GROUPS.replace("[[group]]", "  [[tenant.group]]")
    head, beta = TENANTS.format(acme=hooks.url("/acme"), beta=hooks.url("/beta")).split("[[tenant]]\nname = \"beta\"")
    (work / "tenants.toml").write_text(head + groups + "\n[[tenant]]\nname = \"beta\"" + beta)
    hotlines = ",".join(f"{number}=trunk-a" for number in HOTLINES.values())
    env = service_env(lab, C2C_ARI_APP=APP, C2C_LISTEN=f"127.0.0.1:{free_port()}",
                      C2C_DATABASE_URL=f"sqlite:///{work}/calls.db", C2C_TENANTS_FILE=str(work / "tenants.toml"),
                      C2C_WEBHOOK_URL=hooks.url("/hooks"), C2C_WEBHOOK_SECRET=SECRET, LAB_SERVICE_SCOPE="module")
    env["C2C_HOTLINES"] += "," + hotlines
    svc = Service(env, str(work / "click2call.log")).start()
    try:
        with route_inbound(ari, APP):
            yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def api(inbound_service):
    with httpx.Client(base_url=inbound_service.base, headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def app(lab):
    with AriApp(lab, TEST_APP) as events:
        yield events


def events_of(hooks, call_id: str) -> list[dict]:
    """The webhook events of a call, each once, in order."""
    seen: dict[str, dict] = {}
    for r in hooks.received("/hooks", call_id):
        seen.setdefault(r["headers"]["webhook-id"], r["json"])
    return sorted(seen.values(), key=lambda e: e["sequence"])


def ended(api, hooks, call_id: str, timeout: float = 20.0) -> tuple[dict, list[dict]]:
    """The call's final record, and its webhook events once the cdr event arrived."""
    wait_for(lambda: any(e["state"] == "cdr" for e in events_of(hooks, call_id)), timeout, f"cdr of {call_id}")
    return api.get(f"/v1/cdr/{call_id}").json(), events_of(hooks, call_id)


def call_of(hooks, caller: str, timeout: float = 10.0) -> str:
    """The call_id of the inbound call from `caller`, from its first webhook event."""
    def found():
        return next((r["json"]["call_id"] for r in hooks.received("/hooks")
                     if r["json"]["from_number"] == caller and r["json"]["direction"] == "inbound"), None)
    return wait_for(found, timeout, f"an event of the call from {caller}")


class Stream:
    """A Server-Sent Events client of GET /v1/stream, reading in a thread; each message with its arrival time."""

    def __init__(self, base: str, token: str = TOKEN, **params: str) -> None:
        self.messages: list[dict] = []
        self._client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                                    timeout=httpx.Timeout(10, read=None))
        self._response = self._client.send(self._client.build_request("GET", "/v1/stream", params=params),
                                           stream=True)
        assert self._response.status_code == 200, self._response.read()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        message: dict = {}
        try:
            for line in self._response.iter_lines():
                if not line:
                    if "data" in message:
                        self.messages.append({**message, "data": json.loads(message["data"]), "at": time.time()})
                    message = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(":")
                    message[key] = value.removeprefix(" ")
        except httpx.HTTPError:
            pass

    def close(self) -> None:
        self._response.close()
        self._client.close()


def test_ringall_bridges_the_agent_who_answers_and_stops_the_others(lab, ari, api, inbound_service, app, hooks):
    caller = unique_caller()
    stream = Stream(inbound_service.base, extension="122")  # a CRM plug-in on agent 122's screen
    try:
        with labkit.Phones({"121": "uas_noanswer", "122": ("uas_answer_audio", {"ring_ms": 1500}, AGENT_HZ),
                            "123": "uas_noanswer"}) as phones, \
                labkit.place_inbound(HOTLINES["ringall"], caller, audio_hz=CALLER_HZ) as call:
            for ext in ("121", "122", "123"):
                phones[ext].wait_invites(1, 10)
            call.wait_status(180)
            assert not call.answered, "the caller is not answered while the agents ring"
            call.wait_status(200, 15)
            call_id = call_of(hooks, caller)
            # The others stop ringing at once: CANCEL to 121 and 123.
            wait_for(lambda: phones["121"].requests("CANCEL") and phones["123"].requests("CANCEL"), 5,
                     "CANCEL to the agents who did not answer")
            # Who hears whom: the caller hears the agent's tone, the agent the caller's.
            caller_channel = inbound_channel(ari, caller)["id"]
            to_caller = heard(ari, app, caller_channel, 1.2, hz=AGENT_HZ)
            to_agent = heard(ari, app, f"{call_id}.agent-1", 1.2, hz=CALLER_HZ)
            assert to_caller.rms >= AUDIBLE_RMS and to_caller.dominant(TONES) == AGENT_HZ, to_caller
            assert to_agent.rms >= AUDIBLE_RMS and to_agent.dominant(TONES) == CALLER_HZ, to_agent
            call.hangup()
            assert call.wait_ended(10) == 0, call
        # The screen-pop: agent 122's stream got its ringing, with the caller's number, within 1 s of the INVITE.
        wait_for(lambda: any(m["event"] == "ringing" for m in stream.messages), 5, "ringing on the stream")
        ringing = next(m for m in stream.messages if m["event"] == "ringing")
        assert ringing["data"]["from_number"] == caller and ringing["data"]["to_number"] == "122"
        assert ringing["at"] - call.invite_sent_at < 1.0, (ringing["at"], call.invite_sent_at)
        assert {m["data"]["to_number"] for m in stream.messages if m["event"] in ("ringing", "answered")} == {"122"}
        # and the agent's own events: its phone rang, then it was on the call
        states = [m["data"]["call_state"] for m in stream.messages if m["event"] == "state"]
        assert states[:2] == ["RINGING", "ONCALL"], stream.messages
    finally:
        stream.close()
    record, events = ended(api, hooks, call_id)
    assert (record["direction"], record["status"], record["from_number"], record["to_number"]) == (
        "inbound", "ANSWERED", caller, "122")
    assert (record["hotline"], record["ring_group"], record["hangup_by"]) == (HOTLINES["ringall"], "ringall", "customer")
    assert [leg["extension"] for leg in record["legs"]["agents"]] == ["121", "122", "123"]
    assert [bool(leg["time_answered"]) for leg in record["legs"]["agents"]] == [False, True, False]
    assert sorted(e["to_number"] for e in events if e["state"] == "ringing") == ["121", "122", "123"]
    assert [(e["state"], e["leg"], e["to_number"]) for e in events if e["state"] != "ringing"] == [
        ("answered", "agent", "122"), ("hangup", "customer", "122"), ("cdr", "", "122")]


def test_sequential_rings_in_order_skipping_paused_busy_and_unregistered_agents(ari, api, inbound_service, app,
                                                                                 hooks):
    # 124 paused, 125 busy (on a call), 126 not registered; 127 does not answer; 128 answers.
    assert api.post("/v1/agent/124/pause").json()["paused"] is True
    caller = unique_caller()
    try:
        with labkit.Phones({"124": ("uas_answer_audio", {"ring_ms": 100}, AGENT_HZ),
                            "125": ("uas_answer_audio", {"ring_ms": 100}, AGENT_HZ), "127": "uas_noanswer",
                            "128": ("uas_answer_audio", {"ring_ms": 500}, AGENT_HZ)}) as phones:
            busy = ari.post("/channels", params={"endpoint": "PJSIP/125", "app": TEST_APP, "timeout": 10,
                                                 "channelId": f"busy-{uuid.uuid4().hex[:8]}"}).json()["id"]
            try:
                wait_for(lambda: ari.get(f"/channels/{busy}").json().get("state") == "Up", 10, "125 on a call")
                with labkit.place_inbound(HOTLINES["sequential"], caller, audio_hz=CALLER_HZ) as call:
                    call.wait_status(200, 20)
                    call_id = call_of(hooks, caller)
                    call.hangup()
                    call.wait_ended(10)
            finally:
                ari.delete(f"/channels/{busy}")
            first, second = phones["127"].invites()[0], phones["128"].invites()[0]
            assert first["at"] < second["at"] and second["at"] - first["at"] >= 4.5, (first, second)
            assert phones["127"].requests("CANCEL"), "127 rang its 5 s and was stopped"
            assert not phones["124"].invites() and len(phones["125"].invites()) == 1, "paused and busy skipped"
    finally:
        api.post("/v1/agent/124/resume")
    record, events = ended(api, hooks, call_id)
    assert [leg["extension"] for leg in record["legs"]["agents"]] == ["127", "128"]
    assert record["to_number"] == "128" and record["status"] == "ANSWERED"


def test_longest_idle_rings_the_agent_idle_longest_first(api, inbound_service, hooks):
    with labkit.Phones({"129": ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                        "130": ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ)}):
        answered = []
        for _ in range(2):
            caller = unique_caller()
            with labkit.place_inbound(HOTLINES["longest_idle"], caller, audio_hz=CALLER_HZ) as call:
                call.wait_status(200, 15)
                call_id = call_of(hooks, caller)
                call.hangup()
                call.wait_ended(10)
            answered.append(ended(api, hooks, call_id)[0]["to_number"])
    # Neither had a call: the group's order picks 129; then 130, idle longer than 129 (whose call just ended).
    assert answered == ["129", "130"]


def test_a_sticky_caller_rings_its_last_agent_alone_first(api, inbound_service, hooks):
    caller = unique_caller()
    with labkit.Phones({"131": "uas_noanswer", "132": ("uas_answer_audio", {"ring_ms": 800}, AGENT_HZ)}) as phones:
        for attempt in range(2):
            with labkit.place_inbound(HOTLINES["sticky"], caller, audio_hz=CALLER_HZ) as call:
                call.wait_status(200, 15)
                call.hangup()
                call.wait_ended(10)
            wait_for(lambda: len([r for r in hooks.received("/hooks") if r["json"]["from_number"] == caller
                                  and r["json"]["state"] == "cdr"]) > attempt, 15, "the call's cdr")
        # The first call rang both (ringall); the second rang 132, its last agent, alone: 131 rang once only.
        assert len(phones["131"].invites()) == 1 and len(phones["132"].invites()) == 2


def test_nobody_answers_missed_and_no_answer(api, inbound_service, hooks):
    caller = unique_caller()
    with labkit.Phones({"133": "uas_noanswer", "134": "uas_noanswer"}) as phones, \
            labkit.place_inbound(HOTLINES["missed"], caller, audio_hz=CALLER_HZ) as call:
        call.wait_ended(15)
        assert call.final is not None and call.final >= 400 and not call.answered, call
        assert phones["133"].requests("CANCEL") and phones["134"].requests("CANCEL")
    call_id = call_of(hooks, caller)
    record, events = ended(api, hooks, call_id)
    assert (record["status"], record["to_number"], record["billsec"]) == ("NO_ANSWER", "", 0)
    missed = next(e for e in events if e["state"] == "missed")
    assert sorted(missed["rung"]) == ["133", "134"] and missed["waited"] >= 4 and missed["ring_group"] == "missed"
    assert [e["state"] for e in events][-3:] == ["hangup", "missed", "cdr"]


def test_continue_sends_an_unanswered_caller_into_the_dialplan(ari, api, inbound_service, app, hooks):
    caller = unique_caller()
    with labkit.Phones({"135": "uas_noanswer"}), \
            labkit.place_inbound(HOTLINES["continue"], caller, audio_hz=CALLER_HZ) as call:
        call.wait_status(200, 15)  # answered by the dialplan it continued to, not by an agent
        channel = inbound_channel(ari, caller)["id"]
        landed = ari.get(f"/channels/{channel}/variable", params={"variable": "C2C_LANDED"}).json()["value"]
        assert landed == "c2c-test-continue,s"
        to_caller = heard(ari, app, channel, 1.2, hz=CONTINUE_HZ)
        assert to_caller.dominant(TONES) == CONTINUE_HZ, to_caller
        call.hangup()
        call.wait_ended(10)
    record, events = ended(api, hooks, call_of(hooks, caller))
    assert record["status"] == "NO_ANSWER" and "missed" in [e["state"] for e in events]


def test_the_caller_hanging_up_while_agents_ring_cancels_the_call(ari, api, inbound_service, hooks):
    caller = unique_caller()
    with labkit.Phones({"136": "uas_noanswer"}) as phones, \
            labkit.place_inbound(HOTLINES["cancel"], caller, audio_hz=CALLER_HZ) as call:
        phones["136"].wait_invites(1, 10)
        call.hangup()  # CANCEL
        call.wait_ended(10)
        wait_for(lambda: phones["136"].requests("CANCEL"), 5, "the agent's leg stopped")
    record, events = ended(api, hooks, call_of(hooks, caller))
    assert (record["status"], record["hangup_by"]) == ("CANCELLED", "customer")
    assert "missed" in [e["state"] for e in events]


def test_a_tenant_sees_nothing_of_another_tenants_inbound_calls_and_agents(api, inbound_service, hooks):
    caller = unique_caller()
    acme_stream = Stream(inbound_service.base, ACME_TOKEN)
    beta_stream = Stream(inbound_service.base, BETA_TOKEN)
    try:
        with labkit.Phones({"137": ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                            "121": ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ), "122": "uas_noanswer",
                            "123": "uas_noanswer"}):
            beta = httpx.get(inbound_service.base + "/v1/monitor/agent",
                             headers={"Authorization": f"Bearer {BETA_TOKEN}"}).json()["data"]
            assert [a["extension"] for a in beta] == ["137"]  # acme's 121-123 are registered too: not listed
            with labkit.place_inbound(HOTLINES["ringall"], caller, audio_hz=CALLER_HZ) as call:
                call.wait_status(200, 15)
                call_id = call_of(hooks, caller)
                call.hangup()
                call.wait_ended(10)
        ended(api, hooks, call_id)
        wait_for(lambda: any(m["data"].get("call_id") == call_id and m["event"] == "cdr"
                             for m in acme_stream.messages), 5, "the call on acme's stream")
    finally:
        acme_stream.close()
        beta_stream.close()
    assert hooks.received("/acme", call_id), "acme's hook got its call's ringing"
    assert not hooks.received("/beta", call_id), "beta's hook got acme's call"
    assert not [m for m in beta_stream.messages if m["data"].get("call_id") == call_id
                or m["data"].get("extension") in ("121", "122", "123")], beta_stream.messages
    beta_cdr = httpx.get(f"{inbound_service.base}/v1/cdr/{call_id}", headers={"Authorization": f"Bearer {BETA_TOKEN}"})
    assert beta_cdr.status_code == 404


def test_nobody_to_ring_plays_the_prompt_then_hangs_up(ari, api, inbound_service, app, hooks):
    caller = unique_caller()  # the group's only agent, 136, is not registered: nobody can be rung
    with labkit.place_inbound(HOTLINES["prompt"], caller, audio_hz=CALLER_HZ) as call:
        call.wait_status(200, 10)  # answered for the prompt only
        prompt = heard(ari, app, inbound_channel(ari, caller)["id"], 0.6)
        assert prompt.rms >= AUDIBLE_RMS, f"the caller hears the prompt: {prompt}"
        call.wait_ended(20)  # the prompt is some 9 s long
        assert call.got_bye, "hung up by the service after the prompt"
    record, events = ended(api, hooks, call_of(hooks, caller))
    assert (record["status"], record["legs"].get("agents")) == ("NO_ANSWER", [])
    assert [e["state"] for e in events] == ["hangup", "missed", "cdr"]


def test_a_blind_transfer_moves_the_caller_to_another_extension(ari, api, inbound_service, app, hooks):
    """The caller's channel is the dialplan's: it stays in the call's bridge while the agent leaves and the target
    (2000 Hz) rings there, then talks with it."""
    caller, target_hz = unique_caller(), 2000
    with labkit.Phones({"136": ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                        "135": ("uas_answer_audio", {"ring_ms": 1000}, target_hz)}), \
            labkit.place_inbound(HOTLINES["cancel"], caller, audio_hz=CALLER_HZ) as call:
        call.wait_status(200, 15)
        call_id = call_of(hooks, caller)
        caller_channel, target = inbound_channel(ari, caller)["id"], f"{call_id}.transfer-1"
        r = api.post(f"/v1/call/{call_id}/transfer", json={"ext": "135", "legs": "bleg"})
        assert r.status_code == 200 and r.json()["ext"] == "135", r.text
        wait_for(lambda: ari.get(f"/channels/{target}").json().get("state") == "Up", 15, "the target answering")
        to_caller = heard(ari, app, caller_channel, 1.2, hz=target_hz)
        to_target = heard(ari, app, target, 1.2, hz=CALLER_HZ)
        assert to_caller.rms >= AUDIBLE_RMS and to_caller.dominant([*TONES, target_hz]) == target_hz, to_caller
        assert to_target.rms >= AUDIBLE_RMS and to_target.dominant([*TONES, target_hz]) == CALLER_HZ, to_target
        assert ari.get(f"/channels/{call_id}.agent-0").status_code == 404, "the agent's leg ended"
        call.hangup()
        assert call.wait_ended(10) == 0, call
    record, events = ended(api, hooks, call_id)
    assert (record["status"], record["extension"], record["transferred_to"]) == ("ANSWERED", "136", "135")
    assert [(e["status"], e["ext"]) for e in events if e["state"] == "transfer"] == [("started", "135"),
                                                                                    ("answered", "135")]
