"""The webhook and record machinery of a click2call process, wired as its lifespan wires it (click2call/http/app.py),
on a real database, for the unit tests; and a way to wait for what happens off the test's path.
(Imported by the tests; no test module imports another.)"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import time
from collections.abc import Callable
from ipaddress import ip_network
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from click2call import validation
from click2call.audit import AuditLog
from click2call.config import Settings
from click2call.db import GroupCommit
from click2call.errors import ApiError
from click2call.http.app import api_error, http_error, internal_error
from click2call.http.routes import routes
from click2call.records import CallStore
from click2call.schema.hooks import HookCreate
from click2call.secret_box import SecretBox
from click2call.service import RecordsService
from click2call.tenants import Tenant
from click2call.webhooks.destinations import Reach
from click2call.webhooks.dispatcher import Dispatcher, Target
from click2call.webhooks.egress import Egress
from click2call.webhooks.outbox import Outbox
from click2call.webhooks.retry import Policy
from click2call.webhooks.subscriptions import HookChanges, HooksService

SECRET = "whsec_" + base64.b64encode(b"unit-test-webhook-secret-000001").decode()
HOOK_SECRET = "whsec_" + base64.b64encode(b"a-hook-of-its-own-secret-000002").decode()
UTC = ZoneInfo("UTC")
# Retries soon, so that the tests stay fast: 50 ms doubling up to 1 s.
FAST = Policy(max_age=60, base=0.05, cap=1.0)
# The key hooks' secrets are stored encrypted with (C2C_SECRET_KEY), and where API-made hooks may reach: the
# receivers of the tests listen on 127.0.0.1, so 127.0.0.0/8 is allowed (C2C_WEBHOOK_ALLOWED_NETWORKS).
SECRET_KEY = "fEyfJQ-wf9PxGrgrnOPVr4ZzVYN3TwXGJiHpC2aXc1U="
LOOPBACK = Reach((ip_network("127.0.0.0/8"),))
OPERATOR = Tenant(None, ())
ACME, BETA = Tenant("acme", ()), Tenant("beta", ())


async def eventually(predicate: Callable, timeout: float = 5.0, what: str = "condition"):
    """The first truthy value of predicate() (a function or a coroutine function), polled until timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class Process:
    """One click2call process's records and webhooks on a database: a GroupCommit, one HookChanges shared by the
    outbox and the dispatcher, the store writing through the outbox, the outbox handing what it committed to the
    dispatcher, and the dispatcher's poller running. `alive=False` is a process that died right after writing:
    its dispatcher never runs and never gets the hand-off, so what it wrote stays leased for `lease` seconds."""

    def __init__(self, engine: AsyncEngine, *, default_url: str | None = None, secrets: tuple[str, ...] = (SECRET,),
                 policy: Policy = FAST, timeout: float = 2.0, concurrency: int = 8, alive: bool = True,
                 lease: float | None = None, reach: Reach = LOOPBACK, keys: tuple[str, ...] = (SECRET_KEY,),
                 resolver=None) -> None:
        self.engine = engine
        self.default_url = default_url
        self.secrets = secrets
        self.policy = policy
        self.timeout = timeout
        self.concurrency = concurrency
        self.alive = alive
        self.lease = lease
        self.reach = reach  # where hooks made through the API may reach
        self.box = SecretBox(keys)
        self.resolver = resolver  # how names are resolved (default: aiohttp's, the system's)
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "Process":
        self.egress = Egress(self.resolver)
        self.write = GroupCommit(self.engine)
        self.changes = HookChanges()
        default = Target(self.default_url, None, self.secrets) if self.default_url else None
        self.dispatcher = Dispatcher(self.engine, self.egress, default=default, global_secrets=self.secrets,
                                     policy=self.policy, changes=self.changes, concurrency=self.concurrency,
                                     timeout=self.timeout, write=self.write, box=self.box, reach=self.reach)
        hand_off = self.dispatcher.take if self.alive else (lambda fresh: None)
        lease = self.dispatcher.lease if self.lease is None else self.lease
        self.outbox = Outbox(UTC, default is not None, self.changes, hand_off, lease)
        self.store = CallStore(self.engine, self.outbox, self.write)
        self.hooks = HooksService(self.engine, self.secrets, self.dispatcher.wake, self.changes, egress=self.egress,
                                  box=self.box, reach=self.reach)
        try:
            await self.hooks.seal_stored()  # as a start does
        except BaseException:
            await self.write.close()
            raise
        if self.alive:
            self._task = asyncio.create_task(self.dispatcher.run(), name="webhook-dispatcher")
        return self

    async def __aexit__(self, *exc) -> None:
        """As the lifespan ends: stop polling, let sends in flight finish, close the writer."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.dispatcher.close()
        await self.write.close()
        await self.egress.close()

    async def hook(self, path_url: str, event: str, tenant: Tenant = OPERATOR, **body) -> dict:
        body = validation.parse(HookCreate, {"callback_url": path_url, "event": event, **body})  # as the route does
        return await self.hooks.create(body, tenant)

    async def deliveries(self, hook_id: str, tenant: Tenant = OPERATOR) -> list[dict]:
        """A hook's deliveries as GET /v1/event/{id}/deliveries shows them, oldest first."""
        return sorted(await self.hooks.deliveries(hook_id, tenant), key=lambda d: (d["sequence"], d["call_id"]))

    async def idle(self) -> bool:
        """No delivery pending: each was delivered or given up."""
        return await self.dispatcher.queue_depth() == 0

    async def count(self, table: sa.Table, *where) -> int:
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))).scalar_one()


def api_client(settings: Settings, hooks: HooksService, store: CallStore) -> httpx.AsyncClient:
    """The service's real routes and error handlers over the given hooks and records (no ARI: the routes tested
    here do not reach it), as an HTTP client in this event loop."""
    app = Starlette(routes=routes,
                    exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: internal_error})
    app.state.directory = settings.directory()
    app.state.hooks = hooks
    app.state.records = RecordsService(settings.zoneinfo, store, replica=None)
    app.state.audit = AuditLog(store.engine, store._write, settings.zoneinfo)  # the trail shares the store's commits
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://click2call.test")
