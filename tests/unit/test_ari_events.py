"""The ARI client's event reader against a real websocket server on 127.0.0.1 sending what Asterisk sends when the app
is subscribed to a channel and to its endpoint (endpoint:PJSIP): every event of the channel twice, the same bytes. The
reader hands each event on once, in order; distinct events, however alike, all pass."""

from __future__ import annotations

import asyncio
import json

import httpx
from websockets.asyncio.server import serve

from click2call.stasis_app.ari import Ari

T = "2026-11-30T15:14:54.{ms:03d}+0000"


def event(kind: str, state: str, ms: int) -> str:
    return json.dumps({"type": kind, "timestamp": T.format(ms=ms), "application": "c2c",
                       "channel": {"id": "c1.agent", "name": "PJSIP/118-00000002", "state": state}})


async def test_an_event_delivered_twice_is_handled_once():
    ringing, up, destroyed = event("ChannelStateChange", "Ringing", 1), event("ChannelStateChange", "Up", 2), \
        event("ChannelDestroyed", "Up", 3)
    other_ringing = event("ChannelStateChange", "Ringing", 4)  # alike, but another moment: another event
    sent = [ringing, ringing, up, up, other_ringing, destroyed, destroyed]

    async def asterisk(ws):
        for message in sent:
            await ws.send(message)
        await ws.wait_closed()

    got: list[dict] = []
    done = asyncio.Event()

    def handle(raw: dict) -> None:
        got.append(raw)
        if raw["type"] == "ChannelDestroyed":
            done.set()

    async def connected() -> None:
        pass

    async with serve(asterisk, "127.0.0.1", 0) as server, httpx.AsyncClient() as http:
        port = server.sockets[0].getsockname()[1]
        ari = Ari(http, f"http://127.0.0.1:{port}", "u", "p", "c2c")
        reader = asyncio.create_task(ari.run_events(handle, connected))
        try:
            async with asyncio.timeout(5):
                await done.wait()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    assert [(e["type"], e["channel"]["state"], e["timestamp"][-8:-5]) for e in got] == [
        ("ChannelStateChange", "Ringing", "001"), ("ChannelStateChange", "Up", "002"),
        ("ChannelStateChange", "Ringing", "004"), ("ChannelDestroyed", "Up", "003")]
