"""GET /v1/cdr/export's memory on a large export: fill a SQLite file with N synthetic finished records (written
directly, in big transactions), start the real service on it (`python -m click2call serve`, its ARI a port that
refuses connections: an export does not ask Asterisk), download the export while sampling the service's resident
memory (VmRSS, every 50 ms), and print the figures. Run for two sizes: a flat profile has the same peak for both.

    uv run python -m bench.export_memory 200000 1000000

Not part of the test suite (a timed, machine-dependent measurement); README "CSV export" has the last figures."""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

TOKEN = "export-memory-bench-0123456789"
HOTLINE = "02873000001"
NAMES = ("Chăm sóc khách hàng", "Phòng kinh doanh", "Hỗ trợ kỹ thuật", "")


def fill(path: Path, count: int) -> None:
    """`count` records, a year of them, written with sqlite3 in transactions of 50 000 (after the service's
    migrations made the schema)."""
    rng = random.Random(count)
    start = time.time() - 365 * 86400
    conn = sqlite3.connect(path)
    columns = ("call_id", "direction", "extension", "phone", "hotline", "trunk", "status", "phase", "phase_rank",
               "created_at", "updated_at", "answered_at", "ended_at", "duration", "billsec", "hangup_by", "cause",
               "cause_txt", "customer_id", "ring_group", "node", "agent_sip_call_id", "agent_created_at",
               "agent_answered_at", "agent_ended_at", "customer_sip_call_id", "customer_created_at",
               "customer_answered_at", "customer_ended_at")
    insert = f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    step = 365 * 86400 / count
    for first in range(0, count, 50_000):
        rows = []
        for n in range(first, min(count, first + 50_000)):
            created = start + n * step
            answered = created + rng.uniform(3, 20) if rng.random() < 0.6 else None
            ended = (answered or created) + rng.uniform(5, 600)
            rows.append((
                str(uuid.UUID(int=rng.getrandbits(128))), "outbound", str(100 + rng.randrange(300)),
                f"09{rng.randrange(10**8):08d}", HOTLINE, "trunk-a", "ANSWERED" if answered else "NO_ANSWER", "ended",
                7, created, ended, answered, ended, round(ended - created), round(ended - answered) if answered else 0,
                "customer", 16, "NORMAL_CLEARING", f"crm-{rng.randrange(10**6)}", rng.choice(NAMES), "asterisk",
                f"{uuid.uuid4()}@pbx", created, created + 2, ended, f"{uuid.uuid4()}@pbx", created + 2, answered,
                ended))
        conn.executemany(insert, rows)
        conn.commit()
    conn.close()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(count: int, work: Path) -> dict:
    db = work / f"calls-{count}.db"
    port, refusing = free_port(), socket.socket()
    refusing.bind(("127.0.0.1", 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_")} | {
        "C2C_API_TOKENS": TOKEN, "C2C_HOTLINES": f"{HOTLINE}=trunk-a", "C2C_DATABASE_URL": f"sqlite:///{db}",
        "C2C_LISTEN": f"127.0.0.1:{port}", "C2C_ARI_URL": f"http://127.0.0.1:{refusing.getsockname()[1]}",
        "C2C_ARI_PASSWORD": "x", "C2C_RECORDINGS_DIR": str(work / "rec")}
    base = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "click2call", "serve"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.TransportError:
                time.sleep(0.1)
        proc.kill()
        raise RuntimeError("the service did not start")

    proc = start()  # migrates the new file
    proc.terminate()
    proc.wait()
    started = time.monotonic()
    fill(db, count)
    filled = time.monotonic() - started
    proc = start()
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        httpx.get(base + "/v1/cdr", params={"limit": 500}, headers=headers, timeout=60)  # warm: code paths loaded
        before = rss_kb(proc.pid)
        peak, done = [before], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak.append(rss_kb(proc.pid))
                time.sleep(0.05)
        sampler = threading.Thread(target=sample)
        sampler.start()
        lines = size = 0
        began = time.monotonic()
        with httpx.stream("GET", base + "/v1/cdr/export", headers=headers, timeout=600) as r:
            r.raise_for_status()
            for chunk in r.iter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")  # a line ends \r\n; no value holds a line break
        took = time.monotonic() - began
        done.set()
        sampler.join()
        after = rss_kb(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
        refusing.close()
    return {"records": count, "lines": lines - 1, "mb": round(size / 2**20, 1), "seconds": round(took, 1),
            "fill_s": round(filled, 1), "rss_before_mb": round(before / 1024, 1),
            "rss_peak_mb": round(max(peak) / 1024, 1), "rss_after_mb": round(after / 1024, 1),
            "samples": len(peak)}


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [200_000, 1_000_000]
    with tempfile.TemporaryDirectory(prefix="c2c-export-") as tmp:
        for count in counts:
            result = measure(count, Path(tmp))
            print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)
            (Path(tmp) / f"calls-{count}.db").unlink()


if __name__ == "__main__":
    main()
