"""A real HTTP receiver for webhook tests: uvicorn in a thread, recording every request; it can answer a chosen
status per path (with headers such as Retry-After, slowly, or a scripted series of answers), and be stopped
(connection refused) and started again on the same port. Used by the unit suite and the lab alike."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn


@dataclass
class Answer:
    """One scripted answer: its status, how long to wait before giving it, and extra headers."""

    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


class Receiver:
    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host  # any address of 127.0.0.0/8 (all of it is this machine's loopback)
        self.port = port or _free_port(host)
        self.requests: list[dict] = []  # in arrival order
        self.status: dict[str, int] = {}  # path -> status to answer (default 200)
        self.delay: dict[str, float] = {}  # path -> seconds to wait before answering (a slow CRM)
        self.headers: dict[str, dict[str, str]] = {}  # path -> extra response headers (e.g. Retry-After)
        self.script: dict[str, list[Answer]] = {}  # path -> the next answers, one per request, before the above
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget what was received and every chosen answer, for the next test."""
        with self._lock:
            self.requests.clear()
            for answers in (self.status, self.delay, self.headers, self.script):
                answers.clear()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def app(self, scope, receive, send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        with self._lock:
            scripted = self.script.get(path)
            answer = scripted.pop(0) if scripted else Answer(
                self.status.get(path, 200), self.delay.get(path, 0.0), dict(self.headers.get(path, {})))
            self.requests.append({
                "path": path, "headers": {k.decode().lower(): v.decode() for k, v in scope["headers"]},
                "body": body, "at": time.time(), "status": answer.status,
            })
        if answer.delay:
            await asyncio.sleep(answer.delay)
        headers = [(b"content-type", b"text/plain")] + [(k.lower().encode(), v.encode())
                                                          for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def start(self) -> "Receiver":
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off",
                                interface="asgi3")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(10)
            self.server = None

    def received(self, path: str, call_id: str | None = None) -> list[dict]:
        """Requests on path (for one call), in arrival order, with the JSON body parsed as `json`."""
        out = []
        with self._lock:
            requests = list(self.requests)
        for r in requests:
            if r["path"] != path:
                continue
            data = json.loads(r["body"])
            if call_id is None or data.get("call_id") == call_id:
                out.append({**r, "json": data})
        return out


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
