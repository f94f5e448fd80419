"""A real HTTP receiver for webhook tests: uvicorn in a thread, recording every request; it can answer a chosen
status per path, and be stopped (connection refused) and started again on the same port."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import uvicorn


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[dict] = []
        self.status: dict[str, int] = {}  # path -> status to answer (default 200)
        self.delay: dict[str, float] = {}  # path -> seconds to wait before answering (a slow CRM)
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def app(self, scope, receive, send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append({
            "path": scope["path"], "headers": {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            "body": body, "at": time.time(),
        })
        if self.delay.get(scope["path"]):
            await asyncio.sleep(self.delay[scope["path"]])
        await send({"type": "http.response.start", "status": self.status.get(scope["path"], 200),
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    def start(self) -> "Receiver":
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
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
        """Requests on path (for one call), with the JSON body parsed as `json`."""
        out = []
        for r in list(self.requests):
            if r["path"] != path:
                continue
            data = json.loads(r["body"])
            if call_id is None or data.get("call_id") == call_id:
                out.append({**r, "json": data})
        return out
