"""One node's agents' presence, kept current from its ARI events by the replica that runs the node, and written to
the database (agent_presence, and the stream's agent events) for every replica's monitor and ring groups.

At every (re)connect: the app is subscribed to the node's PJSIP endpoints (their state, contacts and channels); the
endpoints and channels are listed (GET /endpoints/PJSIP, GET /channels) and each online endpoint's contact is read.
From then on the events keep it current (stasis_app/presence.py says which ones arrive and what they mean).

The contact's user agent and address are not in any event, and ARI's GET /asterisk/variable reads only global
variables (not PJSIP_CONTACT()): they are read from the contact object through ARI's dynamic configuration,
GET /asterisk/config/dynamic/res_pjsip/contact/<aor>;@<md5 of its URI> (the id Asterisk gives a registered contact),
and the endpoint's contacts through its AORs' `contact` lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from urllib.parse import quote, urlsplit

from .agent_store import AgentStore, Change
from .stasis_app import events, presence
from .stasis_app.ari import Ari, AriError
from .stasis_app.presence import ContactDetails, EndpointSeen, Presence

log = logging.getLogger(__name__)

EVENT_SOURCE = "endpoint:PJSIP"
RETRY_MAX = 5.0  # seconds between attempts to write presence while the database is away, at most


def contact_id(aor: str, uri: str) -> str:
    """The id Asterisk gives a contact registered to an AOR (res_pjsip/location.c)."""
    return f"{aor};@{hashlib.md5(uri.encode()).hexdigest()}"  # noqa: S324 (Asterisk's naming, not security)


def _attributes(found) -> dict[str, str]:
    return {a["attribute"]: a["value"] for a in found or () if isinstance(a, dict) and "attribute" in a}


def _config(kind: str, name: str) -> str:
    return f"/asterisk/config/dynamic/res_pjsip/{kind}/{quote(name, safe='')}"


class PresenceTracker:
    def __init__(self, ari: Ari, store: AgentStore, node: str, *, ignore: frozenset[str] = frozenset(),
                 release: bool = False, reads: int = 8) -> None:
        self.ari = ari
        self.store = store
        self.node = node
        self.ignore = ignore  # endpoints that are not agents (the hotline trunks)
        self.release = release  # unsubscribe at close (one replica stopping; a cluster's nodes live on)
        self.state: dict[str, Presence] = {}
        self._loaded = False
        self._queue: list[Change] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._touched: set[str] | None = None  # while listing: the extensions that had events since
        self._reads = asyncio.Semaphore(reads)  # contact reads at once (a reconnect reads every online endpoint)

    # ---- the event stream (StasisApp calls these) ----

    def on_event(self, raw: dict) -> None:
        event = events.agent_event(raw)
        if event is None or event.ext in self.ignore:
            return
        if self._touched is not None:
            self._touched.add(event.ext)
        before = self.state.get(event.ext) or Presence(event.ext, state_since=event.at)
        after = self._apply(before, event)
        match presence.contact_to_read(before, after, event):
            case "contact":
                self._spawn(self._read_contact(event.ext, event.aor, event.uri))
            case "endpoint":
                self._spawn(self._read_endpoint(event.ext))

    async def on_connect(self) -> None:
        """Before the events are read: the presence last written (so that a restart or a takeover tells the stream
        only what changed), the subscription; then the endpoints are listed, off the event reader."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name=f"presence-writer-{self.node}")
        if not self._loaded:
            try:
                self.state = {**await self.store.presence(self.node), **self.state}
                self._loaded = True
            except Exception:
                log.exception("node %s: agents' presence not read from the database; starting afresh", self.node)
        try:
            await self._subscribe()
        except AriError as exc:
            log.warning("node %s: not subscribed to the PJSIP endpoints (%s): agents' presence is not kept",
                        self.node, exc)
            return
        self._spawn(self._list())

    async def _subscribe(self) -> None:
        # Once per app: every subscription is counted by Asterisk and one unsubscription only takes one back.
        app = await self.ari.request("GET", f"/applications/{self.ari.app}")
        if "PJSIP" not in (app or {}).get("endpoint_ids", []):
            await self.ari.request("POST", f"/applications/{self.ari.app}/subscription",
                                   params={"eventSource": EVENT_SOURCE})

    async def close(self) -> None:
        for task in [*self._tasks, *([self._writer] if self._writer else [])]:
            task.cancel()
        if self.release:  # a stopped app's subscription would have Asterisk forward it every PJSIP event for ever
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self.ari.request("DELETE", f"/applications/{self.ari.app}/subscription",
                                           params={"eventSource": EVENT_SOURCE})

    # ---- what Asterisk has ----

    async def _list(self) -> None:
        """Every endpoint as Asterisk has it now; then the contacts of the online ones. An endpoint that has events
        while this runs is left to them (they are newer)."""
        self._touched = set()
        try:
            endpoints = await self.ari.request("GET", "/endpoints/PJSIP")
            channels = {c["id"]: c["state"] for c in await self.ari.request("GET", "/channels")}
        except AriError as exc:
            log.warning("node %s: endpoints not listed (%s); presence follows the events only", self.node, exc)
            return
        finally:
            touched, self._touched = self._touched, None
        now = time.time()
        listed = set()
        for endpoint in endpoints or ():
            ext = endpoint.get("resource", "")
            if not ext or ext in self.ignore:
                continue
            listed.add(ext)
            if ext in touched:
                continue
            ids = tuple(endpoint.get("channel_ids", ()))
            self._apply(self.state.get(ext) or Presence(ext, state_since=now), EndpointSeen(
                ext, endpoint.get("state") == "online", ids, now, {i: channels[i] for i in ids if i in channels}))
        for ext in [ext for ext in self.state if ext not in listed and ext not in touched]:  # no longer configured
            self._apply(self.state[ext], EndpointSeen(ext, False, (), now), forget=True)
            self.state.pop(ext, None)
        await asyncio.gather(*(self._read_endpoint(ext) for ext, p in list(self.state.items()) if p.online))

    async def _read_contact(self, ext: str, aor: str, uri: str) -> None:
        async with self._reads:
            try:
                details = await self._contact(ext, aor, uri) or await self._endpoint_contact(ext)
            except AriError as exc:
                log.info("node %s: contact of %s not read (%s)", self.node, ext, exc)
                details = ContactDetails(ext, uri, "", _host(uri), time.time())
        self._apply_details(details)

    async def _read_endpoint(self, ext: str) -> None:
        """The endpoint's registered contact: the first of its AORs' contacts that Asterisk has."""
        async with self._reads:
            try:
                details = await self._endpoint_contact(ext)
            except AriError as exc:
                log.info("node %s: contacts of %s not read (%s)", self.node, ext, exc)
                return
        self._apply_details(details)

    async def _endpoint_contact(self, ext: str) -> ContactDetails:
        aors = _attributes(await self.ari.request("GET", _config("endpoint", ext))).get("aors", "")
        for aor in filter(None, (a.strip() for a in aors.split(","))):
            uris = _attributes(await self.ari.request("GET", _config("aor", aor))).get("contact", "")
            for uri in filter(None, (u.strip() for u in uris.split(","))):
                # Listed but not readable as a registered contact (a permanent one): registered, details unknown.
                return await self._contact(ext, aor, uri) or ContactDetails(ext, uri, "", _host(uri), time.time())
        return ContactDetails(ext, "", "", "", time.time())

    async def _contact(self, ext: str, aor: str, uri: str) -> ContactDetails | None:
        try:
            found = _attributes(await self.ari.request("GET", _config("contact", contact_id(aor, uri))))
        except AriError as exc:
            if exc.status == 404:
                return None  # gone already, or a permanent contact (no registration)
            raise
        return ContactDetails(ext, uri, found.get("user_agent", ""), found.get("via_addr") or _host(uri), time.time())

    def _apply_details(self, details: ContactDetails) -> None:
        before = self.state.get(details.ext)
        if before is not None:
            self._apply(before, details)

    # ---- changes, written in order ----

    def _apply(self, before: Presence, event: presence.Event, forget: bool = False) -> Presence:
        after, told = presence.apply(before, event)
        self.state[after.ext] = after
        if after != before or forget:
            self._queue.append(Change(after, tuple(told), forget))
            self._wake.set()
        return after

    async def _write_loop(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            try:
                await self.store.save(self.node, batch)
                failures = 0
            except Exception:
                failures += 1
                log.exception("node %s: agents' presence not written (attempt %d); trying again", self.node, failures)
                self._queue[:0] = batch  # in order, before what came meanwhile
                await asyncio.sleep(min(RETRY_MAX, 0.2 * 2 ** failures))
                self._wake.set()

    def _spawn(self, work) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _host(uri: str) -> str:
    """The host of a SIP URI (sip:101@192.0.2.7:5060;transport=udp -> 192.0.2.7)."""
    try:
        return urlsplit("//" + uri.partition(":")[2].rpartition("@")[2].split(";")[0]).hostname or ""
    except ValueError:
        return ""
