"""The ASGI application. Its lifespan owns the DB engine, the httpx client, the ARI event task, the Stasis app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..config import Settings
from ..errors import ApiError
from ..db import open_database
from ..records import CallStore
from ..service import ClickToCallService, RecordsService
from ..stasis_app.ari import Ari
from ..stasis_app.calls import StasisApp
from .routes import routes

log = logging.getLogger(__name__)


async def api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)


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
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), limits=limits) as client:
            ari = Ari(client, settings.ari_url, settings.ari_user, settings.ari_password, settings.ari_app)
            store = CallStore(engine)
            stasis = StasisApp(ari, store)
            app.state.settings = settings
            app.state.ari = ari
            app.state.stasis = stasis
            app.state.service = ClickToCallService(settings, ari, stasis)
            app.state.records = RecordsService(settings, store, stasis)
            await stasis.adopt_unfinished()  # before the event stream starts, so no event for them is missed
            events = asyncio.create_task(ari.run_events(stasis.on_event, stasis.on_connect), name="ari-events")
            try:
                yield
            finally:
                events.cancel()
                await stasis.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await events
                await engine.dispose()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: internal_error},
    )
