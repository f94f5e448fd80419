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

from ..config import Settings
from ..errors import ApiError
from ..db import GroupCommit, open_database
from ..delivery import Dispatcher, Policy, Target
from ..hooks import HooksService
from ..metrics import Metrics
from ..ratelimit import Limits
from ..records import CallStore
from ..recordings import Recordings
from ..service import ClickToCallService, RecordsService
from ..webhooks import Outbox
from ..stasis_app.ari import Ari
from ..stasis_app.calls import StasisApp
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
            dispatcher = Dispatcher(engine, webhook_http, default=default, global_secrets=settings.webhook_secrets,
                                    policy=policy, concurrency=settings.webhook_concurrency,
                                    timeout=settings.webhook_timeout, metrics=metrics, write=write)
            outbox = Outbox(settings.zoneinfo, default is not None, dispatcher.take, dispatcher.lease)

            def hooks_changed() -> None:  # both keep a copy of the hooks
                outbox.hooks_changed()
                dispatcher.forget_hooks()

            dispatcher.hooks_changed = hooks_changed
            store = CallStore(engine, outbox, write)
            stasis = StasisApp(ari, store)
            app.state.settings = settings
            app.state.directory = directory = settings.directory()
            app.state.ari = ari
            app.state.stasis = stasis
            app.state.limits = Limits(settings.rate_limit, settings.rate_burst, settings.max_calls_per_token)
            app.state.service = ClickToCallService(settings, ari, stasis, app.state.limits, directory)
            app.state.records = RecordsService(settings, store, stasis)
            app.state.hooks = HooksService(engine, settings.webhook_secrets, dispatcher.wake, hooks_changed)
            await app.state.hooks.sync_configured(directory.tenants)
            app.state.recordings = Recordings(settings.recordings_dir, store, ari)
            app.state.metrics = metrics
            app.state.dispatcher = dispatcher
            await stasis.adopt_unfinished()  # before the event stream starts, so no event for them is missed
            stasis.ari_grace = settings.ari_grace
            events = asyncio.create_task(ari.run_events(stasis.on_event, stasis.on_connect, stasis.on_disconnect),
                                         name="ari-events")
            sender = asyncio.create_task(dispatcher.run(), name="webhook-dispatcher")
            try:
                yield
            finally:
                events.cancel()
                sender.cancel()
                await dispatcher.close()
                await stasis.close()
                await write.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await events
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
                await engine.dispose()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: internal_error},
    )
