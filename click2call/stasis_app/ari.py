"""A small ARI client: REST over a pooled httpx client, events over one websocket with reconnect.

Events are handed to a synchronous callback in arrival order; the callback only routes them to
queues, so the reader never waits on call handling.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from websockets.asyncio.client import connect

from .. import backoff
from ..metrics import Metrics

log = logging.getLogger(__name__)


class AriError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"ARI {status}: {message}")
        self.status = status
        self.message = message


class AriUnavailable(AriError):
    """Asterisk could not be reached (connection refused, timeout)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class Ari:
    def __init__(self, http: httpx.AsyncClient, url: str, user: str, password: str, app: str,
                 metrics: Metrics | None = None) -> None:
        self.http = http
        self.base = url.rstrip("/") + "/ari"
        self.app = app
        self._auth = httpx.BasicAuth(user, password)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._ws_headers = {"Authorization": f"Basic {token}"}
        self._ws_url = self.base.replace("http", "ws", 1) + f"/events?app={app}&subscribeAll=false"
        self.connected = asyncio.Event()
        self.metrics = metrics or Metrics()

    async def request(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None) -> Any:
        started = time.perf_counter()
        try:
            response = await self.http.request(method, self.base + path, params=params, json=body, auth=self._auth)
        except httpx.TransportError as exc:
            self.metrics.ari_errors.labels("unreachable").inc()
            raise AriUnavailable(f"{type(exc).__name__}: {exc}") from None
        self.metrics.ari_latency.labels(method).observe(time.perf_counter() - started)
        if response.status_code >= 400:
            self.metrics.ari_errors.labels(f"{response.status_code // 100}xx").inc()
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise AriError(response.status_code, message)
        return response.json() if response.content else None

    async def download(self, path: str) -> bytes:
        """A binary resource (e.g. a stored recording's file)."""
        try:
            response = await self.http.get(self.base + path, auth=self._auth, timeout=60)
        except httpx.TransportError as exc:
            raise AriUnavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise AriError(response.status_code, response.text[:200])
        return response.content

    async def run_events(self, handle: Callable[[dict], None], on_connect: Callable[[], Awaitable[None]],
                         on_disconnect: Callable[[], None] = lambda: None) -> None:
        """Read the event stream forever; reconnect with backoff. Cancel the task to stop."""
        attempt = 0
        while True:
            try:
                async with connect(
                    self._ws_url, additional_headers=self._ws_headers, open_timeout=5, ping_interval=10, ping_timeout=10,
                    max_size=2**22,
                ) as ws:
                    attempt = 0
                    self.connected.set()
                    log.info("ARI events connected (app %s)", self.app)
                    await on_connect()
                    async for message in ws:
                        try:
                            event = json.loads(message)
                        except ValueError:
                            log.warning("ARI sent a message that is not JSON; ignored")
                            continue
                        handle(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the stream: reconnect
                log.warning("ARI events disconnected: %s: %s", type(exc).__name__, exc)
            finally:
                if self.connected.is_set():
                    self.connected.clear()
                    on_disconnect()
            self.metrics.ws_reconnects.inc()
            await asyncio.sleep(backoff.delay(attempt))
            attempt += 1
