"""The ASGI application. Its lifespan owns the DB engine, the httpx client (ARI), the aiohttp session (webhooks),
the ARI event task, the Stasis app and the webhook dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..call_specs import CallSpecs
from ..config import Settings
from ..db import GroupCommit, open_database
from ..errors import ApiError
from ..metrics import Metrics
from ..ratelimit import Limits
from ..records import CallStore
from ..recordings import Recordings
from ..service import ClickToCallService, RecordsService
from ..stasis_app import recording_check
from ..stasis_app.ari import Ari
from ..stasis_app.calls import StasisApp
from ..webhooks.dispatcher import Dispatcher, Target
from ..webhooks.outbox import Outbox
from ..webhooks.retry import Policy
from ..webhooks.subscriptions import HookChanges, HooksService
from .routes import routes

log = logging.getLogger(__name__)


async def api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    # 404/405 from routing, in the API's error shape.
    assert isinstance(exc, HTTPException)
    code = "NOT_FOUND" if exc.status_code == 404 else "METHOD_NOT_ALLOWED" if exc.status_code == 405 else "HTTP_ERROR"
    return JSONResponse({"status": "fail", "error": code, "message": str(exc.detail)}, status_code=exc.status_code)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return JSONResponse({"status": "fail", "error": "INTERNAL_ERROR", "message": "internal error"}, status_code=500)


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        engine = await open_database(settings.database_url)
        # Webhooks go out through aiohttp: a POST costs ~0.13 ms of CPU there against ~1.5 ms through httpx, and a
        # call makes up to six of them (bench/REPORT.md). Not trust_env: it reads ~/.netrc and the proxy variables
        # at every request (0.65 ms), and a CRM's webhook URL is reached directly.
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), limits=limits) as client, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as webhook_http:
            metrics = Metrics()
            ari = Ari(client, settings.ari_url, settings.ari_user, settings.ari_password, settings.ari_app, metrics)
            default = Target(settings.webhook_url, None, settings.webhook_secrets) if settings.webhook_url else None
            policy = Policy(max_age=settings.webhook_retry_hours * 3600, base=settings.webhook_backoff,
                            cap=settings.webhook_backoff_max)
            write = GroupCommit(engine)  # one queue of durable writes: records, webhook claims and outcomes
            changes = HookChanges()  # the outbox and the dispatcher both keep a copy of the hooks
            dispatcher = Dispatcher(engine, webhook_http, default=default, global_secrets=settings.webhook_secrets,
                                    policy=policy, changes=changes, concurrency=settings.webhook_concurrency,
                                    timeout=settings.webhook_timeout, metrics=metrics, write=write)
            outbox = Outbox(settings.zoneinfo, default is not None, changes, dispatcher.take, dispatcher.lease)
            store = CallStore(engine, outbox, write)
            directory = settings.directory()
            specs = CallSpecs(settings, directory)
            stasis = StasisApp(ari, store, metrics, handoff_spec=specs.handoff_spec, ari_grace=settings.ari_grace)
            limits = Limits(settings.rate_limit, settings.rate_burst, settings.max_calls_per_token)
            hooks = HooksService(engine, settings.webhook_secrets, dispatcher.wake, changes)
            await hooks.sync_configured(directory.tenants)
            state = app.state
            state.settings = settings
            state.directory = directory
            state.ari = ari
            state.stasis = stasis
            state.limits = limits
            state.service = ClickToCallService(specs, ari, stasis, limits, metrics)
            state.records = RecordsService(settings.zoneinfo, store, stasis)
            state.hooks = hooks
            state.recordings = Recordings(settings.recordings_dir, store, ari)
            state.metrics = metrics
            state.dispatcher = dispatcher
            await stasis.adopt_unfinished()  # before the event stream starts, so no event for them is missed
            events = asyncio.create_task(ari.run_events(stasis.on_event, stasis.on_connect, stasis.on_disconnect),
                                         name="ari-events")
            sender = asyncio.create_task(dispatcher.run(), name="webhook-dispatcher")
            tasks = [events, sender]
            if settings.record:  # a stock Asterisk cannot record until its recording directory is made
                tasks.append(asyncio.create_task(recording_check.check_when_connected(ari), name="recording-check"))
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await dispatcher.close()
                await stasis.close()
                await write.close()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await engine.dispose()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: internal_error},
    )
