"""Routes: parse with the operation's model, call one service function, serialise with the models the OpenAPI
document and the webhooks use. The operation list is at the bottom; a handler's docstring is its summary."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from pathlib import Path

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse

from .. import stats as statistics
from .. import validation
from ..cluster import view
from ..console_session import COOKIE
from ..live_stream import Wanted
from ..metrics import CONTENT_TYPE_LATEST
from ..schema.audit import AuditFilters, AuditPage
from ..schema.agents import AgentMonitor, AgentPaused, MonitorQuery, PauseBody
from ..schema.cluster import Cluster, ClusterReplica
from ..schema.cdr import Cdr, CdrFilters, CdrPage, CdrSelection
from ..schema.console import ConsoleSession, Me, SessionCreate
from ..schema.stats import Stats, StatsQuery
from ..schema.call_control import DtmfBody, LegsBody, SuperviseBody, TransferBody
from ..schema.click_to_call import ClickToCall, ClickToCallV2
from ..states import AuditAction, CallAction, Scope
from ..schema.hooks import HookCreate
from ..schema.stream import StreamQuery
from ..errors import ApiError
from ..schema.responses import (
    CallList, DeliveryList, Health, HookCreated, HookList, Ok, Ready, Success, TransferStarted, V2Fail, V2Success,
)
from . import audit_fields, openapi
from .operation import Caller, Media, Operation

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = {  # what /docs loads: Swagger UI (vendored, scripts/vendor-swagger-ui.sh) and our start-up script
    "swagger-ui-bundle.js": (STATIC / "swagger-ui" / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (STATIC / "swagger-ui" / "swagger-ui.css", "text/css"),
    "docs.js": (STATIC / "docs.js", "text/javascript"),
}
# Scripts only from here (no inline script); Swagger UI sets styles inline and draws icons from data: URLs.
DOCS_POLICY = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                                          "form-action 'none'; frame-ancestors 'none'"}

CONSOLE = STATIC / "console"  # the web console: ES modules and stylesheets, no build step (README "Web console")
CONSOLE_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                 ".txt": "text/plain; charset=utf-8"}
# Nothing inline and nothing from elsewhere: an injected script or style cannot run, the page cannot be framed.
CONSOLE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; media-src 'self'; font-src 'self'; manifest-src 'self'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",  # asked again each time: an upgraded service serves its own modules at once
}


async def click2call_sync(request: Request, caller: Caller, query: ClickToCall) -> Success:
    """Click-to-call, synchronous: returns when the agent answers or the agent leg ends"""
    return await _click_to_call(request, caller, query, wait=True)


async def click2call_async(request: Request, caller: Caller, query: ClickToCall) -> Success:
    """Click-to-call, asynchronous: returns once the agent's phone rings"""
    return await _click_to_call(request, caller, query, wait=False)


async def _click_to_call(request: Request, caller: Caller, query: ClickToCall, wait: bool) -> Success:
    service = request.app.state.service
    return Success(status="success", call_id=await service.click_to_call(
        query, caller.tenant, wait=wait, limit_key=caller.key))


async def click2call_v2(request: Request, caller: Caller, body: ClickToCallV2) -> V2Success:
    """TEL4VN v2: JSON body, asynchronous, code 0/1"""
    service = request.app.state.service
    call_id = await service.click_to_call(body, caller.tenant, wait=False, limit_key=caller.key)
    return V2Success(status="success", code="0", call_id=call_id)


async def cdr_list(request: Request, caller: Caller, query: CdrFilters) -> CdrPage:
    """Call records, newest first"""
    return await request.app.state.records.cdr_list(query, caller.tenant)


async def cdr_export(request: Request, caller: Caller, query: CdrSelection) -> StreamingResponse:
    """Call records as CSV (UTF-8 with BOM), newest first: GET /v1/cdr's filters, every matching record, streamed"""
    name = time.strftime("cdr-%Y%m%d-%H%M%S.csv", time.gmtime())
    return StreamingResponse(request.app.state.records.cdr_export(query, caller.tenant),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def cdr_get(request: Request, caller: Caller) -> Cdr:
    """One call record by call_id or either leg's SIP Call-ID"""
    return await request.app.state.records.cdr_get(request.path_params["id"], caller.tenant)


async def call_stats(request: Request, caller: Caller, query: StatsQuery) -> Stats:
    """Call statistics of a period, per hour, day, hotline, extension or tenant (computed by the database)"""
    state = request.app.state
    return await statistics.compute(state.engine, caller.tenant, query, state.settings.zoneinfo)


async def calls_in_progress(request: Request, caller: Caller) -> CallList:
    """Calls in progress"""
    return CallList(status="success", data=await request.app.state.records.active_calls(caller.tenant))


async def call_hangup(request: Request, caller: Caller) -> Success:
    """Hang up both legs"""
    call_id = request.path_params["call_id"]
    await request.app.state.records.hangup(call_id, caller.tenant)
    return Success(status="success", call_id=call_id)


async def _control(request: Request, caller: Caller, action: CallAction, body: LegsBody) -> Success:
    call_id = request.path_params["call_id"]
    digits = body.digits if isinstance(body, DtmfBody) else ""
    await request.app.state.call_control.control(call_id, caller.tenant, action, body.legs, digits)
    return Success(status="success", call_id=call_id)


async def call_hold(request: Request, caller: Caller, body: LegsBody) -> Success:
    """Put a party on hold: out of the conversation, it hears music on hold"""
    return await _control(request, caller, CallAction.HOLD, body)


async def call_unhold(request: Request, caller: Caller, body: LegsBody) -> Success:
    """Take a party off hold: back in the conversation"""
    return await _control(request, caller, CallAction.UNHOLD, body)


async def call_mute(request: Request, caller: Caller, body: LegsBody) -> Success:
    """Mute a party: what it says no longer reaches the others"""
    return await _control(request, caller, CallAction.MUTE, body)


async def call_unmute(request: Request, caller: Caller, body: LegsBody) -> Success:
    """Unmute a party"""
    return await _control(request, caller, CallAction.UNMUTE, body)


async def call_dtmf(request: Request, caller: Caller, body: DtmfBody) -> Success:
    """Send DTMF digits (RFC 4733) to a party, e.g. to walk a customer's IVR"""
    return await _control(request, caller, CallAction.DTMF, body)


async def _supervise(request: Request, caller: Caller, mode: CallAction, body: SuperviseBody) -> Success:
    call_id = request.path_params["call_id"]
    await request.app.state.call_control.supervise(call_id, caller.tenant, mode, body.ext)
    return Success(status="success", call_id=call_id)


async def call_listen(request: Request, caller: Caller, body: SuperviseBody) -> Success:
    """A supervisor listens: rung, it hears both parties; nobody hears it"""
    return await _supervise(request, caller, CallAction.LISTEN, body)


async def call_whisper(request: Request, caller: Caller, body: SuperviseBody) -> Success:
    """A supervisor whispers: it hears both parties; only the agent hears it"""
    return await _supervise(request, caller, CallAction.WHISPER, body)


async def call_barge(request: Request, caller: Caller, body: SuperviseBody) -> Success:
    """A supervisor barges in: all three hear each other"""
    return await _supervise(request, caller, CallAction.BARGE, body)


async def call_transfer(request: Request, caller: Caller, body: TransferBody) -> TransferStarted:
    """Transfer a party (legs) to an extension or an external number, blind or attended: answers once the target
    rings; the outcome is the `transfer` webhook's"""
    call_id = request.path_params["call_id"]
    await request.app.state.call_control.transfer(call_id, caller.tenant, body.legs, body.ext or "", body.phone or "",
                                                  body.mode, body.hold)
    target = {"ext": body.ext} if body.ext else {"phone": body.phone}
    return TransferStarted(status="success", call_id=call_id, **target)


async def call_park(request: Request, caller: Caller, body: LegsBody) -> Success:
    """Park a party (legs): the other leaves; it hears music on hold until a transfer picks it up, or
    C2C_PARK_TIMEOUT (10 s) ends it"""
    call_id = request.path_params["call_id"]
    await request.app.state.call_control.park(call_id, caller.tenant, body.legs)
    return Success(status="success", call_id=call_id)


async def hook_create(request: Request, caller: Caller, body: HookCreate) -> HookCreated:
    """Subscribe a webhook to one event"""
    return HookCreated(status="success", data=await request.app.state.hooks.create(body, caller.tenant))


async def hook_list(request: Request, caller: Caller) -> HookList:
    """Webhook subscriptions"""
    return HookList(status="success", data=await request.app.state.hooks.list(caller.tenant))


async def hook_delete(request: Request, caller: Caller) -> Ok:
    """Remove a subscription"""
    await request.app.state.hooks.delete(request.path_params["id"], caller.tenant)
    return Ok(status="success")


async def hook_deliveries(request: Request, caller: Caller) -> DeliveryList:
    """A subscription's deliveries and attempts"""
    data = await request.app.state.hooks.deliveries(request.path_params["id"], caller.tenant)
    return DeliveryList(status="success", data=data)


async def delivery_resend(request: Request, caller: Caller) -> Ok:
    """Send a delivery again (same webhook-id and body)"""
    await request.app.state.hooks.resend(request.path_params["id"], caller.tenant)
    return Ok(status="success")


async def stream(request: Request, caller: Caller, query: StreamQuery) -> EventSourceResponse:
    """Live call and agent events (Server-Sent Events), resumable from the last one received (Last-Event-ID)"""
    header = request.headers.get("last-event-id", "").strip()
    # An EventSource sends the header when it reconnects, with the URL it was given: the header is the newer word.
    after = validation.position(header, "Last-Event-ID") if header else query.last_event_id
    if query.extension is not None:
        caller.tenant.check_own(query.extension)
    tenant = caller.tenant
    # An agent token's stream is its own extension's events alone (its screen-pop, nobody else's).
    wanted = Wanted(tenant.is_operator, tenant.name, query.extension or tenant.agent, query.event)
    state = request.app.state
    stopping = anyio.Event()  # set by sse-starlette when the server stops: the stream then ends with a word why
    return EventSourceResponse(
        state.stream.stream(wanted, after, stopping), ping=state.settings.stream_heartbeat,
        ping_message_factory=lambda: ServerSentEvent(comment="heartbeat"), shutdown_event=stopping,
        shutdown_grace_period=STREAM_GRACE, send_timeout=STREAM_SEND_TIMEOUT)


async def recording(request: Request, caller: Caller) -> FileResponse:
    """A call's recording (wav), with HTTP Range"""
    path = await request.app.state.recordings.path(request.path_params["call_id"], caller.tenant)
    return FileResponse(path, media_type="audio/wav")


async def metrics(request: Request, caller: None) -> Response:
    """Prometheus metrics (no token: they hold no secrets; keep them on a trusted network)"""
    state = request.app.state
    state.metrics.tasks.set(len(asyncio.all_tasks()))
    try:
        state.metrics.webhook_queue.set(await state.dispatcher.queue_depth())
    except Exception:  # the database being down must not hide the other metrics
        pass
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def openapi_json(request: Request, caller: None) -> JSONResponse:
    """This description (OpenAPI 3.1)"""
    return JSONResponse(spec())


async def docs(request: Request, caller: None) -> HTMLResponse:
    """The API as an interactive page (Swagger UI), served from this service alone"""
    return HTMLResponse(openapi.docs_page(spec()), headers=DOCS_POLICY)


async def docs_asset(request: Request, caller: None) -> FileResponse:
    """A file of the /docs page"""
    found = DOCS_ASSETS.get(request.path_params["asset"])
    if found is None:
        raise HTTPException(404, "no such file")
    path, content_type = found
    return FileResponse(path, media_type=content_type, headers={"Cache-Control": "public, max-age=3600"})


async def healthz(request: Request, caller: None) -> Health:
    """The process is up"""
    return Health(status="ok")


async def readyz(request: Request, caller: None) -> Ready | JSONResponse:
    """Ready to serve: one replica, while the ARI event stream of every node is connected; a cluster's replica, while
    the database answers and a live replica runs every node (one whose Asterisk is down is reported so by it)"""
    state = request.app.state
    if state.draining.is_set():
        return JSONResponse(ApiError("SERVICE_UNAVAILABLE", "stopping: draining for the load balancer").body(),
                            status_code=503)
    if not state.settings.cluster:
        down = state.replica.ready()
        if not down:
            return Ready(status="ok", ari="connected")
        message = "ARI websocket not connected" if len(state.replica.aris) == 1 else \
            f"ARI websocket not connected: node(s) {', '.join(down)}"
        # why, when a node's stream could not connect (e.g. its TLS certificate failed verification)
        reasons = [f"{node}: {why}" if len(state.replica.aris) > 1 else why
                   for node in down if (why := state.replica.aris[node].last_error)]
        if reasons:
            message += " (" + "; ".join(reasons) + ")"
        return JSONResponse(ApiError("SERVICE_UNAVAILABLE", message).body(), status_code=503)
    try:
        unowned = await view.unowned(state.engine, list(state.replica.aris))
    except Exception:
        return JSONResponse(ApiError("SERVICE_UNAVAILABLE", "the database is not reachable").body(), status_code=503)
    if unowned:
        return JSONResponse(ApiError("SERVICE_UNAVAILABLE", f"no live replica runs node(s) {', '.join(unowned)}")
                            .body(), status_code=503)
    return Ready(status="ok", database="reachable", nodes="run")


async def cluster_status(request: Request, caller: Caller) -> Cluster:
    """The cluster: Asterisk nodes (reachable, owner, lease, registered extensions, calls in progress) and replicas
    (the operator's tokens)"""
    if not caller.tenant.is_operator:
        raise ApiError("FORBIDDEN", "the cluster's state is for the operator's tokens")
    state = request.app.state
    found = await view.cluster(state.engine, state.replica.aris, state.settings.node_lease, state.settings.trunks())
    if not state.settings.cluster:  # one replica runs every node, without leases
        for node in found["nodes"]:
            node.update(owner=state.replica.id, lease_expires_in=None)
        found["replicas"] = [ClusterReplica(id=state.replica.id, name=state.settings.replica_name,
                                            last_seen_seconds_ago=0.0, live=True)]
    return Cluster(status="success", nodes=found["nodes"], replicas=found["replicas"])


async def audit_list(request: Request, caller: Caller, query: AuditFilters) -> AuditPage:
    """The audit trail, newest first: every state-changing request, refused ones too (a tenant's token: its
    tenant's entries)"""
    return await request.app.state.audit.search(query, caller.tenant)


async def session_create(request: Request, caller: None, body: SessionCreate) -> ConsoleSession | JSONResponse:
    """Sign in to the web console with an API token: sets the session cookie (HttpOnly, SameSite=Strict) standing
    for it; answers the CSRF token the session's changes send as X-CSRF-Token"""
    state = request.app.state
    client = request.client.host if request.client else ""
    state.limits.request(f"console-sign-in {client}", time.monotonic())  # guesses are limited per address
    # JSON only: a form of another site can post text/plain, never application/json without CORS asking first, so it
    # cannot sign the browser in to the attacker's account (login CSRF)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise ApiError("INVALID_PARAMETER", "send the token as JSON (Content-Type: application/json)")
    found = state.directory.identify(body.token)
    if found is None:
        raise ApiError("UNAUTHORIZED", "this token is not valid")
    digest = hashlib.sha256(body.token.encode()).hexdigest()
    cookie, session = state.sessions.issue(found, digest)
    answer = ConsoleSession(status="success", token_id=found.id, csrf=session.csrf)
    caller = Caller(found.tenant, digest[:32], found.id, found.scopes, session)
    try:  # known from here on: the sign-in is in the audit trail (a wrong token has no id to record)
        await state.audit.record(audit_fields.entry(AuditAction.SESSION_CREATE, request, caller, {}, answer, 200, None))
    except Exception as exc:
        log.error("audit entry not written (sign-in of token %s): %s: %s", found.id, type(exc).__name__, exc)
    response = JSONResponse(answer)
    response.set_cookie(COOKIE, cookie, max_age=int(state.sessions.lifetime), path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


async def session_get(request: Request, caller: Caller) -> ConsoleSession:
    """The console's live session (how a reloaded page gets its CSRF token); 401 without one"""
    if caller.session is None:
        raise ApiError("UNAUTHORIZED", "no console session: sign in")
    return ConsoleSession(status="success", token_id=caller.token_id, csrf=caller.session.csrf)


async def session_delete(request: Request, caller: Caller) -> Ok | JSONResponse:
    """Sign out of the web console: the session ends on every replica (a copy of its cookie is refused too) and the
    cookie is expired (needs the CSRF token)"""
    if caller.session is None:
        raise ApiError("UNAUTHORIZED", "no console session: sign in")
    await request.app.state.signouts.end(caller.session)
    response = JSONResponse(Ok(status="success"))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


async def me(request: Request, caller: Caller) -> Me:
    """Who this token (or console session) is: tenant, scopes, agent extension, hotlines, time zone"""
    tenant = caller.tenant
    return Me(status="success", token_id=caller.token_id, tenant=tenant.name or "", operator=tenant.is_operator,
              scopes=sorted(caller.scopes), extension=tenant.agent, hotlines=[h.number for h in tenant.hotlines],
              timezone=request.app.state.settings.timezone)


async def console(request: Request, caller: None) -> FileResponse:
    """The web console (sign in with an API token)"""
    return await console_file(request, caller)


async def console_file(request: Request, caller: None) -> FileResponse:
    """A file of the web console: its scripts, stylesheets and vendored parts (and its page at /console/)"""
    name = request.path_params.get("path") or "index.html"
    root = CONSOLE.resolve()
    path = (root / name).resolve()
    kind = CONSOLE_TYPES.get(path.suffix)
    if kind is None or not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(path, media_type=kind, headers=CONSOLE_HEADERS)


async def agent_pause(request: Request, caller: Caller, body: PauseBody) -> AgentPaused:
    """Pause an agent: inbound ring groups skip it (click-to-call, which the agent starts, still works)"""
    return await request.app.state.agents.pause(request.path_params["ext"], caller.tenant, True, body.reason)


async def agent_resume(request: Request, caller: Caller) -> AgentPaused:
    """Resume a paused agent"""
    return await request.app.state.agents.pause(request.path_params["ext"], caller.tenant, False)


async def monitor_agents(request: Request, caller: Caller, query: MonitorQuery) -> AgentMonitor:
    """The token's agents that are registered or on a call: call state, call, phone, node, pause (every node)"""
    return AgentMonitor(status="success", data=await request.app.state.agents.monitor(caller.tenant, query))


STREAM_GRACE = 2.0  # seconds a stream has to end by itself when the server stops
STREAM_SEND_TIMEOUT = 30.0  # seconds a write to a stream's client may block before the stream is given up
CALL_FAILS = (401, 429, 400, 403, 404, 409, 502, 503)
READ_FAILS = (401, 403, 429)  # 403: the token lacks the scope (SCOPE_REQUIRED)
CONTROL_FAILS = (*READ_FAILS, 400, 404, 409, 502, 503)
SUPERVISE_FAILS = CONTROL_FAILS

R, W = Scope.CALLS_READ, Scope.CALLS_WRITE
A = AuditAction

OPERATIONS = [
    Operation("GET", "/v1/click2call", click2call_sync, {200: Success}, CALL_FAILS, query=ClickToCall, limited=True,
              scope=W, audit=A.CLICK_TO_CALL),
    Operation("GET", "/v1/click2call/async", click2call_async, {200: Success}, CALL_FAILS, query=ClickToCall,
              limited=True, scope=W, audit=A.CLICK_TO_CALL),
    Operation("POST", "/v2/click2call", click2call_v2, {200: V2Success}, CALL_FAILS, body=ClickToCallV2, limited=True,
              fail=V2Fail, scope=W, audit=A.CLICK_TO_CALL),
    Operation("GET", "/v1/cdr", cdr_list, {200: CdrPage}, (*READ_FAILS, 400), query=CdrFilters, scope=R),
    Operation("GET", "/v1/cdr/export", cdr_export, {200: Media("text/csv")}, (*READ_FAILS, 400), query=CdrSelection,
              scope=R),  # before /v1/cdr/{id}, which would take "export" for an id
    Operation("GET", "/v1/cdr/{id}", cdr_get, {200: Cdr}, (*READ_FAILS, 404), scope=R),
    Operation("GET", "/v1/stats", call_stats, {200: Stats}, (*READ_FAILS, 400), query=StatsQuery, scope=R),
    Operation("GET", "/v1/call", calls_in_progress, {200: CallList}, READ_FAILS, scope=R),
    Operation("DELETE", "/v1/call/{call_id}", call_hangup, {200: Success}, (*READ_FAILS, 404), scope=W,
              audit=A.HANGUP),
    Operation("POST", "/v1/call/{call_id}/hangup", call_hangup, {200: Success}, (*READ_FAILS, 404), scope=W,
              audit=A.HANGUP),
    Operation("POST", "/v1/call/{call_id}/hold", call_hold, {200: Success}, CONTROL_FAILS, body=LegsBody,
              scope=Scope.CONTROL, audit=A.HOLD),
    Operation("POST", "/v1/call/{call_id}/unhold", call_unhold, {200: Success}, CONTROL_FAILS, body=LegsBody,
              scope=Scope.CONTROL, audit=A.UNHOLD),
    Operation("POST", "/v1/call/{call_id}/mute", call_mute, {200: Success}, CONTROL_FAILS, body=LegsBody,
              scope=Scope.CONTROL, audit=A.MUTE),
    Operation("POST", "/v1/call/{call_id}/unmute", call_unmute, {200: Success}, CONTROL_FAILS, body=LegsBody,
              scope=Scope.CONTROL, audit=A.UNMUTE),
    Operation("POST", "/v1/call/{call_id}/dtmf", call_dtmf, {200: Success}, CONTROL_FAILS, body=DtmfBody,
              scope=Scope.CONTROL, audit=A.DTMF),
    Operation("POST", "/v1/call/{call_id}/listen", call_listen, {200: Success}, SUPERVISE_FAILS, body=SuperviseBody,
              scope=Scope.SUPERVISE, audit=A.LISTEN),
    Operation("POST", "/v1/call/{call_id}/whisper", call_whisper, {200: Success}, SUPERVISE_FAILS,
              body=SuperviseBody, scope=Scope.SUPERVISE, audit=A.WHISPER),
    Operation("POST", "/v1/call/{call_id}/barge", call_barge, {200: Success}, SUPERVISE_FAILS, body=SuperviseBody,
              scope=Scope.SUPERVISE, audit=A.BARGE),
    Operation("POST", "/v1/call/{call_id}/transfer", call_transfer, {200: TransferStarted}, SUPERVISE_FAILS,
              body=TransferBody, scope=Scope.CONTROL, audit=A.TRANSFER),
    Operation("POST", "/v1/call/{call_id}/park", call_park, {200: Success}, CONTROL_FAILS, body=LegsBody,
              scope=Scope.CONTROL, audit=A.PARK),
    Operation("POST", "/v1/event", hook_create, {201: HookCreated}, (*READ_FAILS, 400), body=HookCreate,
              scope=Scope.HOOKS_WRITE, audit=A.HOOK_CREATE),
    Operation("GET", "/v1/event", hook_list, {200: HookList}, READ_FAILS, scope=Scope.HOOKS_READ),
    Operation("DELETE", "/v1/event/{id}", hook_delete, {200: Ok}, (*READ_FAILS, 404), scope=Scope.HOOKS_WRITE,
              audit=A.HOOK_DELETE),
    Operation("GET", "/v1/event/{id}/deliveries", hook_deliveries, {200: DeliveryList}, (*READ_FAILS, 404),
              scope=Scope.HOOKS_READ),
    Operation("POST", "/v1/deliveries/{id}/resend", delivery_resend, {200: Ok}, (*READ_FAILS, 404),
              scope=Scope.HOOKS_WRITE, audit=A.DELIVERY_RESEND),
    Operation("GET", "/v1/stream", stream, {200: Media("text/event-stream")}, (*READ_FAILS, 400),
              query=StreamQuery, headers={"Last-Event-ID": "resume after this event: the id of the last message "
                                                           "received (sent by EventSource when it reconnects)"},
              scope=R),
    Operation("GET", "/v1/recordings/{call_id}", recording, {200: Media("audio/wav"), 206: Media("audio/wav")},
              (*READ_FAILS, 404, 409, 410, 503), scope=Scope.RECORDINGS_READ),
    Operation("GET", "/metrics", metrics, {200: Media("text/plain")}, auth=False),
    Operation("GET", "/healthz", healthz, {200: Health}, auth=False),
    Operation("GET", "/openapi.json", openapi_json, {200: Media("application/json", {"type": "object"})}, auth=False),
    Operation("GET", "/docs", docs, {200: Media("text/html")}, auth=False),
    Operation("GET", "/docs/{asset}", docs_asset, {200: Media(("text/javascript", "text/css"))}, (404,), auth=False),
    Operation("GET", "/readyz", readyz, {200: Ready}, (503,), auth=False),
    Operation("GET", "/v1/cluster", cluster_status, {200: Cluster}, READ_FAILS, scope=Scope.ADMIN),
    Operation("GET", "/v1/audit", audit_list, {200: AuditPage}, (*READ_FAILS, 400), query=AuditFilters,
              scope=Scope.ADMIN),
    Operation("POST", "/v1/agent/{ext}/pause", agent_pause, {200: AgentPaused}, (*READ_FAILS, 400, 404),
              body=PauseBody, body_required=False, scope=Scope.AGENTS_WRITE, audit=A.PAUSE),
    Operation("POST", "/v1/agent/{ext}/resume", agent_resume, {200: AgentPaused}, (*READ_FAILS, 400, 404),
              scope=Scope.AGENTS_WRITE, audit=A.RESUME),
    Operation("GET", "/v1/monitor/agent", monitor_agents, {200: AgentMonitor}, (*READ_FAILS, 400),
              query=MonitorQuery, scope=R),
    Operation("GET", "/v1/me", me, {200: Me}, (401, 429), any_scope=True),
    # The web console: its session stands for a token (console_session.py); a change needs its CSRF token.
    Operation("POST", "/console/session", session_create, {200: ConsoleSession}, (400, 401, 429), body=SessionCreate,
              auth=False),
    Operation("GET", "/console/session", session_get, {200: ConsoleSession}, (401, 429), any_scope=True),
    Operation("DELETE", "/console/session", session_delete, {200: Ok}, (401, 403, 429), any_scope=True,
              audit=A.SESSION_DELETE),
    Operation("GET", "/console", console, {200: Media("text/html")}, (404,), auth=False),
    Operation("GET", "/console/{path}", console_file, {200: Media(tuple(t.split(";")[0] for t in CONSOLE_TYPES.values()))}, (404,),
              auth=False, wildcard=True),
]

routes = [op.route() for op in OPERATIONS]


@functools.cache
def spec() -> dict:
    """The OpenAPI document of these operations, made on first use."""
    return openapi.document(OPERATIONS)
