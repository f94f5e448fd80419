"""Run click2call for real against the lab: Asterisk from asterisk-conf/, simulated phones and carriers.

Extensions 101-110 are phones that answer after 2 s; hotline 02873000001 (trunk-a) reaches a carrier
that answers and hangs up after 20 s, hotline 02873000002 (trunk-b) one that answers and stays up.
Prints a working curl; Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click2call.secret_box import new_key
from lab import labkit

LISTEN = os.environ.get("C2C_LISTEN", "127.0.0.1:8000")
KEY_FILE = Path("click2call-demo.key")  # beside the demo's database (click2call.db): its hooks' secrets need it


def secret_key() -> str:
    """The demo's C2C_SECRET_KEY: made once and kept, so the database's encrypted secrets stay readable."""
    if not KEY_FILE.exists():
        KEY_FILE.touch(0o600)
        KEY_FILE.write_text(new_key() + "\n")
    return KEY_FILE.read_text().strip()


def main() -> int:
    print("starting the lab Asterisk ...", flush=True)
    lab = labkit.start()
    phones = labkit.Sipp("uas_answer", 5081, vars={"ring_ms": 2000}).start()
    carrier_a = labkit.Sipp("uas_answer_then_bye", 5070, vars={"ring_ms": 1000, "hold_ms": 20000}).start()
    carrier_b = labkit.Sipp("uas_answer", 5071, vars={"ring_ms": 1000}).start()
    labkit.register([str(e) for e in range(101, 111)], 5081)
    token = secrets.token_urlsafe(24)
    env = {**os.environ, **{k: v for k, v in lab.items() if k.startswith("C2C_")}}
    env.update({
        "C2C_API_TOKENS": token,
        "C2C_HOTLINES": "02873000001=trunk-a,02873000002=trunk-b",
        "C2C_LISTEN": LISTEN,
        # hooks to a receiver on this machine (everything here is local); see the README for a real network
        "C2C_WEBHOOK_ALLOWED_NETWORKS": os.environ.get("C2C_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"),
    })
    if "C2C_SECRET_KEY" not in os.environ:
        env["C2C_SECRET_KEY"] = secret_key()
    service = subprocess.Popen([sys.executable, "-m", "click2call", "serve"], env=env)
    try:
        wait_ready(service)
        print(f"""
click2call is running on http://{LISTEN} against the lab Asterisk (extensions 101-110 answer after 2 s).

  curl -s 'http://{LISTEN}/v1/click2call?ext=101&phone=0899098899' -H 'Authorization: Bearer {token}'
  curl -s 'http://{LISTEN}/v1/click2call/async?ext=102&phone=0899098899&hotline=02873000002&auto_answer=true' \\
       -H 'Authorization: Bearer {token}'
  curl -s 'http://{LISTEN}/v1/click2call?ext=119&phone=0899098899' -H 'Authorization: Bearer {token}'   # USER_NOT_REGISTERED

Web console: http://{LISTEN}/console (sign in with the token above)

SIP each phone and carrier received: {labkit.run_dir()}/sipp/ ; Asterisk log: {labkit.run_dir()}/asterisk.log
Ctrl-C to stop.
""", flush=True)
        service.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.terminate()
        service.wait(10)
        for proc in (phones, carrier_a, carrier_b):
            proc.stop()
        labkit.stop()
    return 0


def wait_ready(service: subprocess.Popen, timeout: float = 30) -> None:
    """Print the curls only once they work: /readyz says the ARI event stream is connected."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and service.poll() is None:
        try:
            with urllib.request.urlopen(f"http://{LISTEN}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("click2call did not become ready; see its log above")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)  # stop everything on SIGTERM as on Ctrl-C
    sys.exit(main())
