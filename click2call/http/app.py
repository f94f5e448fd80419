"""The ASGI application. Its lifespan owns the DB engine, the httpx client (ARI), the aiohttp sessions (webhooks),
the ARI event task, the Stasis app, the webhook dispatcher, the live stream's tailer and retention's removal of old
rows and recordings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from .. import ari_tls
from ..agent_store import AgentStore
from ..agents import AgentsService
from ..audit import AuditLog
from ..call_control import CallControl
from ..call_specs import CallSpecs
from ..cluster import bus, nodes, view
from ..cluster.guard import Guard
from ..cluster.leases import Leases, NodeStatus, SoleOwner
from ..config import ConfigError, Settings
from ..console_session import Sessions, SignOuts, derive_key
from ..db import GroupCommit, open_database
from ..endpoints import check_extension
from ..errors import ApiError
from ..inbound_calls import InboundCalls
from ..live_stream import Tailer
from ..metrics import Metrics
from ..presence_tracker import PresenceTracker
from ..ratelimit import Limits
from ..records import CallStore
from ..recordings import Recordings
from ..service import ClickToCallService, RecordsService
from ..replica import Replica
from ..retention import Retention, RetentionDays
from ..stats import DaySums
from ..tallies import Tallies
from ..stasis_app import recording_check
from ..stasis_app.ari import Ari
from ..secret_box import SecretBox, SecretError
from ..webhooks.dispatcher import Dispatcher, Target
from ..webhooks.egress import Egress
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


def create_app(settings: Settings, draining: threading.Event | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        # One TLS context for every node's ARI (REST and events): verification always on, C2C_ARI_CA_FILE's CA.
        tls = ari_tls.client_context(settings.ari_ca_file)
        for node in settings.nodes:
            if ari_tls.cleartext(node.ari_url):
                log.warning("node %s: ARI URL %s is plain http:// to another host: the ARI password crosses the "
                            "network in clear; use https:// (Asterisk's http.conf tlsenable)", node.name, node.ari_url)
        engine = await open_database(settings.database_url)
        # Webhooks go out through aiohttp: a POST costs ~0.13 ms of CPU there against ~1.5 ms through httpx, and a
        # call makes up to six of them (bench/REPORT.md). Not trust_env: it reads ~/.netrc and the proxy variables
        # at every request (0.65 ms), and a CRM's webhook URL is reached directly.
        # Each policy's session checks the addresses its connections use (webhooks/egress.py).
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), limits=limits, verify=tls) as client, \
                Egress(limit=64) as egress:
            metrics = Metrics()
            aris = {n.name: Ari(client, n.ari_url, n.ari_user, n.ari_password, settings.ari_app, metrics, tls)
                    for n in settings.nodes}
            if clash := nodes.duplicate_entity_ids(await view.entity_ids(aris)):
                raise ConfigError(clash)
            guard = Guard()
            await guard.hold(engine, settings.cluster)
            default = Target(settings.webhook_url, None, settings.webhook_secrets) if settings.webhook_url else None
            policy = Policy(max_age=settings.webhook_retry_hours * 3600, base=settings.webhook_backoff,
                            cap=settings.webhook_backoff_max)
            write = GroupCommit(engine)  # one queue of durable writes: records, webhook claims and outcomes
            changes = HookChanges()  # the outbox and the dispatcher both keep a copy of the hooks
            box = SecretBox(settings.secret_keys)  # hooks' secrets and API keys, encrypted at rest
            reach = settings.reach()  # the networks API-made hooks may reach
            dispatcher = Dispatcher(engine, egress, default=default, global_secrets=settings.webhook_secrets,
                                    policy=policy, changes=changes, concurrency=settings.webhook_concurrency,
                                    timeout=settings.webhook_timeout, metrics=metrics, write=write, box=box,
                                    reach=reach)
            outbox = Outbox(settings.zoneinfo, default is not None, changes, dispatcher.take, dispatcher.lease)
            store = CallStore(engine, outbox, write, publish=bus.publish if settings.cluster else None)
            directory = settings.directory()
            specs = CallSpecs(settings, directory)
            status = NodeStatus()  # each node's event stream: kept by the replica, told to the cluster by the leases
            agent_store = AgentStore(engine, write, lambda ext: directory.owner_of(ext).name)
            trunks = frozenset(settings.trunks())

            def presence(node: str, ari: Ari) -> PresenceTracker:  # a node's agents, kept by the replica running it
                return PresenceTracker(ari, agent_store, node, ignore=trunks, release=not settings.cluster)

            async def refer_check(node: str, tenant: str | None, ext: str) -> None:
                """A phone's REFER destination: checked as the API checks a transfer's extension (same tenant)."""
                if ext in trunks or directory.owner_of(ext).name != tenant:
                    raise ApiError("EXTENSION_NOT_ALLOWED", f"extension {ext} is not the call's tenant's")
                await check_extension(aris[node], ext)

            replica = Replica(uuid.uuid4().hex, aris, store, metrics, clustered=settings.cluster, status=status,
                              handoff_spec=specs.handoff_spec, ari_grace=settings.ari_grace,
                              node_down_after=settings.node_down_after, agent_context=settings.agent_context,
                              ring_groups=InboundCalls(directory, engine, aris, settings.ring_timeout),
                              presence=presence, park_timeout=settings.park_timeout,
                              refer_check=refer_check, supervision_beep=settings.supervision_beep)
            leases = Leases(engine, replica.id, settings.replica_name, list(aris), settings.node_lease,
                            replica.acquired, replica.lost, replica.quiet, status) if settings.cluster else \
                SoleOwner(list(aris), replica.acquired, replica.lost)

            def heard(message: bus.Message) -> None:  # what the other replicas say
                if message.kind == bus.Kind.RELEASED:
                    leases.wake()  # a node is free: take it now, not at the next round
                else:
                    replica.on_message(message)

            messages = bus.Bus(engine, heard, replica.caught_up) if settings.cluster else None
            hooks = HooksService(engine, settings.webhook_secrets, dispatcher.wake, changes, egress=egress, box=box,
                                 reach=reach)
            try:
                await hooks.seal_stored()  # secrets stored in plain text before a key was set: encrypted now
            except SecretError as exc:
                raise ConfigError(str(exc)) from None
            await hooks.sync_configured(directory.tenants)
            state = app.state
            state.settings = settings
            state.draining = draining or threading.Event()  # set on SIGTERM while C2C_DRAIN_SECONDS run
            state.directory = directory
            state.sessions = Sessions(derive_key(settings.secret_keys), directory, settings.console_session_hours)
            state.signouts = SignOuts(engine, write)
            state.engine = engine
            state.replica = replica
            state.leases = leases
            state.limits = Limits(settings.rate_limit, settings.rate_burst)
            state.service = ClickToCallService(specs, replica, store, metrics,
                                               max_calls_per_token=settings.max_calls_per_token, bus=messages,
                                               answer_wait=settings.node_lease * 2 + 5)
            state.records = RecordsService(settings.zoneinfo, store, replica, messages,
                                           hangup_wait=settings.node_lease * 2 + 10)
            state.hooks = hooks
            state.call_control = CallControl(store, replica, messages, wait=settings.node_lease * 2 + 5,
                                             trunks=frozenset(settings.trunks()))
            state.agents = AgentsService(agent_store, settings.zoneinfo, trunks)
            state.recordings = Recordings(settings.recordings_dir, store, aris)
            state.metrics = metrics
            state.dispatcher = dispatcher
            state.stream = tailer = Tailer(engine)  # GET /v1/stream: one reader of the event log for every client
            state.audit = AuditLog(engine, write, settings.zoneinfo)
            tasks = [asyncio.create_task(dispatcher.run(), name="webhook-dispatcher"),
                     asyncio.create_task(tailer.run(), name="live-stream"),
                     asyncio.create_task(Retention(engine, write, RetentionDays(
                         records=settings.record_retention_days, recordings=settings.recording_retention_days,
                         delivered=settings.webhook_delivered_retention_days,
                         failed=settings.webhook_failed_retention_days, stream=settings.stream_retention_days,
                         audit=settings.audit_retention_days), metrics, state.recordings.remove).run(),
                         name="retention"),
                     asyncio.create_task(Tallies(engine, write).run(), name="tallies"),
                     asyncio.create_task(DaySums(engine, write, settings.zoneinfo).run(), name="day-sums")]
            if messages is not None:  # listening before any node is run: no call started for it is missed
                tasks.append(asyncio.create_task(messages.run(), name="cluster-notifications"))
                async with asyncio.timeout(10):
                    await messages.listening.wait()
            await leases.start()  # the nodes this replica runs: their calls are taken over, then their events
            tasks.append(asyncio.create_task(leases.run(), name="node-leases"))
            if settings.record:  # a stock Asterisk cannot record until its recording directory is made
                tasks += [asyncio.create_task(recording_check.check_when_connected(ari), name=f"recording-check-{n}")
                          for n, ari in aris.items()]
            try:
                yield
            finally:
                await tailer.close()  # streams still open end now, each with a word why
                await leases.close()  # its nodes stop here, and are free for other replicas at once
                for task in tasks:
                    task.cancel()
                await dispatcher.close()
                await replica.close()
                await write.close()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await guard.release()
                await engine.dispose()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: internal_error},
    )
