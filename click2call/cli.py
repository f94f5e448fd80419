"""`click2call serve`: the HTTP API and the Stasis app in one process."""

from __future__ import annotations

import argparse
import os
import signal
import sys

import uvicorn

from . import logs
from .config import ConfigError, Settings
from .http.app import create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="click2call")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API and the Stasis app (configured by C2C_* environment variables)")
    serve.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    fmt = os.environ.get("C2C_LOG_FORMAT", "text")
    if fmt not in ("text", "json"):
        print("click2call: configuration error: C2C_LOG_FORMAT must be text or json", file=sys.stderr)
        return 2
    log_config = logs.setup(args.log_level, fmt)
    # The database driver (aiosqlite) runs in its own thread and hands every result back to the event loop. With
    # Python's default 5 ms GIL switch interval each hand-off can wait that long while the loop is busy, and a call
    # makes dozens of them in sequence on one connection: at 40 calls/s that capped the service at ~20. 0.1 ms
    # lets the driver's thread in promptly; the event loop is the only other thread that wants the GIL.
    sys.setswitchinterval(0.0001)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"click2call: configuration error: {exc}", file=sys.stderr)
        return 2
    # uvicorn re-raises the signal it stopped on once it is done; with these handlers in place that ends in a
    # normal exit (status 0) instead of death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    # SIGTERM: uvicorn stops accepting connections, lets requests in flight (sync click-to-calls waiting for
    # the agent) finish for up to C2C_SHUTDOWN_TIMEOUT, then the lifespan closes the rest; exit status 0.
    uvicorn.run(
        create_app(settings), host=settings.listen_host, port=settings.listen_port,
        log_level=args.log_level, access_log=False, lifespan="on", log_config=log_config,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
