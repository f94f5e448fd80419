"""What the agent hears while the customer's phone is being dialled, measured on real SIP and real audio.

The customer leg joins the agent's bridge before it is dialled, so whatever the carrier sends before the answer
(ringback, announcements: 183 early media) reaches the agent; a carrier that only says "180 Ringing" sends no
audio at all, and then the agent must hear a ring tone, never silence.

What Asterisk sends to the agent is captured with an ARI snoop on the agent channel (spy=out: the frames written
to the agent's phone) that is recorded to a wav and fetched through ARI (GET /recordings/stored/{name}/file).
The snoop channel lives in a Stasis app of this test (TEST_APP), whose websocket the `ari_events` fixture holds
open; it also subscribes to every event, so the test sees the customer leg's Dial / ChannelStateChange events.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import threading
import time
import uuid
import wave
from array import array

import pytest
from websockets.sync.client import connect

from lab import labkit

from .conftest import HOTLINE_C, HOTLINE_D
from .helpers import assert_cleaned_up, click, invite_to, unique_phone, wait_for

pytestmark = pytest.mark.lab

TEST_APP = "c2c-ringback-test"
RATE = 8000
FRAME = 1600  # 200 ms: 425 Hz (the ring tone of indications.conf) is exactly 85 periods, so the bin is clean
AUDIBLE_RMS = 100.0  # 16-bit samples; digital silence is 0, the ring tone ~1000, the carrier's speech ~1500-2800
RING_HZ = 425
CADENCE = 5.2  # seconds: one full on/off cycle of the ring tone, plus a margin


# ---- the audio ----


def rms(samples) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if len(samples) else 0.0


def tone_share(samples, hz: float = RING_HZ) -> float:
    """How much of the energy is one pure tone at hz (Goertzel): ~1.0 for a ring tone, low for speech."""
    n = len(samples)
    energy = sum(s * s for s in samples)
    if not n or not energy:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * power / (n * energy)


class Heard:
    """One capture of what the agent heard: samples, and 200 ms frames of (rms, tone_share)."""

    def __init__(self, samples: array, wall_seconds: float, rtp_sent: int | None = None) -> None:
        self.samples = samples
        self.wall_seconds = wall_seconds
        self.rtp_sent = rtp_sent  # RTP packets Asterisk sent to the phone meanwhile (ARI rtp_statistics txcount)
        self.frames = [(rms(f), tone_share(f)) for f in
                       (samples[i:i + FRAME] for i in range(0, len(samples) - FRAME + 1, FRAME))]

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE

    @property
    def rms(self) -> float:
        """Over the wall-clock time: when Asterisk writes nothing to the agent, nothing is recorded either."""
        total = max(len(self.samples), int(self.wall_seconds * RATE))
        return math.sqrt(sum(s * s for s in self.samples) / total) if total else 0.0

    @property
    def audible_frames(self) -> list[tuple[float, float]]:
        return [f for f in self.frames if f[0] >= AUDIBLE_RMS]

    def __repr__(self) -> str:
        frames = " ".join(f"{r:.0f}/{t:.2f}" for r, t in self.frames)
        return (f"<Heard {self.seconds:.2f}s recorded of {self.wall_seconds:.2f}s, {self.rtp_sent} RTP packets "
                f"sent, rms {self.rms:.0f}, "
                f"peak {max(map(abs, self.samples), default=0)}, 200ms frames rms/425Hz-share: {frames}>")


def listen(ari, events: "AriEvents", channel_id: str, seconds: float) -> Heard:
    """Record for `seconds` what Asterisk sends to the channel (snoop spy=out), via ARI."""
    snoop_id, name = f"rb-{uuid.uuid4().hex[:12]}", f"ringback-{uuid.uuid4().hex[:12]}"
    r = ari.post(f"/channels/{channel_id}/snoop", params={"spy": "out", "app": TEST_APP, "snoopId": snoop_id})
    assert r.status_code == 200, r.text
    try:
        # Recording before the snoop channel entered the app fails (409 "Channel not in Stasis application").
        events.wait(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == snoop_id, 5, "the snoop in Stasis")
        r = ari.post(f"/channels/{snoop_id}/record",
                     params={"name": name, "format": "wav", "ifExists": "overwrite", "beep": "false"})
        assert r.status_code == 201, r.text
        started, sent = time.monotonic(), rtp_txcount(ari, channel_id)
        time.sleep(seconds)
        ari.post(f"/recordings/live/{name}/stop")
        wall, sent = time.monotonic() - started, rtp_txcount(ari, channel_id) - sent
        r = wait_for(lambda: (x := ari.get(f"/recordings/stored/{name}/file")).status_code == 200 and x,
                     5, f"stored recording {name}")
        ari.delete(f"/recordings/stored/{name}")
    finally:
        ari.delete(f"/channels/{snoop_id}")
    with wave.open(io.BytesIO(r.content)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        samples = array("h", w.readframes(w.getnframes()))
    return Heard(samples, wall, sent)


def rtp_txcount(ari, channel_id: str) -> int:
    r = ari.get(f"/channels/{channel_id}/rtp_statistics")
    assert r.status_code == 200, r.text
    return r.json()["txcount"]


# ---- ARI events of the test's own app (with subscribeAll: everything Asterisk does) ----


class AriEvents:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                event = json.loads(message)
                event["_at"] = time.monotonic()
                with self.lock:
                    self.events.append(event)
        except Exception:
            pass

    def find(self, predicate) -> dict | None:
        with self.lock:
            return next((e for e in self.events if predicate(e)), None)

    def wait(self, predicate, timeout=10.0, what="event") -> dict:
        return wait_for(lambda: self.find(predicate), timeout, what)



@pytest.fixture(scope="module")
def recording_dir(lab):
    """ARI stores recordings in <astspooldir>/recording and fails (500, ENOENT) if it does not exist; our own
    astspooldir (asterisk.conf) has none, so make it inside the lab's chroot."""
    conf = (labkit.REPO / "asterisk-conf" / "asterisk.conf").read_text()
    spool = re.search(r"^astspooldir\s*=>\s*(\S+)", conf, re.M).group(1)
    root = os.path.join(os.environ.get("C2C_LAB_DIR", "/var/cache/click2call-lab"), "sid")
    path = os.path.join(root, spool.lstrip("/"), "recording")
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def ari_events(lab, recording_dir):
    url = lab["C2C_ARI_URL"].replace("http", "ws", 1) + f"/ari/events?app={TEST_APP}&subscribeAll=true"
    auth = base64.b64encode(f"{lab['C2C_ARI_USER']}:{lab['C2C_ARI_PASSWORD']}".encode()).decode()
    with connect(url, additional_headers={"Authorization": f"Basic {auth}"}, open_timeout=10) as ws:
        events = AriEvents(ws)
        yield events
    events.thread.join(5)


def customer_state(call_id: str, state: str):
    return lambda e: (e["type"] == "ChannelStateChange" and e["channel"]["id"] == f"{call_id}.customer"
                      and e["channel"]["state"] == state)


def customer_dial(call_id: str, status: str):
    return lambda e: (e["type"] == "Dial" and e.get("peer", {}).get("id") == f"{call_id}.customer"
                      and e.get("dialstatus") == status)


# ---- the tests ----


def test_agent_hears_a_ring_tone_when_the_carrier_only_sends_180(api, ari, ari_events, phones, carriers):
    """Carrier C: 180 Ringing without SDP (no audio from the carrier), answers after 9 s, then sends no RTP."""
    phone = unique_phone()
    r = click(api, "/v1/click2call/async", ext="108", phone=phone, hotline=HOTLINE_C)
    assert r.status_code == 200, r.text
    call_id = r.json()["call_id"]
    agent = f"{call_id}.agent"
    try:
        invite_to(carriers[HOTLINE_C], phone)
        ari_events.wait(customer_state(call_id, "Ringing"), 5, "the customer leg ringing")
        # A whole cadence (indications.conf: 1 s on, 4 s off), so the measurement does not depend on the phase.
        ringing = listen(ari, ari_events, agent, CADENCE)
        assert not ari_events.find(customer_state(call_id, "Up")), "the customer answered while we listened"
        print("\n180 only, before the answer:", ringing)
        assert ringing.rms >= AUDIBLE_RMS, f"the agent hears silence while the customer's phone rings: {ringing}"
        # It is a ring tone (indications.conf: 425 Hz), not noise: several 200 ms frames that are nearly pure 425 Hz.
        assert len([f for f in ringing.audible_frames if f[1] > 0.8]) >= 2, ringing
        assert ringing.rtp_sent >= 30, f"the tone does not reach the agent's phone as RTP: {ringing}"

        # Control: the same measurement once the customer answered. This carrier sends no RTP after its 200 OK,
        # so the agent must now hear nothing: the ring tone stopped, and the measurement does detect silence.
        # A whole cadence again: were the tone still on, its "on" phase would be in the window.
        ari_events.wait(customer_state(call_id, "Up"), 12, "the customer answering")
        time.sleep(0.3)
        answered = listen(ari, ari_events, agent, CADENCE)
        print("180 only, after the answer:", answered)
        assert answered.rms < 10 and not answered.audible_frames, f"the ring tone goes on after the answer: {answered}"
    finally:
        ari.delete(f"/channels/{agent}")
    assert_cleaned_up(ari, call_id)


def test_agent_hears_the_carriers_early_media_not_a_ring_tone(api, ari, ari_events, phones, carriers):
    """Carrier D: 183 Session Progress with SDP and speech as early-media RTP, answers after 4 s."""
    phone = unique_phone()
    r = click(api, "/v1/click2call/async", ext="109", phone=phone, hotline=HOTLINE_D)
    assert r.status_code == 200, r.text
    call_id = r.json()["call_id"]
    agent = f"{call_id}.agent"
    try:
        invite_to(carriers[HOTLINE_D], phone)
        ari_events.wait(customer_dial(call_id, "PROGRESS"), 5, "183 Session Progress on the customer leg")
        time.sleep(1.0)  # the first second of g711a.pcap is quiet
        early = listen(ari, ari_events, agent, 1.5)
        assert not ari_events.find(customer_state(call_id, "Up")), "the customer answered while we listened"
        print("\n183 early media, before the answer:", early)
        assert early.rms >= AUDIBLE_RMS, f"the agent does not hear the carrier's early media: {early}"
        assert early.rtp_sent >= 30, f"the early media does not reach the agent's phone as RTP: {early}"
        # The carrier's speech, not a ring tone generated over it (or instead of it).
        audible = early.audible_frames
        assert len(audible) >= 5, early
        assert sum(share for _, share in audible) / len(audible) < 0.3, f"a 425 Hz tone masks the early media: {early}"
    finally:
        ari.delete(f"/channels/{agent}")
    assert_cleaned_up(ari, call_id)


def test_the_measurement_sees_silence_on_a_silent_channel(ari, ari_events, phones):
    """The detector cannot pass vacuously: an answered channel in our own app, to which nothing is played."""
    channel_id = f"rb-silent-{uuid.uuid4().hex[:8]}"
    r = ari.post("/channels", params={"endpoint": "PJSIP/110", "app": TEST_APP, "channelId": channel_id,
                                      "timeout": 10})
    assert r.status_code == 200, r.text
    try:
        ari_events.wait(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == channel_id, 5,
                        "the channel answered")
        silent = listen(ari, ari_events, channel_id, 1.0)
        print("\nsilent channel:", silent)
        assert silent.rms == 0 and not silent.audible_frames
        # ... and the same channel with a ring tone played to it (POST /ring) is heard as one.
        assert ari.post(f"/channels/{channel_id}/ring").status_code == 204
        tone = listen(ari, ari_events, channel_id, 0.8)
        print("ring tone played:", tone)
        assert tone.rms >= AUDIBLE_RMS and len([f for f in tone.audible_frames if f[1] > 0.8]) >= 2, tone
    finally:
        ari.delete(f"/channels/{channel_id}")
