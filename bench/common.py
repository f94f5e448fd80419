"""Small helpers shared by the benchmark's parts: process CPU and memory from /proc, percentiles, a lean sipp
process (no per-message trace: at 80 calls/s that would cost more CPU than the call handling we measure) and
Asterisk event timestamps."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[1]
SIPP_DIR = REPO / "lab" / "sipp"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the ")" field 3 (state) is index 0: utime is field 14, stime 15
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB: the resident set now, and its peak since the process started."""
    now = peak = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return now, peak


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return percentile(xs, 50) if xs else None


def asterisk_time(raw: dict) -> float:
    """Asterisk's own time of an ARI event (`2026-11-27T03:12:45.123+0000`) as epoch seconds."""
    try:
        return datetime.strptime(raw["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except (KeyError, ValueError):
        return time.time()


def udp_bound(port: int) -> bool:
    want = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    with open("/proc/net/udp") as f:
        next(f)
        return any(line.split()[1] in want for line in f)


class Sipp:
    """A sipp UAS (agents' phones or a carrier) on 127.0.0.1:port, errors traced only."""

    def __init__(self, scenario: str, port: int, workdir: Path, **variables: object) -> None:
        self.port = port
        self.workdir = workdir / f"sipp-{scenario}-{port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cmd = ["sipp", "-sf", str(SIPP_DIR / f"{scenario}.xml"), "-i", "127.0.0.1", "-p", str(port),
                    "-mi", "127.0.0.1", "-mp", str(40000 + (port % 5000) * 4), "-nostdin", "-aa",
                    "-trace_err", "-error_file", str(self.workdir / "errors.log")]
        for k, v in variables.items():
            self.cmd += ["-set", k, str(v)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Sipp":
        if udp_bound(self.port):
            raise RuntimeError(f"UDP port {self.port} is in use (a leftover sipp?)")
        out = open(self.workdir / "stdout.log", "wb")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, start_new_session=True)
        out.close()
        deadline = time.monotonic() + 5
        while not udp_bound(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sipp did not start on {self.port}: {' '.join(self.cmd)}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                return
            try:
                p.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
