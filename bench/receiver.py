"""A CRM's webhook receiver for the benchmark: a bare asyncio HTTP/1.1 server (keep-alive) that notes the
arrival time of every request and answers 200. Run as `python -m bench.receiver PORT OUTFILE`; on SIGTERM it
writes one JSON line per request ({"at": epoch seconds, "body": the JSON body}) to OUTFILE and exits."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

received: list[tuple[float, bytes]] = []


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            received.append((time.time(), body))
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, out: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    with open(out, "w") as f:
        for at, body in received:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            f.write(json.dumps({"at": at, "body": parsed}) + "\n")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
