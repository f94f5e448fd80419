"""GET /v1/stream on the real service and Asterisk, with real SIP (sipp phones and carriers): an SSE client filtered
to an agent's extension gets that agent's call events as they happen, with the webhooks' very bodies; a client that
drops mid-call and comes back with Last-Event-ID gets every event it missed, once, in order, then the live ones."""

from __future__ import annotations

import signal
import threading

import httpx
import pytest
from httpx_sse import connect_sse

from .conftest import HOTLINE_B, TOKEN
from .helpers import SECRET, final_record, first_receipts, unique_phone, wait_for

pytestmark = pytest.mark.lab

HEADERS = {"Authorization": f"Bearer {TOKEN}"}
CONNECTED_CALL = [("ringing", "agent"), ("answered", "agent"), ("ringing", "customer"), ("answered", "customer"),
                  ("hangup", "customer"), ("cdr", "")]


class Listener:
    """An SSE client in a thread of its own: the events it got; live once the stream said `retry:` (its backlog,
    if any, is sent before). `until(events) -> bool` drops the connection (as a client that goes away) once true."""

    def __init__(self, base: str, params: dict, last_event_id: str | None = None, until=None) -> None:
        self.base = base
        self.params = params
        self.headers = HEADERS | ({"Last-Event-ID": last_event_id} if last_event_id else {})
        self.until = until or (lambda events: False)
        self.events: list = []
        self.live = threading.Event()
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> "Listener":
        self._thread.start()
        wait_for(lambda: self.live.is_set() or self.ended.is_set(), 15, "the stream live")
        assert self.live.is_set(), f"the stream ended before it was live: {self.error!r}"
        return self

    def _read(self) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=httpx.Timeout(30.0)) as client, \
                    connect_sse(client, "GET", "/v1/stream", params=self.params, headers=dict(self.headers)) as source:
                source.response.raise_for_status()
                for sse in source.iter_sse():
                    if sse.retry is not None and not sse.data:
                        self.live.set()
                        continue
                    self.events.append(sse)
                    if self.until(self.events):
                        return  # leaving the block closes the connection: the client is gone
        except BaseException as exc:  # noqa: BLE001 (told to the test)
            self.error = exc
        finally:
            self.ended.set()

    def got(self, n: int, timeout: float = 20.0) -> list:
        wait_for(lambda: len(self.events) >= n or self.ended.is_set(), timeout, f"{n} events on the stream")
        assert len(self.events) >= n, f"the stream ended after {len(self.events)} events: {self.error!r}"
        return self.events

    def of(self, call_id: str) -> list:
        return [e for e in self.events if e.json()["call_id"] == call_id]


def click(svc, ext: str, path: str = "/v1/click2call/async") -> str:
    """A call the agent answers and the customer (carrier B) answers, then hangs up 1.5 s later."""
    r = httpx.get(svc.base + path, params={"ext": ext, "phone": unique_phone(), "hotline": HOTLINE_B},
                  headers=HEADERS, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["call_id"]


CALL_EVENTS = "ringing,answered,hangup,cdr"  # an agent's stream also has its agent events (tests/lab/test_agents.py)


def test_an_agents_stream_gets_its_calls_events_in_order_with_the_webhooks_bodies(own_service, receiver):
    svc = own_service(C2C_WEBHOOK_URL=receiver.url("/all"), C2C_WEBHOOK_SECRET=SECRET)
    agent = Listener(svc.base, {"extension": "110", "event": CALL_EVENTS}).start()  # not its agent events
    screen_pop = Listener(svc.base, {"extension": "110", "event": "ringing"}).start()
    other = click(svc, "108")  # another agent's call at the same time: not on these streams
    call_id = click(svc, "110", "/v1/click2call")
    events = agent.got(6)

    assert [(e.event, e.json()["leg"]) for e in events] == CONNECTED_CALL
    assert {e.json()["call_id"] for e in events} == {call_id}
    assert [e.json()["sequence"] for e in events] == [1, 2, 3, 4, 5, 6]
    ids = [int(e.id) for e in events]
    assert ids == sorted(set(ids))
    first = events[0].json()
    assert (first["from_number"], first["direction"], first["hotline"]) == ("110", "outbound", HOTLINE_B)
    assert events[5].json()["cdr"]["status"] == "ANSWERED"
    webhooks = {r["json"]["sequence"]: r["body"].decode() for r in first_receipts(receiver, "/all", call_id, 6)}
    assert [e.data for e in events] == [webhooks[n] for n in range(1, 7)]  # the very same JSON text

    assert [(e.event, e.json()["leg"]) for e in screen_pop.got(2)] == [("ringing", "agent"), ("ringing", "customer")]
    with httpx.Client(base_url=svc.base, headers=HEADERS) as api:
        final_record(api, other)
    assert not [e for e in agent.events + screen_pop.events if e.json()["call_id"] == other]


def test_a_client_that_drops_mid_call_gets_every_event_it_missed_on_reconnecting(own_service):
    svc = own_service()
    params = {"extension": "107", "event": CALL_EVENTS}
    # Gone after the agent's phone rang; back at once, while the call goes on; gone again once the customer answered.
    first = Listener(svc.base, params, until=lambda events: len(events) == 1).start()
    call_id = click(svc, "107")
    first.got(1)
    wait_for(first.ended.is_set, 10, "the first client gone")
    second = Listener(svc.base, params, last_event_id=first.events[-1].id,
                      until=lambda events: events[-1].event == "answered" and events[-1].json()["leg"] == "customer")
    second.start()
    wait_for(second.ended.is_set, 20, "the second client gone after the customer answered")
    with httpx.Client(base_url=svc.base, headers=HEADERS, timeout=30) as api:
        final_record(api, call_id)  # the hangup and the cdr come while nobody listens
    third = Listener(svc.base, params, last_event_id=second.events[-1].id)
    third.start()
    assert len(third.events) == 2  # the backlog, sent before the stream went live
    later = click(svc, "107")  # and live events after it
    third.got(8)

    got = first.events + second.events + third.events
    ids = [int(e.id) for e in got]
    assert ids == sorted(set(ids))  # each once, in order
    assert [(e.event, e.json()["leg"]) for e in got if e.json()["call_id"] == call_id] == CONNECTED_CALL
    assert [e.json()["sequence"] for e in got if e.json()["call_id"] == call_id] == [1, 2, 3, 4, 5, 6]
    assert [(e.event, e.json()["leg"]) for e in third.of(later)] == CONNECTED_CALL


def test_open_streams_end_cleanly_with_a_word_when_the_service_stops(own_service):
    """SIGTERM: each open stream ends at once with a comment saying why (its client reconnects elsewhere with
    Last-Event-ID), instead of holding the shutdown until C2C_SHUTDOWN_TIMEOUT and being cut."""
    svc = own_service(C2C_SHUTDOWN_TIMEOUT="60")
    lines: list[str] = []
    opened = threading.Event()

    def read() -> None:
        with httpx.stream("GET", svc.base + "/v1/stream", headers=HEADERS, timeout=90) as response:
            for line in response.iter_lines():  # raises if the answer is cut rather than ended
                lines.append(line)
                opened.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert opened.wait(15)
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.proc.wait(50) == 0  # well before the 60 s a stream left open would hold it
    reader.join(10)
    assert not reader.is_alive()
    assert lines[-2:] == [": the service is stopping: reconnect with Last-Event-ID to resume", ""]
