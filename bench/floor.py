"""The floor: the same click-to-call done by a bare ARI driver (httpx + websockets, json.loads per event), with
no HTTP API, no database, no webhooks. What Asterisk itself costs, plus the least a Stasis app must do.

Per call: GET /endpoints/PJSIP/{ext} (exists, online, no channel), originate the agent leg into our Stasis app.
On the agent's StasisStart (it answered): create a mixing bridge, add the agent, create the customer channel
through the trunk; on the customer's StasisStart: add it to the bridge, dial. The carrier hangs up after its hold
time; the driver then hangs up the other leg and destroys the bridge when both are gone.

Run as `python -m bench.floor` with a JSON config on stdin (it carries the ARI password, so not in argv); prints
one JSON object: per-call timings, the driver's own CPU seconds over the step, and the ARI events it received.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
import uuid
from collections import Counter

import httpx
from websockets.asyncio.client import connect

from .common import asterisk_time


class Call:
    __slots__ = ("call_id", "ext", "t_send", "lat_originate", "error", "t_agent_answered", "t_connected",
                 "agent_gone", "customer_gone", "customer_created", "bridge", "done")

    def __init__(self, ext: str) -> None:
        self.call_id = str(uuid.uuid4())
        self.ext = ext
        self.t_send = 0.0
        self.lat_originate: float | None = None
        self.error: str | None = None
        self.t_agent_answered: float | None = None
        self.t_connected: float | None = None
        self.agent_gone = self.customer_gone = False
        self.customer_created = False
        self.bridge = False
        self.done = asyncio.Event()


class Floor:
    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.app = cfg["app"]
        self.base = cfg["ari_url"].rstrip("/") + "/ari"
        self.http = httpx.AsyncClient(auth=(cfg["ari_user"], cfg["ari_password"]), timeout=10,
                                      limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
        self.calls: dict[str, Call] = {}
        self.events: Counter[str] = Counter()
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def req(self, method: str, path: str, **params) -> httpx.Response:
        return await self.http.request(method, self.base + path, params=params or None)

    # ---- events ----

    def on_event(self, ev: dict) -> None:
        kind = ev.get("type", "")
        self.events[kind] += 1
        channel = ev.get("channel")
        if not channel:
            return
        call_id, _, leg = channel["id"].rpartition(".")
        call = self.calls.get(call_id)
        if call is None:
            return
        if kind == "StasisStart":
            if leg == "agent":
                call.t_agent_answered = asterisk_time(ev)
                self.spawn(self.agent_answered(call))
            else:
                self.spawn(self.customer_ready(call))
        elif kind == "ChannelStateChange" and leg == "customer" and channel.get("state") == "Up":
            call.t_connected = asterisk_time(ev)
        elif kind == "ChannelDestroyed":
            if leg == "agent":
                call.agent_gone = True
                if call.customer_created and not call.customer_gone:
                    self.spawn(self.req("DELETE", f"/channels/{call_id}.customer"))
            else:
                call.customer_gone = True
                if not call.agent_gone:
                    self.spawn(self.req("DELETE", f"/channels/{call_id}.agent"))
            if call.agent_gone and (call.customer_gone or not call.customer_created):
                self.spawn(self.finish(call))

    async def agent_answered(self, call: Call) -> None:
        cid = call.call_id
        call.customer_created = True  # from here on the call ends when both legs are gone
        await self.req("POST", f"/bridges/{cid}.bridge", type="mixing")
        call.bridge = True
        await self.req("POST", f"/bridges/{cid}.bridge/addChannel", channel=f"{cid}.agent")
        r = await self.req("POST", "/channels/create", endpoint=f"PJSIP/{self.cfg['phone']}@{self.cfg['trunk']}",
                           app=self.app, channelId=f"{cid}.customer", appArgs="customer")
        if r.status_code >= 400:
            call.customer_gone = True
            await self.req("DELETE", f"/channels/{cid}.agent")

    async def customer_ready(self, call: Call) -> None:
        cid = call.call_id
        await self.req("POST", f"/bridges/{cid}.bridge/addChannel", channel=f"{cid}.customer")
        await self.req("POST", f"/channels/{cid}.customer/dial", timeout=60)

    async def finish(self, call: Call) -> None:
        if call.bridge:
            await self.req("DELETE", f"/bridges/{call.call_id}.bridge")
        call.done.set()

    # ---- one click-to-call ----

    async def place(self, call: Call) -> None:
        call.t_send = time.time()
        started = time.perf_counter()
        r = await self.req("GET", f"/endpoints/PJSIP/{call.ext}")
        if r.status_code != 200:
            call.error = f"endpoint {r.status_code}"
        else:
            endpoint = r.json()
            if endpoint.get("state") != "online":
                call.error = "USER_NOT_REGISTERED"
            elif endpoint.get("channel_ids"):
                call.error = "USER_BUSY"
        if call.error is None:
            self.calls[call.call_id] = call
            r = await self.http.post(self.base + "/channels", params={
                "endpoint": f"PJSIP/{call.ext}", "app": self.app, "appArgs": "agent",
                "channelId": f"{call.call_id}.agent", "callerId": f"<{call.ext}>",
                "timeout": self.cfg.get("ring_timeout", 30),
            }, json={"variables": {"PJSIP_HEADER(add,X-Click2Call-Id)": call.call_id}})
            if r.status_code >= 400:
                call.error = f"originate {r.status_code}"
                del self.calls[call.call_id]
        call.lat_originate = time.perf_counter() - started
        if call.error is not None:
            call.done.set()

    async def run(self) -> dict:
        cfg = self.cfg
        ws_url = self.base.replace("http", "ws", 1) + f"/events?app={self.app}&subscribeAll=false"
        token = base64.b64encode(f"{cfg['ari_user']}:{cfg['ari_password']}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        async with connect(ws_url, additional_headers=headers, max_size=2**22) as ws:
            async def read() -> None:
                async for message in ws:
                    self.on_event(json.loads(message))

            reader = asyncio.create_task(read())
            exts, rate, n = cfg["exts"], cfg["rate"], cfg["calls"]
            calls = [Call(exts[i % len(exts)]) for i in range(n)]
            cpu0 = os.times()
            t0 = time.monotonic()
            for i, call in enumerate(calls):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.spawn(self.place(call))
            try:
                await asyncio.wait_for(asyncio.gather(*(c.done.wait() for c in calls)), cfg.get("drain_timeout", 60))
            except TimeoutError:
                pass
            while self.tasks:
                await asyncio.gather(*list(self.tasks), return_exceptions=True)
            cpu1 = os.times()
            reader.cancel()
        await self.http.aclose()
        return {
            "cpu": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
            "events": dict(self.events),
            "calls": [{"ext": c.ext, "t_send": c.t_send, "lat_originate": c.lat_originate, "error": c.error,
                       "t_agent_answered": c.t_agent_answered, "t_connected": c.t_connected,
                       "finished": c.done.is_set()} for c in calls],
        }


def main() -> None:
    cfg = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(Floor(cfg).run())))


if __name__ == "__main__":
    main()
