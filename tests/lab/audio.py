"""What a party of a call hears, measured on the real Asterisk: capture through ARI, tone analysis (Goertzel).

How to use (tests/lab/test_inbound_kit.py is a complete example; lab/README.md "Inbound calls" has the setup):

    with AriApp(lab, "c2c-my-test") as app:                   # a Stasis app of the test's own: snoops live there
        with labkit.Phones({"121": ("uas_answer_audio", {"ring_ms": 300}, 600)}) as phones:  # agent says 600 Hz
            call = labkit.place_inbound("02873000001", "0909123456", audio_hz=1000)       # customer says 1000 Hz
            ...                                                # the service rings 121 and bridges the call
            caller_channel_id = inbound_channel(ari, "0909123456")["id"]   # tests/lab/helpers.py
            agent_channel_id = f"{call_id}.agent-121"          # the service's channel of that agent
            call.wait_status(200)
            caller = heard(ari, app, caller_channel_id, 1.0)   # what Asterisk sends to the carrier
            agent = heard(ari, app, agent_channel_id, 1.0)     # what it sends to the agent's phone
            assert caller.dominant([1000, 600, 425]) == 600 and agent.dominant([1000, 600, 425]) == 1000
            assert caller.share(600) > 0.8                    # the agent's tone and little else
            call.hangup(); call.stop()

heard(ari, app, channel_id, seconds) records, for `seconds`, what Asterisk WRITES to a channel (an ARI snoop with
spy=out, recorded to a wav, fetched with GET /recordings/stored/{name}/file): for a PJSIP channel that is what
its phone / carrier receives as RTP. spy="in" records what the channel sends instead. The snoop channel enters the
test's own app (AriApp: its websocket must be open), never the service's, so the service sees nothing of it.
A channel that Asterisk writes nothing to (not answered, no early media) is recorded as nothing: Heard.rms counts
the wall-clock time, so silence and absence both measure 0.

heard_rtp(capture, seconds, source=port) measures the same from the RTP a sipp party really received (a
labkit.RtpCapture of its media port, e.g. TalkingCarrier.rtp or RtpCapture(phones["121"].media_port)): no snoop.

Heard: samples (16-bit, 8 kHz), rms, share(hz) (how much of the energy is that pure tone: ~1 for the tone alone),
dominant(candidates), frames (200 ms: rms and share of `hz`), audible_frames, music(tones) (music on hold: audible
most of the time, none of the tones in it). tone_share / dominant / rms work on plain sample sequences too.
"""

from __future__ import annotations

import base64
import contextlib
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
from typing import Iterable, Sequence

from websockets.sync.client import connect

from lab import labkit

from .helpers import wait_for

RATE = 8000
FRAME = 1600  # 200 ms: 425 Hz (the ring tone of indications.conf) is exactly 85 periods, so its bin is clean
AUDIBLE_RMS = 100.0  # 16-bit samples; digital silence is 0, the ring tone ~1000, a labkit tone ~5600
RING_HZ = 425


# ---- the analysis ----


def rms(samples: Sequence[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if len(samples) else 0.0


def tone_share(samples: Sequence[int], hz: float = RING_HZ) -> float:
    """How much of the energy is one pure tone at hz (Goertzel): ~1.0 for that tone alone, low for speech, other
    tones or silence. Exact for a whole number of periods; within a few % otherwise for captures of 0.2 s or
    more (the bin is 1/duration wide, so tones closer than that are not told apart)."""
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


def dominant(samples: Sequence[int], candidates: Iterable[float], min_share: float = 0.5) -> float | None:
    """Which of the candidate tones the audio mostly is; None for silence or when none has min_share."""
    if rms(samples) < AUDIBLE_RMS:
        return None
    share, hz = max((tone_share(samples, hz), hz) for hz in candidates)
    return hz if share >= min_share else None


class Heard:
    """One capture: samples, and 200 ms frames of (rms, share of `hz`)."""

    def __init__(self, samples: array, wall_seconds: float, rtp_sent: int | None = None, hz: float = RING_HZ,
                 channel_id: str = "") -> None:
        self.samples = samples
        self.wall_seconds = wall_seconds
        self.rtp_sent = rtp_sent  # RTP packets Asterisk sent to the channel meanwhile (ARI rtp_statistics txcount)
        self.hz = hz
        self.channel_id = channel_id
        self.frames = [(rms(f), tone_share(f, hz)) for f in
                       (samples[i:i + FRAME] for i in range(0, len(samples) - FRAME + 1, FRAME))]

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE

    @property
    def rms(self) -> float:
        """Over the wall-clock time: when Asterisk writes nothing to the channel, nothing is recorded either."""
        total = max(len(self.samples), int(self.wall_seconds * RATE))
        return math.sqrt(sum(s * s for s in self.samples) / total) if total else 0.0

    @property
    def audible_frames(self) -> list[tuple[float, float]]:
        return [f for f in self.frames if f[0] >= AUDIBLE_RMS]

    def share(self, hz: float) -> float:
        return tone_share(self.samples, hz)

    def dominant(self, candidates: Iterable[float], min_share: float = 0.5) -> float | None:
        return dominant(self.samples, candidates, min_share) if self.rms >= AUDIBLE_RMS else None

    def music(self, tones: Iterable[float], max_share: float = 0.2) -> bool:
        """Sounds like music on hold (asterisk-conf/musiconhold.conf: real music): audible over the capture and in
        most of its 200 ms frames, and none of the parties' pure tones makes up max_share of it."""
        return (self.rms >= AUDIBLE_RMS and len(self.audible_frames) * 2 > len(self.frames)
                and all(self.share(hz) < max_share for hz in tones))

    def shares(self, candidates: Iterable[float]) -> dict[float, float]:
        return {hz: round(self.share(hz), 3) for hz in candidates}

    def __repr__(self) -> str:
        frames = " ".join(f"{r:.0f}/{t:.2f}" for r, t in self.frames)
        return (f"<Heard {self.channel_id} {self.seconds:.2f}s recorded of {self.wall_seconds:.2f}s, "
                f"{self.rtp_sent} RTP packets sent, rms {self.rms:.0f}, peak {max(map(abs, self.samples), default=0)}, "
                f"200ms frames rms/{self.hz:g}Hz-share: {frames}>")


# ---- the capture ----


def _wav_samples(response) -> list[array] | None:
    """[the samples] of a stored recording (none at all for a silent one), once Asterisk has written it whole;
    None: not yet."""
    if response.status_code != 200:
        return None
    try:
        with wave.open(io.BytesIO(response.content)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
            return [array("h", w.readframes(w.getnframes()))]
    except (wave.Error, EOFError):
        return None


def heard(ari, app: "AriApp | str", channel_id: str, seconds: float, *, spy: str = "out",
          hz: float = RING_HZ) -> Heard:
    """Record for `seconds` what Asterisk sends to the channel (spy="out": what its phone or carrier hears) or
    what the channel sends (spy="in"), via an ARI snoop in the test's own Stasis app `app` (its websocket open)."""
    app_name = app if isinstance(app, str) else app.name
    snoop_id, name = f"snoop-{uuid.uuid4().hex[:12]}", f"heard-{uuid.uuid4().hex[:12]}"
    r = ari.post(f"/channels/{channel_id}/snoop", params={"spy": spy, "app": app_name, "snoopId": snoop_id})
    assert r.status_code == 200, f"snoop on {channel_id}: {r.status_code} {r.text}"
    try:
        # Recording before the snoop channel entered the app fails (409 "Channel not in Stasis application").
        def record():
            r = ari.post(f"/channels/{snoop_id}/record",
                         params={"name": name, "format": "wav", "ifExists": "overwrite", "beep": "false"})
            assert r.status_code in (201, 409), f"record the snoop of {channel_id}: {r.status_code} {r.text}"
            return r.status_code == 201
        wait_for(record, 10, f"the snoop of {channel_id} in Stasis app {app_name}")
        started, sent = time.monotonic(), rtp_txcount(ari, channel_id)
        time.sleep(seconds)
        ari.post(f"/recordings/live/{name}/stop")
        wall, after = time.monotonic() - started, rtp_txcount(ari, channel_id)
        # The stop is asynchronous: a file fetched while Asterisk still closes it can lack its WAVE header.
        [samples] = wait_for(lambda: _wav_samples(ari.get(f"/recordings/stored/{name}/file")), 10,
                             f"stored recording {name}")
        ari.delete(f"/recordings/stored/{name}")
    finally:
        ari.delete(f"/channels/{snoop_id}")
    return Heard(samples, wall, None if sent is None or after is None else after - sent, hz, channel_id)


def heard_rtp(capture: "labkit.RtpCapture", seconds: float, *, source: int | None = None,
              hz: float = RING_HZ) -> Heard:
    """What a sipp party receives as RTP over the next `seconds` (its RtpCapture, running; source: only the packets
    from that port, e.g. TalkingCarrier.media_source(number) for one call), PCMU decoded. Heard.rtp_sent is the
    number of audio packets that arrived."""
    since = time.time()
    time.sleep(seconds)
    until = time.time()
    audio = [p for p in capture.packets(since, until, source) if p.payload_type == 0]
    return Heard(capture.samples(since, until, source), until - since, len(audio), hz, f"rtp->{capture.port}")


def rtp_txcount(ari, channel_id: str) -> int | None:
    """RTP packets Asterisk sent on the channel so far; None for a channel without RTP (not PJSIP, no media)."""
    r = ari.get(f"/channels/{channel_id}/rtp_statistics")
    return r.json()["txcount"] if r.status_code == 200 else None


def recording_dir(lab: dict) -> str:
    """ARI stores recordings in <astspooldir>/recording and fails (500, ENOENT) if it does not exist; our own
    astspooldir (asterisk.conf) has none, so make it inside the lab's chroot (a named node has its own spool)."""
    conf = (labkit.REPO / "asterisk-conf" / "asterisk.conf").read_text()
    spool = re.search(r"^astspooldir\s*=>\s*(\S+)", conf, re.M).group(1)
    if lab.get("LAB_NODE"):
        spool += f"-{lab['LAB_NODE']}"
    root = os.path.join(os.environ.get("C2C_LAB_DIR", "/var/cache/click2call-lab"), "sid")
    path = os.path.join(root, spool.lstrip("/"), "recording")
    os.makedirs(path, exist_ok=True)
    return path


# ---- a Stasis app of the test's own ----


class AriApp:
    """The ARI event websocket of a Stasis app of the test (with subscribeAll: every event Asterisk has), read in
    a thread: find(predicate), wait(predicate, timeout, what), and the `name` to give ARI (snoops, originates,
    the dialplan's C2C_INBOUND_APP: helpers.route_inbound). Also makes the recording directory heard() needs."""

    def __init__(self, lab: dict, name: str, subscribe_all: bool = True) -> None:
        self.lab, self.name, self.subscribe_all = lab, name, subscribe_all
        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.ws = None
        self.thread: threading.Thread | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "AriApp":
        recording_dir(self.lab)
        url = (self.lab["C2C_ARI_URL"].replace("http", "ws", 1)
               + f"/ari/events?app={self.name}&subscribeAll={'true' if self.subscribe_all else 'false'}")
        auth = base64.b64encode(f"{self.lab['C2C_ARI_USER']}:{self.lab['C2C_ARI_PASSWORD']}".encode()).decode()
        self.ws = self._stack.enter_context(
            connect(url, additional_headers={"Authorization": f"Basic {auth}"}, open_timeout=10))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()  # closes the websocket: the reader thread ends
        if self.thread is not None:
            self.thread.join(5)

    def _read(self) -> None:
        try:
            for message in self.ws:
                event = json.loads(message)
                event["_at"], event["_wall"] = time.monotonic(), time.time()  # received: monotonic, epoch
                with self.lock:
                    self.events.append(event)
        except Exception:
            pass

    def find(self, predicate) -> dict | None:
        with self.lock:
            return next((e for e in self.events if predicate(e)), None)

    def find_all(self, predicate) -> list[dict]:
        with self.lock:
            return [e for e in self.events if predicate(e)]

    def wait(self, predicate, timeout=10.0, what="event") -> dict:
        return wait_for(lambda: self.find(predicate), timeout, what)

    def stasis_start(self, channel_id: str | None = None, timeout: float = 10.0, **match) -> dict:
        """Wait for a StasisStart in this app, of channel_id or of any channel whose fields match (e.g.
        dialplan={"exten": "02873000001"} is matched against the channel's dialplan fields)."""
        def ok(e):
            if e["type"] != "StasisStart" or e.get("application") != self.name:
                return False
            channel = e["channel"]
            if channel_id is not None and channel["id"] != channel_id:
                return False
            return all(channel.get(k) == v if not isinstance(v, dict)
                       else all(channel.get(k, {}).get(kk) == vv for kk, vv in v.items())
                       for k, v in match.items())
        return self.wait(ok, timeout, f"StasisStart in {self.name} of {channel_id or match}")
