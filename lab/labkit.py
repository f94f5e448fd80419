"""Helpers for tests that run against the click2call lab (lab/lab.sh).

The lab is a real Asterisk 22 (in a Debian sid chroot) plus sipp processes
that play agent phones and carriers, all on 127.0.0.1.  Typical use::

    env = labkit.start()                      # lab/lab.sh start, returns lab.env
    with labkit.Sipp("uas_answer", 5081) as phone, \
         labkit.Sipp("uas_answer", 5070) as carrier:
        labkit.register(["101"], 5081)        # 101 -> sip:101@127.0.0.1:5081
        ...                                   # drive click2call / ARI
        inv = carrier.wait_invites(1)[0]
        assert inv["request_uri"] == "sip:0899098899@127.0.0.1:5070"
    labkit.unregister(["101"], 5081)

Several Asterisk nodes from the one chroot (lab.sh's LAB_NODE), phones registered to a chosen node, and
HAProxy in front of several replicas of the service::

    envs = labkit.start_nodes({"a": {"ari_port": 8088, "sip_port": 5060},
                               "b": {"ari_port": 8089, "sip_port": 5061}})
    labkit.register(["101"], 5081, node="a")  # 101 is on node a, reached through 127.0.0.1:5060
    labkit.crash("b"); labkit.restart("b"); labkit.stop("a")
    with labkit.HAProxy({"r1": 18081, "r2": 18082}, 18080) as lb: ...

Only the standard library is used (the tests bring httpx themselves).
Everything needs root (chroot/mount) for start/stop/cli; Sipp and register
do not.
"""
from __future__ import annotations

import array
import atexit
import base64
import collections
import datetime
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

REPO = Path(__file__).resolve().parents[1]
LAB_SH = REPO / "lab" / "lab.sh"
SIPP_DIR = REPO / "lab" / "sipp"
HOST = "127.0.0.1"
ARI_APP = "click2call"


class LabError(RuntimeError):
    """The lab (Asterisk, lab.sh or a sipp process) did not do what was asked."""


def run_dir() -> Path:
    return Path(os.environ.get("C2C_LAB_RUN", "/tmp/click2call-lab"))


# --------------------------------------------------------------------------
# Asterisk (lab/lab.sh)
# --------------------------------------------------------------------------

def _lab_sh(*args: str, timeout: float = 900, env: Mapping[str, str] | None = None) -> str:
    # Its own process group, so a timeout ends the whole of it (an `asterisk -rx` waiting on a stuck Asterisk too).
    # LAB_PYTHON: this interpreter makes the lab's TLS certificate (lab/certs.py needs `cryptography`).
    with subprocess.Popen(["bash", str(LAB_SH), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True,
                          env={"LAB_PYTHON": sys.executable, **os.environ, **(env or {})}) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            raise LabError(f"lab.sh {' '.join(args)} timed out after {timeout}s:\n{out or ''}") from None
    if proc.returncode != 0:
        raise LabError(f"lab.sh {' '.join(args)} failed (exit {proc.returncode}):\n{out}")
    return out


def node_run_dir(node: str | None = None) -> Path:
    """Where a node keeps its lab.env, pid and log: the run dir for the default node, run_dir()/node-NAME else."""
    return run_dir() if node is None else run_dir() / f"node-{node}"


def _node_sh_env(node: str | None, **settings: object) -> dict[str, str] | None:
    """lab.sh's environment for a named node (None: the default node, lab.sh's own defaults)."""
    if node is None:
        return None
    env = {"LAB_NODE": node, "C2C_LAB_RUN": str(node_run_dir(node))}
    env.update({k: str(v) for k, v in settings.items() if v is not None})
    return env


def read_env(path: str | os.PathLike | None = None, node: str | None = None) -> dict[str, str]:
    """Parse $C2C_LAB_RUN/lab.env (KEY=VALUE lines), or a named node's, into a dict."""
    p = Path(path) if path else node_run_dir(node) / "lab.env"
    if not p.exists():
        raise LabError(f"{p} not found - is the lab started (lab/lab.sh start)?")
    env: dict[str, str] = {}
    for line in p.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def start(node: str | None = None, *, ari_port: int | None = None, sip_port: int | None = None,
          rtp: tuple[int, int] | None = None, entity_id: str | None = None) -> dict[str, str]:
    """(Re)start Asterisk with fresh random passwords; returns the lab.env dict.

    Keys: C2C_ARI_URL (base URL, e.g. http://127.0.0.1:8088 - append /ari/...),
    C2C_ARI_USER, C2C_ARI_PASSWORD, C2C_ARI_APP, LAB_PHONE_PASSWORD,
    LAB_SIP_PORT, LAB_ARI_PORT, LAB_TRUNK_A_PORT, LAB_TRUNK_B_PORT; ARI over TLS: LAB_ARI_TLS_URL
    (https://127.0.0.1:9088), LAB_ARI_TLS_PORT and LAB_ARI_CA_FILE (the lab's own CA, PEM).
    Provisions the chroot first if needed (slow only the first time).

    node: a named node of a multi-node lab (lab.sh's LAB_NODE), run from node_run_dir(node), on its own
    ari_port and sip_port (required), RTP range rtp=(first, last) and entity_id (lab.sh picks both if not
    given); its lab.env also has C2C_NODE_NAME, LAB_NODE, LAB_ENTITY_ID, LAB_RTP_START and LAB_RTP_END.
    """
    if node is None:
        _lab_sh("start")
        return read_env()
    if ari_port is None or sip_port is None:
        raise LabError(f"node {node}: give its ari_port and sip_port (every node needs its own)")
    _lab_sh("start", env=_node_sh_env(node, LAB_ARI_PORT=ari_port, LAB_SIP_PORT=sip_port,
                                      LAB_RTP_START=rtp[0] if rtp else None, LAB_RTP_END=rtp[1] if rtp else None,
                                      LAB_ENTITY_ID=entity_id))
    return read_env(node=node)


def start_nodes(nodes: Mapping[str, Mapping[str, object]]) -> dict[str, dict[str, str]]:
    """Start several named nodes at once, e.g. {"a": {"ari_port": 8088, "sip_port": 5060}, "b": {...}}
    (keyword arguments of start()); returns each node's lab.env."""
    _lab_sh("provision")  # once, not racing in every node's start
    with ThreadPoolExecutor(len(nodes) or 1) as pool:
        futures = {name: pool.submit(start, name, **kw) for name, kw in nodes.items()}
        return {name: f.result() for name, f in futures.items()}


def restart(node: str | None = None) -> dict[str, str]:
    """Restart Asterisk keeping its passwords (a PBX crash-and-recover that clients survive).
    Registrations are lost, as on a real restart. A named node comes back on the ports, RTP range and
    entity id of its lab.env."""
    if node is None:
        _lab_sh("restart")
        return read_env()
    env = read_env(node=node)
    _lab_sh("restart", env=_node_sh_env(node, **{k: env[k] for k in (
        "LAB_ARI_PORT", "LAB_SIP_PORT", "LAB_RTP_START", "LAB_RTP_END", "LAB_ENTITY_ID",
        "LAB_TRUNK_A_PORT", "LAB_TRUNK_B_PORT")}))
    return read_env(node=node)


def stop(node: str | None = None) -> None:
    _lab_sh("stop", timeout=60, env=_node_sh_env(node))


def crash(node: str | None = None) -> None:
    """SIGKILL Asterisk: no hangups, no goodbye on the ARI websocket - the connection just dies."""
    pid = int((node_run_dir(node) / "asterisk.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def cli(cmd: str, node: str | None = None) -> str:
    """Run one Asterisk CLI command (e.g. 'core show channels') and return its output."""
    return _lab_sh("cli", cmd, timeout=30, env=_node_sh_env(node))


# --------------------------------------------------------------------------
# health: does Asterisk's HTTP server still take ARI clients?
# --------------------------------------------------------------------------

PROBE_APP = "c2c-lab-probe"


def ari_ping(env: Mapping[str, str], timeout: float = 5.0) -> str:
    """GET /ari/asterisk/ping over plain HTTP; returns e.g. "200 in 0.004 s". Raises LabError."""
    request = urllib.request.Request(env["C2C_ARI_URL"] + "/ari/asterisk/ping", headers=_basic_auth(env))
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, urllib.error.URLError) as exc:
        raise LabError(f"no answer within {timeout:g} s ({type(exc).__name__}: {exc})") from None
    if status != 200:
        raise LabError(f"answered {status}")
    return f"{status} in {time.monotonic() - started:.3f} s"


def ari_upgrade(env: Mapping[str, str], app: str, timeout: float = 5.0) -> str:
    """Open the ARI event websocket of `app` as the service does (GET /ari/events with Upgrade), then close it with
    a close frame; returns Asterisk's status line and how long it took. Raises LabError if the connection or the
    answer does not come within `timeout` seconds. Registering an app that another client holds takes it over
    (Asterisk sends that client ApplicationReplaced), so probe a live service's app only once it is stopped."""
    url = urllib.parse.urlsplit(env["C2C_ARI_URL"])
    key = base64.b64encode(os.urandom(16)).decode()
    head = "".join(f"{k}: {v}\r\n" for k, v in {
        "Host": url.netloc, "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13", **_basic_auth(env)}.items())
    request = f"GET /ari/events?app={urllib.parse.quote(app)}&subscribeAll=false HTTP/1.1\r\n{head}\r\n"
    started = time.monotonic()
    try:
        with socket.create_connection((url.hostname, url.port or 80), timeout=timeout) as s:
            s.settimeout(max(0.1, timeout - (time.monotonic() - started)))
            s.sendall(request.encode())
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    raise LabError(f"connection closed after {time.monotonic() - started:.3f} s without an answer")
                answer += chunk
            status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
            if status.split(" ")[1:2] != ["101"]:
                raise LabError(f"answered {status!r}")
            # A client's close frame (masked, code 1000): Asterisk ends the session as for any client.
            mask = os.urandom(4)
            s.sendall(bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"\x03\xe8")))
    except TimeoutError:
        raise LabError(f"no answer within {timeout:g} s") from None
    except OSError as exc:
        raise LabError(f"{type(exc).__name__}: {exc}") from None
    return f"{status} in {time.monotonic() - started:.3f} s"


def _basic_auth(env: Mapping[str, str]) -> dict[str, str]:
    token = base64.b64encode(f"{env['C2C_ARI_USER']}:{env['C2C_ARI_PASSWORD']}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def tcp_connections(port: int) -> list[str]:
    """`ss -tanp` lines of every TCP socket on `port` (either end), with the processes that hold them."""
    try:
        out = subprocess.run(["ss", "-tanpH", f"( sport = :{port} or dport = :{port} )"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"(ss failed: {exc})"]
    return [" ".join(line.split()) for line in out.splitlines() if line.strip()]


def summarize_connections(lines: list[str], port: int) -> str:
    """Counts by state, and which processes hold the client ends of the connections to `port`."""
    states = collections.Counter(line.split()[0] for line in lines)
    clients = collections.Counter()
    for line in lines:
        fields = line.split()
        if len(fields) >= 5 and fields[4].endswith(f":{port}") and fields[0] not in ("LISTEN", "TIME-WAIT"):
            who = re.findall(r'\("([^"]+)",pid=(\d+)', line)
            clients[", ".join(f"{name} pid {pid}" for name, pid in who) or "(no process: closed)"] += 1
    listen = next((line for line in lines if line.startswith("LISTEN")), "")
    backlog = f"; accept queue {listen.split()[1]} of {listen.split()[2]}" if listen else "; NOTHING LISTENS"
    return (f"TCP sockets on :{port}: " + (", ".join(f"{n} {s}" for s, n in states.most_common()) or "none")
            + backlog + "\nclient ends of connections to it: "
            + ("; ".join(f"{n} x {who}" for who, n in clients.most_common()) or "none"))


def asterisk_alive() -> bool:
    try:
        pid = int((run_dir() / "asterisk.pid").read_text())
        return Path(f"/proc/{pid}/comm").read_text().strip() == "asterisk"
    except (OSError, ValueError):
        return False


def diagnose(env: Mapping[str, str] | None = None, apps: Iterable[str] = (), timeout: float = 5.0,
             full: bool = False) -> tuple[bool, str]:
    """Is the lab's Asterisk still taking ARI clients? Checks REST (ping) and a websocket upgrade for a probe app
    and for each of `apps`; when one fails (or with full=True) adds what Asterisk says (CLI) and who holds TCP
    connections to its ARI port. Returns (healthy, report)."""
    if env is None:
        try:
            env = read_env()
        except LabError as exc:
            return False, str(exc)
    lines, healthy = [], asterisk_alive()
    lines.append(f"asterisk process: {'running' if healthy else 'NOT RUNNING'}")
    checks = [("ARI REST GET /ari/asterisk/ping", lambda: ari_ping(env, timeout))]
    for app in dict.fromkeys([PROBE_APP, *apps]):
        checks.append((f"ARI websocket upgrade for app {app}", lambda app=app: ari_upgrade(env, app, timeout)))
    for what, check in checks:
        try:
            lines.append(f"{what}: {check()}")
        except LabError as exc:
            healthy = False
            lines.append(f"{what}: FAILED: {exc}")
    if not healthy or full:
        port = int(urllib.parse.urlsplit(env["C2C_ARI_URL"]).port or 80)
        conns = tcp_connections(port)
        lines.append(summarize_connections(conns, port))
        cli_answers = True
        for cmd in ("ari show websocket sessions", "ari show apps", "http show status", "core show threads"):
            if not cli_answers:
                break
            try:
                out = _lab_sh("cli", cmd, timeout=10)
            except LabError as exc:
                out, cli_answers = f"(no answer, so no more commands: {str(exc).splitlines()[0]})", False
            if cmd == "core show threads":  # hundreds of lines: count them by what started them
                started = collections.Counter(m.group(1) for m in re.finditer(r"^0x\w+ +\d+ +(\S+)", out, re.M))
                out = ", ".join(f"{n} {name}" for name, n in started.most_common()) or out
            out = "\n".join(line for line in out.splitlines() if "ethernet interface" not in line)
            lines.append(f"--- asterisk> {cmd}\n{out.rstrip()}")
        lines.append("--- ss -tanp (ARI port, TIME-WAIT left out)\n"
                     + "\n".join(line for line in conns if not line.startswith("TIME-WAIT")))
    return healthy, "\n".join(lines)


class Lab:
    """Object wrapper around start/stop/cli; usable as a context manager."""

    def __init__(self) -> None:
        self.env: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        self.env = start()
        return self.env

    def stop(self) -> None:
        stop()

    def cli(self, cmd: str) -> str:
        return cli(cmd)

    @property
    def ari_url(self) -> str:
        return self.env["C2C_ARI_URL"]

    @property
    def ari_auth(self) -> tuple[str, str]:
        return (self.env["C2C_ARI_USER"], self.env["C2C_ARI_PASSWORD"])

    def __enter__(self) -> "Lab":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------
# sipp
# --------------------------------------------------------------------------

# Processes (and captures) started here: stopped at exit at the latest.
_live: "weakref.WeakSet[Sipp | HAProxy | RtpCapture]" = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for s in list(_live):
        try:
            s.stop()
        except Exception:
            pass


def _new_workdir(workdir: str | os.PathLike | None, kind: str, prefix: str) -> Path:
    """A new directory for one process's files: under `workdir`, else under the run dir's `kind`/."""
    base = Path(workdir) if workdir else run_dir() / kind
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def _scenario_path(scenario: str | os.PathLike) -> Path:
    p = Path(scenario)
    if p.is_absolute() or p.exists():
        return p
    name = str(scenario)
    if not name.endswith(".xml"):
        name += ".xml"
    p = SIPP_DIR / name
    if not p.exists():
        known = ", ".join(sorted(x.stem for x in SIPP_DIR.glob("*.xml")))
        raise LabError(f"unknown sipp scenario {scenario!r} (known: {known})")
    return p


def udp_bound(port: int) -> bool:
    """True if something is bound to UDP 127.0.0.1:port or 0.0.0.0:port."""
    want = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    try:
        with open("/proc/net/udp") as f:
            next(f)
            return any(line.split()[1] in want for line in f)
    except OSError:
        return False


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def default_media_port(port: int) -> int:
    """Media (RTP) port for a sipp on SIP port `port`: outside Asterisk's
    10000-30000 RTP range and unique per SIP port below 10000."""
    return 40000 + (port % 5000) * 4


_SEP = re.compile(r"^-{20,} (\S+ \S+)\s*$", re.M)  # sipp's line before each traced message: its local time
_COMPACT = {"f": "from", "t": "to", "i": "call-id", "m": "contact", "v": "via",
            "l": "content-length", "c": "content-type"}


def parse_messages(text: str) -> list[dict]:
    """Parse a sipp -message_file into dicts (only *received* messages).

    Each dict: direction ('received'), at (when sipp received it, epoch
    seconds), start_line, method (or None for responses), request_uri,
    status (int for responses), headers (lower-case name -> list of values),
    body, raw, plus shortcuts from, to, call_id, cseq, pai, call_info,
    alert_info (None when absent).
    """
    return [m for m in _traced(text) if m["direction"] == "received"]


def _stamp(text: str) -> float | None:
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()  # sipp writes local time
    except ValueError:
        return None


def _traced(text: str) -> list[dict]:
    """Every message of a sipp -message_file, sent and received (see parse_messages)."""
    out = []
    marks = list(_SEP.finditer(text))
    for i, mark in enumerate(marks):
        chunk = text[mark.end():marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip("\n")
        if not chunk:
            continue
        first, _, rest = chunk.partition("\n")
        if "message received" in first:
            direction = "received"
        elif "message sent" in first:
            direction = "sent"
        else:
            continue
        raw = rest.lstrip("\n").replace("\r\n", "\n")
        head, _, body = raw.partition("\n\n")
        lines = head.split("\n")
        start = lines[0].strip()
        headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            if ":" not in line:
                continue
            k, v = line.split(":", 1)
            k = k.strip().lower()
            k = _COMPACT.get(k, k)
            headers.setdefault(k, []).append(v.strip())
        parts = start.split(" ", 2)
        msg: dict = {"direction": direction, "at": _stamp(mark.group(1)), "start_line": start, "headers": headers,
                     "body": body, "raw": raw, "method": None, "request_uri": None, "status": None}
        if start.startswith("SIP/2.0"):
            msg["status"] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        elif len(parts) >= 2:
            msg["method"], msg["request_uri"] = parts[0], parts[1]

        def h(name: str) -> str | None:
            v = headers.get(name)
            return v[0] if v else None

        msg.update({
            "from": h("from"), "to": h("to"), "call_id": h("call-id"), "cseq": h("cseq"),
            "pai": h("p-asserted-identity"), "call_info": h("call-info"),
            "alert_info": h("alert-info"),
        })
        out.append(msg)
    return out


class Sipp:
    """One sipp UAS process (a phone or a carrier) on 127.0.0.1:port.

        with Sipp("uas_decline", 5082, vars={"code": 603}) as phone:
            ...
            phone.wait_invites(1, timeout=10)

    scenario: name in lab/sipp ("uas_answer" / "uas_answer.xml") or a path.
    vars: passed as `-set NAME VALUE` (ring_ms, hold_ms, early_ms, code ...).
    extra_args: appended to the sipp command line.
    trace_messages: keep every SIP message received (what `messages()` reads); a load generator turns it off,
    since at 80 calls/s the trace costs more CPU than the call handling being measured.
    audio_hz: the tone the scenarios that talk (uas_answer_audio, uac_inbound) send as RTP: written to
    audio.ulaw in sipp's working directory (see ulaw_tone), which they read when sipp starts.
    """

    def __init__(self, scenario: str | os.PathLike, port: int, *,
                 vars: Mapping[str, object] | None = None,
                 media_port: int | None = None,
                 workdir: str | os.PathLike | None = None,
                 extra_args: Iterable[str] = (), trace_messages: bool = True,
                 audio_hz: float | None = None) -> None:
        self.scenario = _scenario_path(scenario)
        self.port = int(port)
        self.vars = dict(vars or {})
        self.media_port = media_port or default_media_port(self.port)
        self.extra_args = list(extra_args)
        self.trace_messages = trace_messages
        self.workdir = _new_workdir(workdir, "sipp", f"{self.scenario.stem}-{self.port}-")
        self.message_file = self.workdir / "messages.log"
        self.error_file = self.workdir / "errors.log"
        self.output_file = self.workdir / "stdout.log"
        self.audio_hz = audio_hz
        if audio_hz is not None:
            (self.workdir / AUDIO_FILE).write_bytes(ulaw_tone(audio_hz))
        elif AUDIO_FILE in self.scenario.read_text(encoding="iso-8859-1"):
            raise LabError(f"{self.scenario.name} sends {AUDIO_FILE} as RTP: give Sipp an audio_hz")
        self.proc: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------
    def command(self) -> list[str]:
        cmd = ["sipp", "-sf", str(self.scenario),
               "-i", HOST, "-p", str(self.port),
               "-mi", HOST, "-mp", str(self.media_port),
               "-nostdin", "-aa",
               *(["-trace_msg", "-message_file", str(self.message_file)] if self.trace_messages else []),
               "-trace_err", "-error_file", str(self.error_file)]
        for k, v in self.vars.items():
            cmd += ["-set", str(k), str(v)]
        return cmd + self.extra_args

    def start(self, timeout: float = 5.0) -> "Sipp":
        if self.proc is not None:
            raise LabError(f"sipp on port {self.port} already started")
        if udp_bound(self.port):
            raise LabError(f"UDP port {self.port} on {HOST} is already in use (leftover sipp?)")
        out = open(self.output_file, "wb")
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         start_new_session=True)
        finally:
            out.close()
        _live.add(self)
        deadline = time.monotonic() + timeout
        while not udp_bound(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LabError(f"sipp {self.scenario.name} did not start on port {self.port}:\n"
                               f"{' '.join(self.command())}\n{self._tail(self.output_file)}"
                               f"{self._tail(self.error_file)}")
            time.sleep(0.02)
        return self

    def poke(self, method: str, user: str, call_id: str) -> None:
        """A lab-only request to this sipp in the call `call_id` (its scenario waits for `method`, e.g. LAB-HANGUP,
        and acts: a test's way to say "now")."""
        message = (f"{method} sip:{user}@{HOST}:{self.port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {HOST}:9;branch=z9hG4bK-lab-{os.urandom(4).hex()}\r\n"
                   f"From: <sip:lab@{HOST}>;tag=lab\r\nTo: <sip:lab@{HOST}>\r\nCall-ID: {call_id}\r\n"
                   f"CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(message.encode(), (HOST, self.port))

    def wait_exit(self, timeout: float, what: str) -> int:
        """Wait for sipp (one call: the call) to end; its exit status (0: the call went as scripted). `what`: the
        call, for the error."""
        if self.proc is None:
            raise LabError(f"{what}: not started")
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise LabError(f"{what}: the call still goes on after {timeout}s") from None

    def stop(self) -> None:
        """Kill the sipp process (and its process group); idempotent."""
        p, self.proc = self.proc, None
        _live.discard(self)
        if p is None or p.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> "Sipp":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what it saw -------------------------------------------------------
    def messages(self) -> list[dict]:
        """All SIP messages this sipp received so far (see parse_messages)."""
        try:
            text = self.message_file.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return parse_messages(text)

    def invites(self) -> list[dict]:
        """Received initial INVITEs (retransmissions and re-INVITEs dropped)."""
        seen, out = set(), []
        for m in self.messages():
            if m["method"] != "INVITE":
                continue
            to = m["to"] or ""
            if ";tag=" in to:          # re-INVITE inside a dialog
                continue
            key = (m["call_id"], m["cseq"])
            if key in seen:            # retransmission
                continue
            seen.add(key)
            out.append(m)
        return out

    def requests(self, method: str) -> list[dict]:
        return [m for m in self.messages() if m["method"] == method.upper()]

    def wait_invites(self, n: int = 1, timeout: float = 10.0) -> list[dict]:
        """Wait until at least n INVITEs arrived; return them all. Raises LabError."""
        deadline = time.monotonic() + timeout
        while True:
            inv = self.invites()
            if len(inv) >= n:
                return inv
            if time.monotonic() > deadline:
                raise LabError(f"sipp {self.scenario.name}:{self.port}: got {len(inv)} INVITE(s), "
                               f"wanted {n} within {timeout}s{self._tail(self.error_file)}")
            if self.proc is not None and self.proc.poll() is not None:
                raise LabError(f"sipp {self.scenario.name}:{self.port} exited "
                               f"(rc {self.proc.returncode}){self._tail(self.output_file)}")
            time.sleep(0.05)

    def errors(self) -> str:
        try:
            return self.error_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @staticmethod
    def _tail(path: Path, n: int = 3000) -> str:
        try:
            t = path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return f"\n--- {path} ---\n{t[-n:]}"

    def __repr__(self) -> str:
        return f"<Sipp {self.scenario.name} {HOST}:{self.port} {'alive' if self.alive else 'stopped'}>"


# --------------------------------------------------------------------------
# audio that sipp sends (rtp_stream of a raw mu-law file)
# --------------------------------------------------------------------------

AUDIO_FILE = "audio.ulaw"  # what uas_answer_audio.xml and uac_inbound.xml send, relative to sipp's working dir
RATE = 8000  # G.711


def _ulaw(sample: int) -> int:
    """One 16-bit linear sample as G.711 mu-law (the usual biased-segment encoder)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = (magnitude >> 7).bit_length() - 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


def ulaw_tone(hz: float, seconds: float = 1.0, amplitude: int = 8000) -> bytes:
    """A pure tone as raw 8 kHz mu-law (PCMU payload), about -12 dBFS. sipp loops the file: with a whole number
    of periods in it (1 s of any whole hz) the loop is seamless, and 8000 bytes are exactly 50 RTP packets."""
    n = int(RATE * seconds)
    return bytes(_ulaw(round(amplitude * math.sin(2 * math.pi * hz * i / RATE))) for i in range(n))


def _ulaw_decode(byte: int) -> int:
    """One G.711 mu-law byte as a 16-bit linear sample (the inverse of _ulaw)."""
    byte = ~byte & 0xFF
    magnitude = ((((byte & 0x0F) << 3) + 0x84) << ((byte >> 4) & 0x07)) - 0x84
    return -magnitude if byte & 0x80 else magnitude


_ULAW_DECODE = [_ulaw_decode(b) for b in range(256)]


# --------------------------------------------------------------------------
# what a party receives as RTP (RFC 4733 DTMF, audio), captured on the loopback interface
# --------------------------------------------------------------------------

DTMF_EVENTS = "0123456789*#ABCD"  # RFC 4733 event codes 0-15


class RtpPacket(NamedTuple):
    at: float            # when it arrived (epoch seconds)
    source_port: int     # the UDP port it came from: for Asterisk, the RTP port of one channel
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int            # not a call's identity: Asterisk changes it when the channel's source changes (MOH)
    marker: bool
    payload: bytes


class RtpCapture:
    """Every RTP packet that arrives at UDP 127.0.0.1:port (a sipp phone's or carrier's media port: Sipp.media_port),
    seen on the loopback interface through a packet socket (AF_PACKET: needs root, as the lab does; no tcpdump).
    sipp plays RTP but never decodes what it receives, so this is how a test learns what a party was sent:

        with labkit.RtpCapture(phones["121"].media_port) as rtp:
            ari.post(f"/channels/{agent_channel_id}/dtmf", params={"dtmf": "1234#"})
            wait_for(lambda: rtp.digits() == "1234#", 10, "the phone got the digits")
            samples = rtp.samples(since=t0)     # PCMU audio received after t0 (time.time()), as 16-bit samples

    packets(): RtpPacket each. events(): the telephone-events (event_pt: the payload type of telephone-event, 101
    in the lab's SDPs) as dicts: digit, ended (an end packet came), duration (timestamp units, 8 per ms), at
    (its first packet), source_port. digits(): the digits of those events, in order ("1234#"). Each event is
    counted once however many packets carry it (RFC 4733 repeats the start and sends the end packet three
    times): one per (source port, ssrc, timestamp). Every query takes since/until (arrival, epoch seconds) and
    source (the sender's port: one sipp's calls all share its media port, each Asterisk channel sends from its
    own; TalkingCarrier.media_source(number) finds a call's). Only what arrived while the capture ran is seen.
    """

    ETH_P_IP = 0x0800
    PACKET_OUTGOING = 4  # a loopback packet is seen twice: as sent (outgoing) and as received

    def __init__(self, port: int, *, event_pt: int = 101, interface: str = "lo") -> None:
        self.port, self.event_pt, self.interface = int(port), event_pt, interface
        self._packets: list[RtpPacket] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> "RtpCapture":
        if self._sock is not None:
            raise LabError(f"RTP capture of port {self.port} already started")
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(self.ETH_P_IP))
        except PermissionError:
            raise LabError("RtpCapture needs root (a packet socket)") from None
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)  # a loaded machine reads late: keep it all
        sock.bind((self.interface, self.ETH_P_IP))
        sock.settimeout(0.2)
        self._sock, self._stopping = sock, False
        self._thread = threading.Thread(target=self._read, name=f"rtp-capture-{self.port}", daemon=True)
        self._thread.start()
        _live.add(self)
        return self

    def stop(self) -> None:
        self._stopping = True
        _live.discard(self)
        if self._thread is not None:
            self._thread.join(2)
        if self._sock is not None:
            self._sock.close()
        self._sock = self._thread = None

    def __enter__(self) -> "RtpCapture":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _read(self) -> None:
        sock = self._sock
        while not self._stopping:
            try:
                data, address = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if address[2] == self.PACKET_OUTGOING or len(data) < 20 or data[9] != 17:  # IPv4 UDP only
                continue
            udp = data[(data[0] & 0x0F) * 4:]
            if len(udp) < 8 + 12 or int.from_bytes(udp[2:4], "big") != self.port:
                continue
            rtp = udp[8:]
            if rtp[0] >> 6 != 2:  # not RTP version 2
                continue
            header = 12 + 4 * (rtp[0] & 0x0F)
            if rtp[0] & 0x10 and len(rtp) >= header + 4:  # header extension
                header += 4 + 4 * int.from_bytes(rtp[header + 2:header + 4], "big")
            payload = rtp[header:]
            if rtp[0] & 0x20 and payload:  # padding
                payload = payload[:-payload[-1]]
            packet = RtpPacket(time.time(), int.from_bytes(udp[0:2], "big"), rtp[1] & 0x7F,
                               int.from_bytes(rtp[2:4], "big"), int.from_bytes(rtp[4:8], "big"),
                               int.from_bytes(rtp[8:12], "big"), bool(rtp[1] & 0x80), bytes(payload))
            with self._lock:
                self._packets.append(packet)

    # -- what arrived --------------------------------------------------------
    def packets(self, since: float | None = None, until: float | None = None,
                source: int | None = None) -> list[RtpPacket]:
        with self._lock:
            return [p for p in self._packets if (since is None or p.at >= since) and (until is None or p.at < until)
                    and (source is None or p.source_port == source)]

    def events(self, since: float | None = None, until: float | None = None,
               source: int | None = None) -> list[dict]:
        events: dict[tuple[int, int, int], dict] = {}
        for p in self.packets(since, until, source):
            if p.payload_type != self.event_pt or len(p.payload) < 4:
                continue
            code = p.payload[0]
            event = events.setdefault((p.source_port, p.ssrc, p.timestamp), {
                "digit": DTMF_EVENTS[code] if code < len(DTMF_EVENTS) else f"<{code}>", "ended": False,
                "duration": 0, "at": p.at, "source_port": p.source_port})
            event["ended"] |= bool(p.payload[1] & 0x80)
            event["duration"] = max(event["duration"], int.from_bytes(p.payload[2:4], "big"))
        return sorted(events.values(), key=lambda e: e["at"])

    def digits(self, since: float | None = None, until: float | None = None, source: int | None = None) -> str:
        return "".join(e["digit"] for e in self.events(since, until, source))

    def samples(self, since: float | None = None, until: float | None = None,
                source: int | None = None) -> "array.array":
        """The PCMU audio (payload type 0) that arrived, decoded to 16-bit samples at 8 kHz, in arrival order
        (no packet arrived: nothing; Asterisk sends no RTP at all to a party that nobody talks to)."""
        out = array.array("h")
        for p in self.packets(since, until, source):
            if p.payload_type == 0:
                out.extend(_ULAW_DECODE[b] for b in p.payload)
        return out

    def __repr__(self) -> str:
        with self._lock:
            n = len(self._packets)
        return f"<RtpCapture 127.0.0.1:{self.port}: {n} packets, digits {self.digits()!r}>"


# --------------------------------------------------------------------------
# a customer who talks, on a trunk of the test's own (trunk-f)
# --------------------------------------------------------------------------

TALKING_TRUNK, TALKING_PORT = "trunk-f", 5080  # pjsip.conf: trunk-f's contact; no carrier of the session's


class TalkingCarrier(Sipp):
    """The carrier of trunk-f (pjsip.conf: sip:127.0.0.1:5080): every customer dialled through it answers after
    ring_ms and says a steady audio_hz tone (lab/sipp/uas_answer_audio.xml) until the BYE, and everything they
    receive as RTP is captured (rtp: an RtpCapture of its media port, running while the carrier runs).

        with labkit.TalkingCarrier(audio_hz=1000) as carrier:          # or the `talking_customer` fixture
            ... dial PJSIP/0899123456@trunk-f (ARI), or click-to-call with the hotline whose trunk is trunk-f
            carrier.wait_answered("0899123456")                        # its 200 OK was ACKed: it talks now
            carrier.received_digits("0899123456")                      # "1234#": RFC 4733 events it got
            carrier.received_samples("0899123456", since=t0)           # what it heard (PCMU, 16-bit samples)

    Several calls at once all talk the same tone from the same media port; what each received is told apart by
    the RTP port Asterisk sends that call's media from (media_source(number): the port of the INVITE's SDP).
    """

    def __init__(self, *, audio_hz: float = 1000, ring_ms: int = 300, port: int = TALKING_PORT,
                 workdir: str | os.PathLike | None = None) -> None:
        super().__init__("uas_answer_audio", port, vars={"ring_ms": int(ring_ms)}, audio_hz=audio_hz,
                         workdir=workdir)
        self.rtp = RtpCapture(self.media_port)

    def start(self, timeout: float = 5.0) -> "TalkingCarrier":
        self.rtp.start()  # before sipp: nothing sent to it is missed
        try:
            super().start(timeout)
        except BaseException:
            self.rtp.stop()
            raise
        return self

    def stop(self) -> None:
        super().stop()
        self.rtp.stop()

    def invite_for(self, number: str, timeout: float = 10.0) -> dict:
        """The INVITE of the call to `number` (waits for it). Raises LabError."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((m for m in self.invites() if f"sip:{number}@" in (m["request_uri"] or "")), None)
            if found:
                return found
            if time.monotonic() > deadline:
                raise LabError(f"talking carrier: no INVITE for {number} within {timeout}s"
                               f"{self._tail(self.error_file)}")
            time.sleep(0.05)

    def media_source(self, number: str, timeout: float = 10.0) -> int:
        """The UDP port Asterisk sends the call to `number` its RTP from (the m=audio port of its INVITE's SDP)."""
        body = self.invite_for(number, timeout)["body"]
        found = re.search(r"^m=audio (\d+) ", body, re.M)
        if not found:
            raise LabError(f"talking carrier: the INVITE for {number} has no m=audio line:\n{body}")
        return int(found.group(1))

    def wait_answered(self, number: str, timeout: float = 10.0) -> None:
        """Wait until Asterisk ACKed this carrier's 200 OK for `number` (from then on the customer talks)."""
        call_id = self.invite_for(number, timeout)["call_id"]
        deadline = time.monotonic() + timeout
        while not any(m["call_id"] == call_id for m in self.requests("ACK")):
            if time.monotonic() > deadline:
                raise LabError(f"talking carrier: the call to {number} was not answered (ACKed) within {timeout}s")
            time.sleep(0.05)

    def got_bye(self, number: str) -> bool:
        call_id = self.invite_for(number, 0)["call_id"]
        return any(m["call_id"] == call_id for m in self.requests("BYE"))

    def received_digits(self, number: str | None = None, since: float | None = None) -> str:
        """RFC 4733 digits the customer called as `number` received (None: every call's) since `since`."""
        return self.rtp.digits(since, source=None if number is None else self.media_source(number))

    def received_samples(self, number: str | None = None, since: float | None = None,
                         until: float | None = None) -> "array.array":
        return self.rtp.samples(since, until, source=None if number is None else self.media_source(number))


# --------------------------------------------------------------------------
# inbound calls: a carrier calling a hotline (lab/sipp/uac_inbound.xml)
# --------------------------------------------------------------------------

INBOUND_PORTS = {"trunk-a": (5075, 5077, 5078, 5079), "trunk-b": (5076,)}  # pjsip.conf's identify matches


class InboundCall(Sipp):
    """A carrier delivering one customer's call to a hotline: sipp as a UAC on a source port that pjsip.conf's
    `identify` gives a trunk (INBOUND_PORTS), so Asterisk takes the INVITE for that trunk and the call enters
    context from-trunk with ${EXTEN} = hotline and CALLERID(num) = caller. The customer sends a steady tone of
    audio_hz as RTP once answered, and hangs up after hold_ms (None: waits for Asterisk's BYE) or when told
    (hangup(): CANCEL while not answered, BYE after). Use place_inbound() to start one.

    What the carrier saw: statuses() (the INVITE's responses, e.g. [100, 180, 200]), wait_status(180),
    answered, got_bye (Asterisk hung up), ended (the call is over: sipp exited), call_id (the SIP Call-ID,
    also CHANNEL(pjsip,call-id) of the Asterisk channel).
    """

    def __init__(self, hotline: str, caller: str, *, port: int = 5075, audio_hz: float = 1000,
                 hold_ms: int | None = None, sip_port: int | None = None, node: str | None = None,
                 media_port: int | None = None, workdir: str | os.PathLike | None = None) -> None:
        if sip_port is None:
            sip_port = int(_lab_value("LAB_SIP_PORT", "5060", node=node))
        self.hotline, self.caller = str(hotline), str(caller)
        self.call_id = f"c2c-inbound-{os.urandom(6).hex()}@{HOST}"
        variables = {"caller": self.caller}
        if hold_ms is not None:
            variables["hold_ms"] = int(hold_ms)
        super().__init__("uac_inbound", port, vars=variables, audio_hz=audio_hz,
                         media_port=media_port or _free_media_port(), workdir=workdir,
                         extra_args=["-s", self.hotline, "-m", "1", "-cid_str", self.call_id,
                                     f"{HOST}:{sip_port}"])

    # -- what the carrier saw ----------------------------------------------
    def statuses(self) -> list[int]:
        """Status codes of the responses to the INVITE, in the order received (retransmissions included)."""
        return [m["status"] for m in self.messages()
                if m["status"] is not None and (m["cseq"] or "").split()[-1:] == ["INVITE"]]

    def wait_status(self, code: int, timeout: float = 10.0) -> list[int]:
        """Wait until a response `code` to the INVITE arrived; returns statuses(). Raises LabError."""
        deadline = time.monotonic() + timeout
        while code not in (got := self.statuses()):
            if time.monotonic() > deadline:
                raise LabError(f"carrier {self.caller} -> {self.hotline}: no {code} within {timeout}s, got {got}"
                               f"{self._tail(self.error_file)}")
            if self.ended and code not in (got := self.statuses()):
                raise LabError(f"carrier {self.caller} -> {self.hotline}: the call ended without {code}, got {got}"
                               f"{self._tail(self.error_file)}{self._tail(self.output_file, 1000)}")
            time.sleep(0.05)
        return got

    @property
    def invite_sent_at(self) -> float | None:
        """When the carrier sent its INVITE (epoch seconds, from sipp's trace), e.g. to time a screen-pop."""
        try:
            text = self.message_file.read_text(errors="replace")
        except FileNotFoundError:
            return None
        return next((m["at"] for m in _traced(text) if m["direction"] == "sent" and m["method"] == "INVITE"), None)

    @property
    def answered(self) -> bool:
        return 200 in self.statuses()

    @property
    def final(self) -> int | None:
        """The INVITE's final status (200, 403, 487 ...), None while it has none."""
        return next((code for code in self.statuses() if code >= 200), None)

    @property
    def got_bye(self) -> bool:
        return bool(self.requests("BYE"))

    @property
    def ended(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def wait_ended(self, timeout: float = 10.0) -> int:
        """Wait for the call (and sipp) to end; returns sipp's exit status (0: the call went as scripted)."""
        return self.wait_exit(timeout, f"carrier {self.caller} -> {self.hotline} (got {self.statuses()}, BYE "
                                       f"{self.got_bye})")

    # -- what the carrier does ---------------------------------------------
    def hangup(self) -> None:
        """The customer hangs up now: CANCEL if the call is not answered yet, BYE if it is."""
        self.poke("LAB-HANGUP", self.hotline, self.call_id)

    def __repr__(self) -> str:
        return (f"<InboundCall {self.caller} -> {self.hotline} from {HOST}:{self.port} statuses {self.statuses()}"
                f"{' BYE received' if self.got_bye else ''}{' ended' if self.ended else ''}>")


def place_inbound(hotline: str, caller: str, **kw) -> InboundCall:
    """Start an inbound call from a carrier (see InboundCall for the keywords: port picks the trunk, 5075 is
    trunk-a; audio_hz, hold_ms, sip_port, node). Returns at once, the INVITE sent; stop() it (or use it as a
    context manager) when done: it ends itself after a hang-up, from either side."""
    return InboundCall(hotline, caller, **kw).start()


# --------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------

def _lab_value(name: str, default: str | None = None, node: str | None = None) -> str | None:
    if node is not None:  # a named node's own lab.env: the environment names the default node
        return read_env(node=node).get(name, default)
    if os.environ.get(name):
        return os.environ[name]
    try:
        return read_env().get(name, default)
    except LabError:
        return default


def _phone_login(password: str | None, sip_port: int | None, node: str | None) -> tuple[str, int]:
    """A lab phone's SIP password and the node's SIP port (lab.env's, unless given)."""
    if password is None:
        password = _lab_value("LAB_PHONE_PASSWORD", node=node)
        if not password:
            raise LabError("no phone password given and LAB_PHONE_PASSWORD not in lab.env")
    return password, sip_port if sip_port is not None else int(_lab_value("LAB_SIP_PORT", "5060", node=node))


def register(exts: Iterable[str | int], contact_port: int | Mapping[str, int],
             password: str | None = None, *, expires: int = 3600,
             sip_port: int | None = None, rate: int = 200, timeout: float = 60.0,
             node: str | None = None, user_agent: str = "click2call-lab") -> None:
    """REGISTER the extensions with Asterisk, Contact sip:EXT@127.0.0.1:<port>.

    contact_port: one port for all extensions, or a mapping ext -> port.
    password: digest password (default LAB_PHONE_PASSWORD from lab.env).
    node: register with this named node (its SIP port and phone password, from its lab.env).
    user_agent: the REGISTER's User-Agent header (what Asterisk keeps with the contact).
    Blocks until sipp is done; raises LabError if any registration failed.
    """
    exts = [str(e) for e in exts]
    if not exts:
        return
    password, sip_port = _phone_login(password, sip_port, node)
    ports = contact_port if isinstance(contact_port, Mapping) else {e: contact_port for e in exts}
    base = run_dir() / "sipp"
    base.mkdir(parents=True, exist_ok=True)
    wd = Path(tempfile.mkdtemp(prefix="register-", dir=base))
    csv = wd / "regs.csv"
    # sipp cannot nest [field] inside [authentication ...] in the scenario, but
    # a CSV field may itself contain the [authentication] keyword.
    csv.write_text("SEQUENTIAL\n" + "".join(
        f"{e};[authentication username={e} password={password}];{int(ports[str(e)])}\n" for e in exts))
    cmd = ["sipp", "-sf", str(SIPP_DIR / "register.xml"), "-inf", str(csv),
           "-m", str(len(exts)), "-r", str(rate), "-l", str(max(rate, 1)),
           "-i", HOST, "-p", str(free_udp_port()), "-set", "expires", str(int(expires)), "-set", "ua", user_agent,
           "-nostdin", "-trace_err", "-error_file", str(wd / "errors.log"),
           "-trace_stat", "-stf", str(wd / "stats.csv"),
           f"{HOST}:{sip_port}"]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, cwd=wd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"register of {len(exts)} extension(s) timed out after {timeout}s "
                       f"(log dir {wd})") from None
    if proc.returncode != 0:
        err = Sipp._tail(wd / "errors.log")
        if "SIP/2.0 401" in err or "SIP/2.0 403" in err:
            err = "\n(Asterisk rejected the credentials - wrong password or unknown extension?)" + err
        what = "unregister" if expires == 0 else "register"
        raise LabError(f"{what} failed (sipp exit {proc.returncode}) for some of {exts[:10]}"
                       f"{'...' if len(exts) > 10 else ''}; log dir {wd}{err}")


def unregister(exts: Iterable[str | int], contact_port: int | Mapping[str, int],
               password: str | None = None, **kw) -> None:
    """Remove the registrations made by register() (REGISTER with Expires: 0)."""
    register(exts, contact_port, password, expires=0, **kw)


class Phones:
    """Agents' phones of a test's own: one sipp per extension, on port 5000 + extension (121 -> 5121), each
    registered as its extension while inside (121..140 are free in the lab); a dict extension -> Sipp.

        with labkit.Phones({"121": ("uas_noanswer", {}),
                            "122": ("uas_answer_audio", {"ring_ms": 1000}, 600),     # answers, says 600 Hz
                            "123": "uas_noanswer"}) as phones:
            ...
            assert phones["121"].requests("CANCEL")      # it rang and was stopped

    A value: a scenario, or (scenario, sipp variables[, audio_hz]). node: register with that named node.
    """

    def __init__(self, spec: Mapping[str, object], *, node: str | None = None) -> None:
        self.node = node
        self.phones: dict[str, Sipp] = {}
        for ext, what in spec.items():
            if isinstance(what, (str, os.PathLike)):
                scenario, variables, hz = what, {}, None
            else:
                scenario, variables, *rest = what
                hz = rest[0] if rest else None
            self.phones[str(ext)] = Sipp(scenario, 5000 + int(ext), vars=variables, audio_hz=hz)

    def __enter__(self) -> dict[str, "Sipp"]:
        try:
            for ext, phone in self.phones.items():
                phone.start()
                register([ext], phone.port, node=self.node)
        except BaseException:
            self.__exit__()
            raise
        return self.phones

    def __exit__(self, *exc) -> None:
        for ext, phone in self.phones.items():
            if phone.alive:
                try:
                    unregister([ext], phone.port, node=self.node)
                except LabError:
                    pass  # Asterisk gone: nothing to unregister from
            phone.stop()


# --------------------------------------------------------------------------
# calls from an agent phone (lab/sipp/uac_call.xml, uac_call_refer.xml)
# --------------------------------------------------------------------------

def _free_media_port() -> int:
    """An even UDP port with port+2 free too (sipp binds audio and video there)."""
    for _ in range(50):
        p = free_udp_port()
        if p % 2 == 0 and p + 2 < 65536 and not udp_bound(p + 2):
            return p
    raise LabError("no free even UDP port pair for sipp media")


def place_call(ext: str, number: str, *, password: str | None = None,
               sip_port: int | None = None, hold_ms: int | None = None,
               timeout: float = 30, node: str | None = None) -> dict:
    """Let extension `ext` dial `number` like a desk phone; blocks for one call.

    Sends INVITE sip:<number>@127.0.0.1:<sip_port> From sip:<ext>@..., answers
    the digest challenge (password: LAB_PHONE_PASSWORD by default), ACKs the
    200, then waits for the far end's BYE, or with hold_ms sends BYE itself
    after that many ms.  No REGISTER is needed (PJSIP identifies the endpoint
    by the From user).  Returns {"returncode": 0, "messages": [...received
    SIP messages, see parse_messages...], "workdir": Path}.  Raises LabError
    (with the tail of sipp's error log; .messages/.workdir attached) if the
    call was not answered and ended normally within `timeout` seconds.
    node: call through this named node (its SIP port and phone password).
    """
    ext, number = str(ext), str(number)
    if password is None:
        password = _lab_value("LAB_PHONE_PASSWORD", node=node)
        if not password:
            raise LabError("no phone password given and LAB_PHONE_PASSWORD not in lab.env")
    if sip_port is None:
        sip_port = int(_lab_value("LAB_SIP_PORT", "5060", node=node))
    base = run_dir() / "sipp"
    base.mkdir(parents=True, exist_ok=True)
    wd = Path(tempfile.mkdtemp(prefix=f"uac_call-{ext}-", dir=base))
    message_file, error_file, output_file = wd / "messages.log", wd / "errors.log", wd / "stdout.log"
    cmd = ["sipp", "-sf", str(SIPP_DIR / "uac_call.xml"),
           "-s", number, "-set", "ext", ext, "-au", ext, "-ap", password,
           "-m", "1", "-i", HOST, "-p", str(free_udp_port()),
           "-mi", HOST, "-mp", str(_free_media_port()),
           "-nostdin", "-aa",
           "-trace_msg", "-message_file", str(message_file),
           "-trace_err", "-error_file", str(error_file)]
    if hold_ms is not None:
        cmd += ["-set", "hold_ms", str(int(hold_ms))]
    cmd.append(f"{HOST}:{sip_port}")

    def fail(why: str) -> LabError:
        try:
            msgs = parse_messages(message_file.read_text(errors="replace"))
        except FileNotFoundError:
            msgs = []
        got = ", ".join(m["start_line"] for m in msgs[-8:]) or "nothing"
        exc = LabError(f"call {ext} -> {number} {why}; received: {got}; log dir {wd}"
                       f"{Sipp._tail(error_file)}{Sipp._tail(output_file, 1000)}")
        exc.messages, exc.workdir = msgs, wd  # type: ignore[attr-defined]
        return exc

    with open(output_file, "wb") as out:
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, cwd=wd, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise fail(f"did not finish within {timeout}s") from None
    if proc.returncode == 97:      # uac_call.xml: final error response, ACKed
        raise fail("was rejected (sipp exit 97)")
    if proc.returncode != 0:
        raise fail(f"failed (sipp exit {proc.returncode})")
    return {"returncode": proc.returncode,
            "messages": parse_messages(message_file.read_text(errors="replace")),
            "workdir": wd}


class PhoneCall(Sipp):
    """An agent's desk phone that dials `number` (through the dialplan: [agents] _0X. -> Stasis(click2call,outbound)),
    says a steady audio_hz tone once answered, and presses Transfer: a blind REFER to `target` in the dialog after
    refer_ms, or when told (refer()); it answers the NOTIFYs (-aa) and stays in the call until Asterisk's BYE.
    lab/sipp/uac_call_refer.xml. Like place_call, no REGISTER (PJSIP identifies the endpoint by the From user).

        with labkit.PhoneCall("135", "0899123456", target="132", audio_hz=1500) as phone:
            ... the call is up: phone.answered; the service's record: /v1/cdr/{phone.call_id}
            phone.refer()
            phone.requests("NOTIFY")      # each with its sipfrag body ("SIP/2.0 100 Trying", "SIP/2.0 200 OK")
            phone.wait_ended()            # 0: answered, referred, 202, and ended by Asterisk's BYE
    """

    def __init__(self, ext: str, number: str, *, target: str, audio_hz: float = 1500, refer_ms: int | None = None,
                 password: str | None = None, sip_port: int | None = None, node: str | None = None) -> None:
        password, sip_port = _phone_login(password, sip_port, node)
        self.ext, self.number = str(ext), str(number)
        self.call_id = f"c2c-phone-{os.urandom(6).hex()}@{HOST}"
        variables: dict[str, object] = {"ext": self.ext, "target": str(target)}
        if refer_ms is not None:
            variables["refer_ms"] = int(refer_ms)
        super().__init__("uac_call_refer", free_udp_port(), vars=variables, audio_hz=audio_hz,
                         media_port=_free_media_port(),
                         extra_args=["-s", self.number, "-au", self.ext, "-ap", password, "-m", "1",
                                     "-cid_str", self.call_id, f"{HOST}:{sip_port}"])

    @property
    def answered(self) -> bool:
        return any(m["status"] == 200 and (m["cseq"] or "").endswith("INVITE") for m in self.messages())

    def refer(self) -> None:
        """Press Transfer now (a phone started without refer_ms waits for this)."""
        self.poke("LAB-REFER", self.ext, self.call_id)

    def wait_ended(self, timeout: float = 10.0) -> int:
        """Wait for the call (and sipp) to end; returns sipp's exit status (0: the call went as scripted)."""
        return self.wait_exit(timeout, f"phone {self.ext} -> {self.number}{self._tail(self.error_file)}")


# --------------------------------------------------------------------------
# HAProxy in front of several replicas of the service
# --------------------------------------------------------------------------

HAPROXY_CONFIG = """\
# Written by lab/labkit.py (HAProxy): the load balancer in front of click2call's replicas.
global
    maxconn 4096
    stats socket {socket} mode 600 level admin
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    # A sync click-to-call is answered once the agent answers: allow for the ring timeout and more.
    timeout client 120s
    timeout server 120s
    timeout queue 5s
    timeout http-request 10s
    # A replica going away (SIGTERM: its listening socket closes first; SIGKILL) refuses connections: try
    # again, on another replica (redispatch), instead of failing the client's request.
    retries {retries}
    option redispatch 1
    retry-on conn-failure
    # A new connection to the replica for each request: an idle kept-alive connection that the replica
    # closes as it stops (or after its keep-alive timeout) would race with the next request sent on it, and
    # a click-to-call is not safe to send twice.
    option http-server-close

frontend api
    bind {host}:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET {check}
    http-check expect status 200
    # Checks every inter: a replica whose check fails `fall` times in a row is out; and one whose connections
    # are refused (stopped, killed) is out at the first refused request, not only at its next checks.
    default-server check inter {inter}ms fastinter {inter}ms downinter {inter}ms fall {fall} rise {rise} observe layer4 error-limit 1 on-error mark-down
{servers}
"""


def _die_with_parent() -> None:
    """A helper process started by a test run that gets killed must not outlive it (it would hold its port)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class HAProxy:
    """Debian's haproxy (apt-get install haproxy) on HOST:port, balancing HTTP over the replicas.

        with labkit.HAProxy({"r1": 18081, "r2": 18082}, 18080) as lb:
            httpx.get(lb.base + "/v1/call", ...)
            lb.wait_status("r1", "UP")

    backends: server name -> port on HOST. check: the health check's path (`option httpchk GET <check>`), every
    inter_ms, down after `fall` failures, up after `rise` successes; a server whose connection is refused is down
    at once (observe layer4). The configuration and log are written to workdir (default: a new dir under the run
    dir); `config()` shows it.
    """

    def __init__(self, backends: Mapping[str, int], port: int, *, check: str = "/readyz", inter_ms: int = 250,
                 fall: int = 2, rise: int = 2, retries: int = 3, workdir: str | os.PathLike | None = None) -> None:
        self.backends = dict(backends)
        self.port = int(port)
        self.check, self.inter_ms, self.fall, self.rise, self.retries = check, inter_ms, fall, rise, retries
        self.workdir = _new_workdir(workdir, "haproxy", f"haproxy-{self.port}-")
        self.config_file = self.workdir / "haproxy.cfg"
        self.socket = self.workdir / "admin.sock"
        self.log_file = self.workdir / "haproxy.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def config(self) -> str:
        servers = "\n".join(f"    server {name} {HOST}:{port}" for name, port in self.backends.items())
        return HAPROXY_CONFIG.format(socket=self.socket, host=HOST, port=self.port, check=self.check,
                                     inter=self.inter_ms, fall=self.fall, rise=self.rise, retries=self.retries,
                                     servers=servers)

    def start(self, timeout: float = 10.0) -> "HAProxy":
        if self.proc is not None:
            raise LabError(f"haproxy on port {self.port} already started")
        binary = "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise LabError("haproxy not installed: apt-get install haproxy")
        self.config_file.write_text(self.config())
        checked = subprocess.run([binary, "-c", "-q", "-f", str(self.config_file)], capture_output=True, text=True)
        if checked.returncode != 0:
            raise LabError(f"haproxy refused {self.config_file}:\n{checked.stdout}{checked.stderr}")
        log = open(self.log_file, "ab")
        try:
            # -db: in the foreground, so that this process is haproxy itself and stop() ends it.
            self.proc = subprocess.Popen([binary, "-db", "-f", str(self.config_file)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                         preexec_fn=_die_with_parent)
        finally:
            log.close()
        _live.add(self)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                if self.socket.exists():
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LabError(f"haproxy did not start on {HOST}:{self.port}{Sipp._tail(self.log_file)}")
            time.sleep(0.05)

    def stop(self) -> None:
        p, self.proc = self.proc, None
        _live.discard(self)
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def __enter__(self) -> "HAProxy":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the runtime API (stats socket) ------------------------------------
    def command(self, line: str) -> str:
        """One command on the admin socket, e.g. 'show stat' or 'set server replicas/r1 state drain'."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.socket))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def servers(self) -> dict[str, dict[str, str]]:
        """Each replica's row of `show stat`: status (UP, DOWN, MAINT, DRAIN, 'UP 1/2' while changing), scur
        (requests in flight), stot (requests sent), check_status ..."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {r["svname"]: r for r in rows if r["pxname"] == "replicas" and r["svname"] in self.backends}

    def status(self, name: str) -> str:
        return self.servers()[name]["status"]

    def wait_status(self, name: str, status: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while (now := self.status(name)) != status:
            if time.monotonic() > deadline:
                raise LabError(f"haproxy: server {name} is {now}, not {status}, after {timeout}s")
            time.sleep(0.05)

    def set_state(self, name: str, state: str) -> None:
        """ready, drain (no new requests, those in flight go on) or maint (out of the rotation)."""
        answer = self.command(f"set server replicas/{name} state {state}").strip()
        if answer:
            raise LabError(f"haproxy: set server {name} state {state}: {answer}")

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

