"""`click2call serve`: the HTTP API and the Stasis app in one process."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
import threading

import uvicorn

from . import logs
from . import secret_box
from .config import ConfigError, Settings
from .db import open_database
from .http.app import create_app
from .http.drain import DrainingServer
from .tenants import hash_token
from .webhooks.subscriptions import reseal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="click2call")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API and the Stasis app (configured by C2C_* environment variables)")
    serve.add_argument("--log-level", default="info")
    hasher = sub.add_parser("hash-token", help="print a token's stored form for C2C_TENANTS_FILE (reads stdin)")
    hasher.add_argument("--generate", action="store_true", help="make a new random token; print it and its hash")
    sub.add_parser("secret-key", help="print a new key for C2C_SECRET_KEY (hooks' secrets are stored encrypted)")
    sub.add_parser("rotate-secrets", help="encrypt every stored hook secret and callback_apikey again with the "
                                          "newest key of C2C_SECRET_KEY (configured like serve)")
    args = parser.parse_args(argv)
    if args.command == "hash-token":
        return _hash_token(args.generate)
    if args.command == "secret-key":
        print(secret_box.new_key())
        return 0
    if args.command == "rotate-secrets":
        return _rotate_secrets()

    fmt = os.environ.get("C2C_LOG_FORMAT", "text")
    if fmt not in ("text", "json"):
        print("click2call: configuration error: C2C_LOG_FORMAT must be text or json", file=sys.stderr)
        return 2
    log_config = logs.setup(args.log_level, fmt)
    # The SQLite writer (and aiosqlite, for reads) run in their own threads and hand results back to the event
    # loop. With Python's default 5 ms GIL switch interval each hand-off can wait that long while the loop is busy:
    # at 40 calls/s that once capped the service at ~20. 0.1 ms lets those threads in promptly (async p50 at 10/s
    # 6.6 ms with 5 ms, 5.7 ms with 0.1 ms, in a dev run of the benchmark).
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
    # With C2C_DRAIN_SECONDS, /readyz says 503 that long first, so that a load balancer stops sending requests.
    draining = threading.Event()
    config = uvicorn.Config(
        create_app(settings, draining), host=settings.listen_host, port=settings.listen_port,
        log_level=args.log_level, access_log=False, lifespan="on", log_config=log_config,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
    DrainingServer(config, draining, settings.drain_seconds).run()
    return 0


def _rotate_secrets() -> int:
    """Once every replica runs with the new key first in C2C_SECRET_KEY (the old ones after it): afterwards the old
    keys can be dropped."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"click2call: configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.secret_keys:
        print(f"click2call: C2C_SECRET_KEY is not set ({secret_box.NEW_KEY})", file=sys.stderr)
        return 2

    async def run() -> int:
        engine = await open_database(settings.database_url)
        try:
            return await reseal(engine, secret_box.SecretBox(settings.secret_keys), rotate=True)
        finally:
            await engine.dispose()

    try:
        changed = asyncio.run(run())
    except secret_box.SecretError as exc:
        print(f"click2call: {exc}", file=sys.stderr)
        return 2
    print(f"click2call: {changed} webhook(s) encrypted with the newest key")
    return 0


def _hash_token(generate: bool) -> int:
    """The token is read from stdin (not argv, which other users can see in `ps`)."""
    if generate:
        token = secrets.token_urlsafe(32)
        print(f"token: {token}\nstore: {hash_token(token)}")
        return 0
    token = sys.stdin.readline().strip()
    if len(token) < 16:
        print("click2call: a token must be at least 16 characters", file=sys.stderr)
        return 2
    print(hash_token(token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
