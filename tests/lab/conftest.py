"""The lab: a real Asterisk 22 (lab/lab.sh), sipp phones and carriers, and `click2call serve` as a process.

Extensions and what their phone does (each group registered to its own sipp UAS):
  101-110, 115-117 answer after 0.3 s    111 busy (486)    112 answers after 2.5 s
  113 never answers                 114 declines (603)     119 never registered
Hotlines: 02873000001 -> trunk-a -> carrier on 5070 that answers and stays up;
          02873000002 -> trunk-b -> carrier on 5071 that answers and hangs up after 1.5 s;
          02873000003 -> trunk-c -> carrier on 5072 that rings (180, no SDP) for 9 s, then answers;
          02873000004 -> trunk-d -> carrier on 5073 that sends 183 + early-media RTP (sipp's g711a.pcap)
                                    for 4 s, then answers;
          02873000005 -> trunk-e -> carrier on 5074 whose customer is busy (486);
          02873000006 -> trunk-f -> no carrier of the session's: a test's own on 5080, e.g. `talking_customer`
                                    (customers who answer and talk, what they receive captured: DTMF, audio).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from lab import labkit

from .helpers import HOTLINE_TALKING, SECRET_KEY  # noqa: F401 (HOTLINE_TALKING: the tests import it from here)

TOKEN = "lab-test-token"
HOTLINE_A, HOTLINE_B = "02873000001", "02873000002"
HOTLINE_C, HOTLINE_D = "02873000003", "02873000004"
HOTLINE_BUSY = "02873000005"
EARLY_MEDIA_PCAP = "/usr/share/sip-tester/g711a.pcap"  # 7 s of speech, PCMA (payload type 8), from sip-tester
API_PORT = 18080

PHONES = {  # port: (scenario, sipp variables, extensions)
    5081: ("uas_answer", {"ring_ms": 300}, [str(e) for e in range(101, 111)] + ["115", "116", "117"]),
    5082: ("uas_decline", {"code": 486}, ["111"]),
    5083: ("uas_answer", {"ring_ms": 2500}, ["112"]),
    5084: ("uas_noanswer", {}, ["113"]),
    5085: ("uas_decline", {"code": 603}, ["114"]),
}


@pytest.fixture(scope="session")
def lab():
    env = labkit.start()
    yield env
    labkit.stop()


def register_phones() -> None:
    """(Re-)register every lab extension to its phone (registrations die with an Asterisk restart)."""
    for port, (_, _, exts) in PHONES.items():
        labkit.register(exts, port)


@pytest.fixture(scope="session")
def phones(lab):
    procs = {}
    try:
        for port, (scenario, variables, exts) in PHONES.items():
            procs[port] = labkit.Sipp(scenario, port, vars=variables).start()
            labkit.register(exts, port)
        yield {ext: procs[port] for port, (_, _, exts) in PHONES.items() for ext in exts}
    finally:
        for proc in procs.values():
            proc.stop()


def early_media_rtp_scenario(directory) -> str:
    """lab/sipp/uas_early_media.xml sends a 183 with SDP but no RTP: this copy also plays a pcap as early
    media right after the 183 (sipp sends it in the background while the scenario goes on), in PCMA to match."""
    text = (labkit.SIPP_DIR / "uas_early_media.xml").read_text(encoding="iso-8859-1")
    pcmu = "m=audio [media_port] RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000\n"
    pcma = "m=audio [media_port] RTP/AVP 8 101\n      a=rtpmap:8 PCMA/8000\n"
    play = f'<nop><action><exec play_pcap_audio="{EARLY_MEDIA_PCAP}" /></action></nop>\n  <pause variable="early" />'
    assert text.count(pcmu) == 2 and text.count('<pause variable="early" />') == 1, "uas_early_media.xml changed"
    path = directory / "uas_early_media_rtp.xml"
    path.write_text(text.replace(pcmu, pcma).replace('<pause variable="early" />', play), encoding="iso-8859-1")
    return str(path)


@pytest.fixture(scope="session")
def carriers(lab, tmp_path_factory):
    a = labkit.Sipp("uas_answer", 5070, vars={"ring_ms": 300}).start()
    b = labkit.Sipp("uas_answer_then_bye", 5071, vars={"ring_ms": 300, "hold_ms": 1500}).start()
    c = labkit.Sipp("uas_answer", 5072, vars={"ring_ms": 9000}).start()
    d = labkit.Sipp(early_media_rtp_scenario(tmp_path_factory.mktemp("sipp")), 5073, vars={"early_ms": 4000}).start()
    e = labkit.Sipp("uas_decline", 5074, vars={"code": 486}).start()
    carriers = {HOTLINE_A: a, HOTLINE_B: b, HOTLINE_C: c, HOTLINE_D: d, HOTLINE_BUSY: e}
    yield carriers
    for carrier in carriers.values():
        carrier.stop()


@pytest.fixture
def talking_customer(lab):
    """The carrier of trunk-f (hotline HOTLINE_TALKING, 02873000006) for this test alone: whoever it dials answers
    after 0.3 s and says 1000 Hz until the BYE; what they receive is captured (labkit.TalkingCarrier). A call
    connected by the service, both sides talking:

        with labkit.Phones({"121": ("uas_answer_audio", {"ring_ms": 300}, 1500)}):      # the agent says 1500 Hz
            r = api.get("/v1/click2call", params={"ext": "121", "phone": phone, "hotline": HOTLINE_TALKING})
            talking_customer.wait_answered(phone)
            call_id = r.json()["call_id"]          # channels f"{call_id}.agent" and f"{call_id}.customer"
            talking_customer.received_digits(phone)               # after POST /channels/{customer}/dtmf

    Another tone: labkit.TalkingCarrier(audio_hz=...) in the test instead (one at a time: it holds port 5080)."""
    with labkit.TalkingCarrier(audio_hz=1000, ring_ms=300) as carrier:
        yield carrier


def service_env(lab: dict, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_")}
    env.update({k: v for k, v in lab.items() if k.startswith("C2C_")})
    env.update({
        "C2C_API_TOKENS": f"other-token,{TOKEN}",
        "C2C_HOTLINES": f"{HOTLINE_A}=trunk-a,{HOTLINE_B}=trunk-b,{HOTLINE_C}=trunk-c,{HOTLINE_D}=trunk-d,"
                        f"{HOTLINE_BUSY}=trunk-e,{HOTLINE_TALKING}={labkit.TALKING_TRUNK}",
        "C2C_LISTEN": f"127.0.0.1:{API_PORT}",
        "C2C_RING_TIMEOUT": "3",
        "C2C_DIAL_TIMEOUT": "10",
        "C2C_PARK_TIMEOUT": "4",
        # The tests' receivers listen on 127.0.0.1: hooks made through the API may reach it (only loopback is ever
        # given to a service under test); their secrets are stored encrypted with this key.
        "C2C_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "C2C_SECRET_KEY": SECRET_KEY,
    })
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """A service started by a test run that gets killed must not outlive it (it would hold the port)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# Set once the lab is found broken (Asterisk no longer takes ARI clients): the test that found it fails with the
# diagnosis, and every later lab test is skipped, saying so, instead of failing the same way after its own wait.
BROKEN: dict[str, str] = {}


def check_lab(apps=(), test: str | None = None) -> str:
    """What the lab says after a failure; marks the lab broken when Asterisk does not take ARI clients."""
    healthy, report = labkit.diagnose(apps=apps)
    if not healthy and not BROKEN:
        BROKEN["test"] = test or os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
        BROKEN["why"] = "; ".join(line for line in report.splitlines() if "FAILED" in line or "NOT RUNNING" in line
                                  ) or report.splitlines()[0]
    return f"\n--- the lab: {'healthy' if healthy else 'BROKEN'} ---\n{report}"


def pytest_runtest_setup(item):
    if BROKEN:
        pytest.skip(f"the lab broke in {BROKEN['test']} ({BROKEN['why']}; that failure has the diagnosis)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and not BROKEN:
        text = check_lab(test=item.nodeid)  # a few ms when the lab is healthy
        if BROKEN:
            report.sections.append(("the lab", text))
    return report


class Service:
    """`click2call serve` as a real process."""

    def __init__(self, env: dict, log_path: str) -> None:
        self.env = env
        self.log_path = log_path
        self.base = "http://" + env["C2C_LISTEN"]
        self.proc: subprocess.Popen | None = None

    def start(self, ready: bool = True) -> "Service":
        """Start and wait for /readyz (ARI connected), or only /healthz when ready is False. A service that does
        not get there is stopped before this raises: nothing is left running that nobody will stop."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"click2call (pid {self.proc.pid}) is still running; stop it first")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "click2call", "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"click2call exited {self.proc.returncode}:\n{self.log()}")
            try:
                probe = "/readyz" if ready else "/healthz"
                if httpx.get(self.base + probe, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        # Stopped first, so probing its app name takes nothing from it.
        lab = check_lab([self.env["C2C_ARI_APP"]]) if ready and "C2C_ARI_APP" in self.env else ""
        raise RuntimeError(f"click2call not ready in 20 s:\n{self.log()}{lab}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()[-5000:]


@pytest.fixture(scope="session")
def service(lab, phones, carriers, tmp_path_factory):
    work = tmp_path_factory.mktemp("service")
    svc = Service(service_env(lab, C2C_DATABASE_URL=f"sqlite:///{work}/calls.db", C2C_RECORDINGS_DIR=str(work / "rec"),
                              LAB_SERVICE_SCOPE="session"), str(work / "click2call.log")).start()
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def api(service):
    with httpx.Client(base_url=f"http://127.0.0.1:{API_PORT}", headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def pg_api(lab, phones, carriers, postgres, tmp_path_factory):
    """A twin of the session's service that keeps its records in a real PostgreSQL (own app name and port)."""
    work = tmp_path_factory.mktemp("pg-service")
    env = service_env(lab, C2C_ARI_APP="click2call-pg", C2C_LISTEN=f"127.0.0.1:{free_port()}",
                      C2C_DATABASE_URL=postgres.new_database(), C2C_RECORDINGS_DIR=str(work / "rec"),
                      LAB_SERVICE_SCOPE="session")
    svc = Service(env, str(work / "click2call.log")).start()
    try:
        with httpx.Client(base_url=svc.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            yield client
    finally:
        svc.stop()


_own_apps = itertools.count(1)


@pytest.fixture
def own_service(lab, phones, carriers, tmp_path, database_url):
    """Start services of a test's own: another port and database (SQLite, then PostgreSQL) than the session's, with
    extra environment, and an ARI app name of their own. All are stopped after the test.

    A new app name for every service: under a shared one, a service took over what the previous test's service
    left in Asterisk under it: the app with its subscriptions to leftover channels and bridges, and a websocket
    session perhaps still being torn down, which Asterisk sends ApplicationReplaced (synchronously, before it
    answers the new upgrade) and whose teardown can leave the name just registered inactive (res_stasis
    app_update). A service restarted within its test keeps its name, as a real restart does."""
    started = []

    def start(ready: bool = True, **extra: str) -> Service:
        """ready=False: wait for /healthz only (a service that is not to reach Asterisk)."""
        env = service_env(lab, C2C_ARI_APP=f"click2call-own-{next(_own_apps)}",
                          C2C_LISTEN=f"127.0.0.1:{free_port()}", C2C_DATABASE_URL=database_url,
                          C2C_RECORDINGS_DIR=str(tmp_path / "recordings"), **extra)
        started.append(Service(env, str(tmp_path / f"svc{len(started)}.log")))
        return started[-1].start(ready)

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture
def receiver():
    """A real HTTP receiver for webhooks (tests/receiver.py)."""
    from tests.receiver import Receiver

    r = Receiver(free_port()).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def ari(lab):
    with httpx.Client(base_url=lab["C2C_ARI_URL"] + "/ari", auth=(lab["C2C_ARI_USER"], lab["C2C_ARI_PASSWORD"]),
                      timeout=10) as client:
        yield client
