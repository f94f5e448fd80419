"""Routes: parse, call one service function, serialise. The route list is at the bottom."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import validation
from ..errors import ApiError
from .auth import require_token


def success(call_id: str) -> JSONResponse:
    return JSONResponse({"status": "success", "call_id": call_id})


async def _click_to_call(request: Request, wait: bool) -> JSONResponse:
    state = request.app.state
    require_token(request, state.settings.api_tokens)
    req = validation.click_to_call(request.query_params)
    return success(await state.service.click_to_call(req, wait=wait))


async def click2call_sync(request: Request) -> JSONResponse:
    return await _click_to_call(request, wait=True)


async def click2call_async(request: Request) -> JSONResponse:
    return await _click_to_call(request, wait=False)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    if request.app.state.ari.connected.is_set():
        return JSONResponse({"status": "ok", "ari": "connected"})
    return JSONResponse(ApiError("SERVICE_UNAVAILABLE", "ARI websocket not connected").body(), status_code=503)


routes = [
    Route("/v1/click2call", click2call_sync, methods=["GET"]),
    Route("/v1/click2call/async", click2call_async, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
