"""A small ARI client: events over one websocket with reconnect, REST requests over that same websocket where
Asterisk takes them (ARI "REST over WebSocket", Asterisk 22.4 and later), else over a pooled httpx
client.

Events are handed to a synchronous callback in arrival order; the callback only routes them to
queues, so the reader never waits on call handling. REST responses on the websocket wake the request that waits
for them. A request over the websocket costs a fraction of an HTTP one (no connection pool, no HTTP parsing on
either side), which is most of what the service spends per call on ARI.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .. import ari_tls, backoff
from ..metrics import Metrics

log = logging.getLogger(__name__)

RECENT_EVENTS = 64  # how far back a repeated event is looked for (its copies come next to each other)


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
                 metrics: Metrics | None = None, tls: ssl.SSLContext | None = None) -> None:
        """`http` must verify with the same `tls` context (the app builds both from ari_tls.client_context)."""
        self.http = http
        self.base = url.rstrip("/") + "/ari"
        self.app = app
        self._auth = httpx.BasicAuth(user, password)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._ws_headers = {"Authorization": f"Basic {token}"}
        self._ws_url = self.base.replace("http", "ws", 1) + f"/events?app={app}&subscribeAll=false"  # https: wss
        # wss:// verifies Asterisk's certificate; with no context given, against the system's trust store.
        self._tls = (tls or ari_tls.client_context()) if self._ws_url.startswith("wss:") else None
        self.last_error: str | None = None  # why the event stream could not connect, until it does
        self.connected = asyncio.Event()
        self.metrics = metrics or Metrics()
        self.timeout = 10.0  # seconds a REST request over the websocket waits for its response
        self._ws = None  # the event websocket, once it has answered a REST request (else REST goes over HTTP)
        self._waiting: dict[str, asyncio.Future] = {}  # request_id -> the response's future
        self._ids = itertools.count()

    async def request(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None) -> Any:
        if self._ws is not None:
            return await self._ws_request(self._ws, method, path, params, body)
        started = time.perf_counter()
        try:
            response = await self.http.request(method, self.base + path, params=params, json=body, auth=self._auth)
        except httpx.TransportError as exc:
            self.metrics.ari_errors.labels("unreachable").inc()
            raise AriUnavailable(self._unreachable(exc)) from None
        return self._answer(method, path, started, response.status_code, response.text)

    async def _ws_request(self, ws, method: str, path: str, params: dict | None, body: dict | None) -> Any:
        request_id = str(next(self._ids))
        message: dict = {"type": "RESTRequest", "request_id": request_id, "method": method, "uri": path.lstrip("/")}
        if params:
            message["query_strings"] = [{"name": k, "value": _param(v)} for k, v in params.items()]
        if body is not None:
            message["content_type"] = "application/json"
            message["message_body"] = json.dumps(body)
        started = time.perf_counter()
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await ws.send(json.dumps(message))
            response = await asyncio.wait_for(future, self.timeout)
        except (TimeoutError, ConnectionClosed, AriUnavailable) as exc:
            self.metrics.ari_errors.labels("unreachable").inc()
            raise AriUnavailable(f"{type(exc).__name__}: {exc}") from None
        finally:
            self._waiting.pop(request_id, None)
        return self._answer(method, path, started, response.get("status_code", 0), response.get("message_body") or "",
                            response.get("reason_phrase", ""))

    def _answer(self, method: str, path: str, started: float, status: int, text: str, reason: str = "") -> Any:
        """A REST answer, over HTTP or the websocket: its JSON body, or AriError with Asterisk's message."""
        self.metrics.ari_latency.labels(method).observe(time.perf_counter() - started)
        log.debug("ARI %s %s: %s", method, path, status)
        if status >= 400 or status == 0:
            self.metrics.ari_errors.labels(f"{status // 100}xx").inc()
            try:
                message = json.loads(text).get("message", text)
            except (ValueError, AttributeError):
                message = text
            raise AriError(status, message or reason)
        return json.loads(text) if text else None

    def _unreachable(self, exc: Exception) -> str:
        """Why Asterisk could not be reached: a TLS failure in words, else the exception."""
        return ari_tls.failure(exc, self.base) or f"{type(exc).__name__}: {exc}"

    async def filter_events(self, types: list[str]) -> None:
        """Have Asterisk send the app only these event types (and the responses to REST requests)."""
        allowed = [{"type": kind} for kind in [*types, "RESTResponse"]]
        await self.request("PUT", f"/applications/{self.app}/eventFilter", body={"allowed": allowed})

    async def _use_ws_for_rest(self, ws) -> None:
        """Send REST requests over the websocket from now on, if Asterisk answers one there (older ones ignore it)."""
        try:
            await self._ws_request(ws, "GET", "/asterisk/ping", None, None)
        except AriError as exc:
            log.info("ARI REST over the websocket not available (%s); using HTTP", exc)
            return
        self._ws = ws

    def _stop_ws_rest(self) -> None:
        self._ws = None
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(AriUnavailable("the ARI websocket closed"))

    async def download(self, path: str) -> bytes:
        """A binary resource (e.g. a stored recording's file)."""
        try:
            response = await self.http.get(self.base + path, auth=self._auth, timeout=60)
        except httpx.TransportError as exc:
            raise AriUnavailable(self._unreachable(exc)) from None
        if response.status_code >= 400:
            raise AriError(response.status_code, response.text[:200])
        return response.content

    async def run_events(self, handle: Callable[[dict], None], on_connect: Callable[[], Awaitable[None]],
                         on_disconnect: Callable[[], None] = lambda: None) -> None:
        """Read the event stream forever; reconnect with backoff. Cancel the task to stop."""
        attempt = 0
        while True:
            probe = None
            try:
                async with connect(
                    self._ws_url, additional_headers=self._ws_headers, open_timeout=5, ping_interval=10, ping_timeout=10,
                    max_size=2**22, ssl=self._tls,
                ) as ws:
                    attempt = 0
                    self.last_error = None
                    self.connected.set()
                    log.info("ARI events connected (app %s)", self.app)
                    await on_connect()
                    probe = asyncio.create_task(self._use_ws_for_rest(ws))
                    recent: dict = {}  # the last events, to drop an event delivered twice
                    async for message in ws:
                        # Asterisk sends an event twice when the app is subscribed to its object by two routes: a
                        # channel of a call, and its endpoint (the subscription to endpoint:PJSIP for agents'
                        # presence); both copies are the same bytes (same timestamp and snapshot).
                        if message in recent:
                            continue
                        recent[message] = None
                        if len(recent) > RECENT_EVENTS:
                            del recent[next(iter(recent))]
                        try:
                            event = json.loads(message)
                        except ValueError:
                            log.warning("ARI sent a message that is not JSON; ignored")
                            continue
                        if event.get("type") == "RESTResponse":
                            future = self._waiting.get(event.get("request_id"))
                            if future is not None and not future.done():
                                future.set_result(event)
                            continue
                        handle(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the stream: reconnect (never without verification)
                tls_failure = ari_tls.failure(exc, self.base)
                self.last_error = tls_failure or f"{type(exc).__name__}: {exc}"
                if tls_failure:
                    log.error("%s; not connected, retrying", tls_failure)
                else:
                    log.warning("ARI events disconnected: %s", self.last_error)
            finally:
                if probe is not None:
                    probe.cancel()
                self._stop_ws_rest()
                if self.connected.is_set():
                    self.connected.clear()
                    on_disconnect()
            self.metrics.ws_reconnects.inc()
            await asyncio.sleep(backoff.delay(attempt))
            attempt += 1


def _param(value: Any) -> str:
    """A query parameter as httpx would send it (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
