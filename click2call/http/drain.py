"""Leaving without dropping a request: on SIGTERM a replica behind a load balancer first says it is not ready
(/readyz 503) and goes on serving for C2C_DRAIN_SECONDS, so that the balancer stops sending it requests; only then
does it stop accepting connections and finish the requests in flight. A request that reached it as it closed its
listening socket would be lost (the balancer sees the connection closed and cannot know whether the click was
placed). A second SIGTERM (or SIGINT) stops it at once."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import uvicorn


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, draining: threading.Event, seconds: float) -> None:
        super().__init__(config)
        self.draining = draining  # /readyz answers 503 once it is set
        self.seconds = seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.seconds <= 0 or self.draining.is_set() or sig != signal.SIGTERM:
            super().handle_exit(sig, frame)
            return
        self.draining.set()
        timer = threading.Timer(self.seconds, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()
