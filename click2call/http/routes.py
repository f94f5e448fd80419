"""Routes: parse, call one service function, serialise. The route list is at the bottom."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .. import validation
from ..cluster import view
from ..errors import ApiError
from ..metrics import CONTENT_TYPE_LATEST
from . import openapi
from .auth import Caller, require_token


def authorized(request: Request) -> Caller:
    """Who is calling: the tenant behind the request's Bearer token (else 401)."""
    return require_token(request, request.app.state.directory)


def success(call_id: str) -> JSONResponse:
    return JSONResponse({"status": "success", "call_id": call_id})


async def _click_to_call(request: Request, wait: bool) -> JSONResponse:
    state = request.app.state
    caller = authorized(request)
    state.limits.request(caller.key, time.monotonic())
    req = validation.click_to_call(request.query_params)
    return success(await state.service.click_to_call(req, caller.tenant, wait=wait, limit_key=caller.key))


async def click2call_sync(request: Request) -> JSONResponse:
    return await _click_to_call(request, wait=True)


async def click2call_async(request: Request) -> JSONResponse:
    return await _click_to_call(request, wait=False)


async def click2call_v2(request: Request) -> JSONResponse:
    """TEL4VN's v2: a JSON body, async behaviour, and "code" "0" / "1" beside "status" in every answer."""
    state = request.app.state
    try:
        caller = authorized(request)
        state.limits.request(caller.key, time.monotonic())
        req = validation.click_to_call_v2(await _json_body(request))
        call_id = await state.service.click_to_call(req, caller.tenant, wait=False, limit_key=caller.key)
    except ApiError as exc:
        return JSONResponse({**exc.body(), "code": "1"}, status_code=exc.status, headers=exc.headers)
    return JSONResponse({"status": "success", "code": "0", "call_id": call_id})


async def cdr_list(request: Request) -> JSONResponse:
    tenant = authorized(request).tenant
    return JSONResponse(await request.app.state.records.cdr_list(request.query_params, tenant))


async def cdr_get(request: Request) -> JSONResponse:
    tenant = authorized(request).tenant
    return JSONResponse(await request.app.state.records.cdr_get(request.path_params["id"], tenant))


async def calls_in_progress(request: Request) -> JSONResponse:
    tenant = authorized(request).tenant
    return JSONResponse({"status": "success", "data": await request.app.state.records.active_calls(tenant)})


async def call_hangup(request: Request) -> JSONResponse:
    tenant = authorized(request).tenant
    call_id = request.path_params["call_id"]
    await request.app.state.records.hangup(call_id, tenant)
    return success(call_id)


async def _json_body(request: Request):
    try:
        return await request.json()
    except ValueError:
        raise ApiError("INVALID_PARAMETER", "the body must be JSON") from None


async def hook_create(request: Request) -> JSONResponse:
    tenant = authorized(request).tenant
    hook = await request.app.state.hooks.create(await _json_body(request), tenant)
    return JSONResponse({"status": "success", "data": hook}, status_code=201)


async def hook_list(request: Request) -> JSONResponse:
    tenant = authorized(request).tenant
    return JSONResponse({"status": "success", "data": await request.app.state.hooks.list(tenant)})


async def hook_delete(request: Request) -> JSONResponse:
    tenant = authorized(request).tenant
    await request.app.state.hooks.delete(request.path_params["id"], tenant)
    return JSONResponse({"status": "success"})


async def hook_deliveries(request: Request) -> JSONResponse:
    tenant = authorized(request).tenant
    data = await request.app.state.hooks.deliveries(request.path_params["id"], tenant)
    return JSONResponse({"status": "success", "data": data})


async def delivery_resend(request: Request) -> JSONResponse:
    tenant = authorized(request).tenant
    await request.app.state.hooks.resend(request.path_params["id"], tenant)
    return JSONResponse({"status": "success"})


async def recording(request: Request) -> FileResponse:
    tenant = authorized(request).tenant
    path = await request.app.state.recordings.path(request.path_params["call_id"], tenant)
    return FileResponse(path, media_type="audio/wav")


async def metrics(request: Request) -> Response:
    """Prometheus exposition; carries no secrets, so it needs no token (keep it on a trusted network)."""
    state = request.app.state
    state.metrics.tasks.set(len(asyncio.all_tasks()))
    try:
        state.metrics.webhook_queue.set(await state.dispatcher.queue_depth())
    except Exception:  # the database being down must not hide the other metrics
        pass
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi.SPEC)


async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(openapi.docs_page())


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """One replica: ready while the event stream of every node is connected. A cluster's replica: while the database
    answers and every node is run by a live replica (a node whose Asterisk is down is reported so by its owner)."""
    state = request.app.state
    if not state.settings.cluster:
        down = state.replica.ready()
        if not down:
            return JSONResponse({"status": "ok", "ari": "connected"})
        message = "ARI websocket not connected" if len(state.replica.aris) == 1 else \
            f"ARI websocket not connected: node(s) {', '.join(down)}"
        return JSONResponse(ApiError("SERVICE_UNAVAILABLE", message).body(), status_code=503)
    try:
        unowned = await view.unowned(state.engine, list(state.replica.aris))
    except Exception:
        return JSONResponse(ApiError("SERVICE_UNAVAILABLE", "the database is not reachable").body(), status_code=503)
    if unowned:
        return JSONResponse(ApiError("SERVICE_UNAVAILABLE", f"no live replica runs node(s) {', '.join(unowned)}")
                            .body(), status_code=503)
    return JSONResponse({"status": "ok", "database": "reachable", "nodes": "run"})


async def cluster_status(request: Request) -> JSONResponse:
    """Nodes and replicas (the operator's tokens only)."""
    caller = authorized(request)
    if not caller.tenant.is_operator:
        raise ApiError("FORBIDDEN", "the cluster's state is for the operator's tokens")
    state = request.app.state
    body = await view.cluster(state.engine, state.replica.aris, state.settings.node_lease)
    if not state.settings.cluster:  # one replica runs every node, without leases
        for node in body["nodes"]:
            node.update(owner=state.replica.id, lease_expires_in=None)
        body["replicas"] = [{"id": state.replica.id, "name": state.settings.replica_name,
                             "last_seen_seconds_ago": 0.0, "live": True}]
    return JSONResponse({"status": "success", **body})


routes = [
    Route("/v1/click2call", click2call_sync, methods=["GET"]),
    Route("/v1/click2call/async", click2call_async, methods=["GET"]),
    Route("/v2/click2call", click2call_v2, methods=["POST"]),
    Route("/v1/cdr", cdr_list, methods=["GET"]),
    Route("/v1/cdr/{id}", cdr_get, methods=["GET"]),
    Route("/v1/call", calls_in_progress, methods=["GET"]),
    Route("/v1/call/{call_id}", call_hangup, methods=["DELETE"]),
    Route("/v1/call/{call_id}/hangup", call_hangup, methods=["POST"]),
    Route("/v1/event", hook_create, methods=["POST"]),
    Route("/v1/event", hook_list, methods=["GET"]),
    Route("/v1/event/{id}", hook_delete, methods=["DELETE"]),
    Route("/v1/event/{id}/deliveries", hook_deliveries, methods=["GET"]),
    Route("/v1/deliveries/{id}/resend", delivery_resend, methods=["POST"]),
    Route("/v1/recordings/{call_id}", recording, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/v1/cluster", cluster_status, methods=["GET"]),
]
