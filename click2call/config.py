"""Settings from the environment. Nothing here knows the lab's extension, trunk or port names."""

from __future__ import annotations

import os
import socket
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from collections.abc import Mapping
from dataclasses import dataclass

from pathlib import Path

from . import tenants, validation
from .errors import ApiError
from .validation import callback_url
from .webhooks import signing
from .cluster import nodes as cluster_nodes
from .cluster.nodes import Node
from .tenants import NAME_RE, Directory, Hotline, Tenant


class ConfigError(ValueError):
    """The service cannot start with this configuration."""


@dataclass(frozen=True)
class Settings:
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "click2call"
    ari_password: str = ""
    ari_app: str = "click2call"
    api_tokens: tuple[str, ...] = ()  # the operator's: every extension, hotline, record and hook
    hotlines: tuple[Hotline, ...] = ()
    tenants: tuple[tuple[Tenant, tuple[str, ...]], ...] = ()  # from C2C_TENANTS_FILE: (tenant, token digests)
    listen_host: str = "127.0.0.1"
    listen_port: int = 8000
    database_url: str = "sqlite:///click2call.db"
    ring_timeout: int = 30  # seconds the agent's extension rings
    dial_timeout: int = 60  # seconds the customer's phone rings
    ari_grace: float = 5.0  # seconds requests waiting on a call wait for a lost ARI connection to come back
    shutdown_timeout: int = 30  # seconds a SIGTERM waits for requests in flight
    rate_limit: float = 20.0  # click-to-call requests per second per token (0: no limit)
    rate_burst: float = 40.0  # requests a token may send at once
    max_calls_per_token: int = 500  # calls in progress per token (0: no cap); one per extension always
    timezone: str = "UTC"  # how CDR times are written and date filters are read
    record: bool = False  # record calls unless the request says otherwise
    recordings_dir: str = "recordings"  # local copies of recordings fetched from Asterisk, served by the API
    public_url: str = ""  # how CRMs reach this service, for recording_url; default http://C2C_LISTEN
    webhook_url: str | None = None  # the static default hook: receives every event
    webhook_secrets: tuple[str, ...] = ()  # whsec_...; several while rotating; the first is the newest
    webhook_timeout: float = 5.0
    webhook_retry_hours: float = 24.0
    webhook_backoff: float = 1.0  # first retry delay (seconds), doubling up to webhook_backoff_max
    webhook_backoff_max: float = 600.0  # longest wait between two attempts (seconds)
    webhook_concurrency: int = 8
    nodes: tuple[Node, ...] = ()  # the Asterisk nodes (C2C_ASTERISK_NODES, else C2C_ARI_URL as the one node)
    cluster: bool = False  # several replicas on one PostgreSQL database, sharing the nodes under leases
    node_lease: float = 10.0  # seconds: how soon another replica takes the nodes of one that died
    node_down_after: float = 30.0  # seconds a node's ARI is unreachable before its calls are taken as lost
    replica_name: str = ""  # how /v1/cluster names this replica (default: host name and port)

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def operator(self) -> Tenant:
        """The operator: C2C_HOTLINES first (the default), then the tenants' own hotlines."""
        # A number has one trunk everywhere (checked at load), so equal numbers are equal hotlines.
        every = [*self.hotlines, *(h for t, _ in self.tenants for h in t.hotlines)]
        return Tenant(name=None, hotlines=tuple(dict.fromkeys(every)))

    def directory(self) -> Directory:
        return Directory(self.api_tokens, self.operator, self.tenants)

    def trunks(self) -> set[str]:
        return {h.trunk for h in self.operator.hotlines}

    def __repr__(self) -> str:  # never print secrets
        return f"Settings(ari_url={self.ari_url!r}, ari_app={self.ari_app!r}, hotlines={self.hotlines!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        tokens = tuple(t.strip() for t in env.get("C2C_API_TOKENS", "").split(",") if t.strip())
        try:
            hotlines = tenants.parse_hotlines(env.get("C2C_HOTLINES", ""))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        tenant_list = _tenants(env.get("C2C_TENANTS_FILE"), hotlines)
        if not tokens and not tenant_list:
            raise ConfigError("C2C_API_TOKENS must list at least one Bearer token (or give C2C_TENANTS_FILE)")
        if not hotlines and not tenant_list:
            raise ConfigError("C2C_HOTLINES must name at least one NUMBER=TRUNK_ENDPOINT")
        _check_hotlines_agree(hotlines, tenant_list)
        stored = {d for _, digests in tenant_list for d in digests}
        if any(tenants.stored_form(t) in stored for t in tokens):
            raise ConfigError("a token is both in C2C_API_TOKENS and in C2C_TENANTS_FILE")
        host, _, port = env.get("C2C_LISTEN", "127.0.0.1:8000").rpartition(":")
        return cls(
            ari_user=env.get("C2C_ARI_USER", cls.ari_user),
            ari_password=env.get("C2C_ARI_PASSWORD", ""),
            ari_app=_app_name(env.get("C2C_ARI_APP", cls.ari_app)),
            api_tokens=tokens,
            hotlines=hotlines,
            tenants=tenant_list,
            listen_host=host or "127.0.0.1",
            listen_port=_seconds(port, "C2C_LISTEN port", 1, 65535),
            database_url=env.get("C2C_DATABASE_URL", cls.database_url),
            ring_timeout=_seconds(env.get("C2C_RING_TIMEOUT", "30"), "C2C_RING_TIMEOUT", 1, 600),
            dial_timeout=_seconds(env.get("C2C_DIAL_TIMEOUT", "60"), "C2C_DIAL_TIMEOUT", 1, 600),
            ari_grace=_number(env.get("C2C_ARI_GRACE", "5"), "C2C_ARI_GRACE", 0, 600),
            shutdown_timeout=_seconds(env.get("C2C_SHUTDOWN_TIMEOUT", "30"), "C2C_SHUTDOWN_TIMEOUT", 0, 3600),
            rate_limit=_number(env.get("C2C_RATE_LIMIT", "20"), "C2C_RATE_LIMIT", 0, 100000),
            rate_burst=_number(env.get("C2C_RATE_BURST", "40"), "C2C_RATE_BURST", 1, 100000),
            max_calls_per_token=_seconds(env.get("C2C_MAX_CALLS_PER_TOKEN", "500"), "C2C_MAX_CALLS_PER_TOKEN", 0, 10**6),
            timezone=_timezone(env.get("C2C_TIMEZONE", "UTC")),
            record=_boolean(env.get("C2C_RECORD", "false"), "C2C_RECORD"),
            recordings_dir=env.get("C2C_RECORDINGS_DIR", cls.recordings_dir),
            public_url=(env.get("C2C_PUBLIC_URL") or f"http://{host or '127.0.0.1'}:{port}").rstrip("/"),
            **_webhook_settings(env),
            **_cluster_settings(env, f"{socket.gethostname()}:{port}"),
        )


def _tenants(path: str | None, hotlines: tuple[Hotline, ...]) -> tuple[tuple[Tenant, tuple[str, ...]], ...]:
    if not path:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"C2C_TENANTS_FILE: cannot read {path}: {exc.strerror}") from None
    try:
        found = tenants.load(text, hotlines, source=f"C2C_TENANTS_FILE {path}")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not found:
        raise ConfigError(f"C2C_TENANTS_FILE {path}: defines no [[tenant]]")
    return found


def _check_hotlines_agree(hotlines: tuple[Hotline, ...], tenant_list) -> None:
    """One hotline number is one trunk everywhere, so records and the operator's view stay unambiguous."""
    trunk_of = {h.number: h.trunk for h in hotlines}
    for tenant, _ in tenant_list:
        for h in tenant.hotlines:
            if trunk_of.setdefault(h.number, h.trunk) != h.trunk:
                raise ConfigError(f"hotline {h.number} is given two trunks ({trunk_of[h.number]}, {h.trunk})")


def _cluster_settings(env: Mapping[str, str], replica_name: str) -> dict:
    try:
        nodes = cluster_nodes.parse(env, Settings.ari_url, Settings.ari_user)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    cluster = _boolean(env.get("C2C_CLUSTER", "false"), "C2C_CLUSTER")
    database = env.get("C2C_DATABASE_URL", Settings.database_url)
    if cluster and not database.startswith(("postgresql://", "postgres://")):
        raise ConfigError("C2C_CLUSTER needs PostgreSQL: several replicas share one PostgreSQL database "
                          "(C2C_DATABASE_URL=postgresql://...); SQLite serves one replica")
    return {
        "nodes": nodes,
        "ari_url": nodes[0].ari_url,
        "cluster": cluster,
        "node_lease": _number(env.get("C2C_NODE_LEASE", "10"), "C2C_NODE_LEASE", 1, 600),
        "node_down_after": _number(env.get("C2C_NODE_DOWN_AFTER", "30"), "C2C_NODE_DOWN_AFTER", 1, 86400),
        "replica_name": env.get("C2C_REPLICA_NAME") or replica_name,
    }


def _webhook_settings(env: Mapping[str, str]) -> dict:
    secrets = tuple(env.get("C2C_WEBHOOK_SECRET", "").replace(",", " ").split())
    for secret in secrets:
        try:
            signing.key(secret)
        except ValueError as exc:
            raise ConfigError(f"C2C_WEBHOOK_SECRET: {exc}") from None
    url = env.get("C2C_WEBHOOK_URL") or None
    if url is not None:
        try:
            callback_url(url)
        except ApiError as exc:
            raise ConfigError(f"C2C_WEBHOOK_URL: {exc.message}") from None
        if not secrets:
            raise ConfigError("C2C_WEBHOOK_URL needs C2C_WEBHOOK_SECRET (whsec_<base64>): every delivery is signed")
    return {
        "webhook_url": url,
        "webhook_secrets": secrets,
        "webhook_timeout": _number(env.get("C2C_WEBHOOK_TIMEOUT", "5"), "C2C_WEBHOOK_TIMEOUT", 0.1, 120),
        "webhook_retry_hours": _number(env.get("C2C_WEBHOOK_RETRY_HOURS", "24"), "C2C_WEBHOOK_RETRY_HOURS", 0, 24 * 30),
        "webhook_backoff": _number(env.get("C2C_WEBHOOK_BACKOFF", "1"), "C2C_WEBHOOK_BACKOFF", 0.01, 3600),
        "webhook_backoff_max": _number(env.get("C2C_WEBHOOK_BACKOFF_MAX", "600"), "C2C_WEBHOOK_BACKOFF_MAX", 0.1, 86400),
        "webhook_concurrency": _seconds(env.get("C2C_WEBHOOK_CONCURRENCY", "8"), "C2C_WEBHOOK_CONCURRENCY", 1, 256),
    }


def _boolean(text: str, name: str) -> bool:
    try:
        return validation.boolean(text, name)
    except ApiError as exc:
        raise ConfigError(exc.message) from None


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"C2C_TIMEZONE is not a known time zone: {name!r}") from None
    return name


def _app_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ConfigError(f"C2C_ARI_APP is not a valid application name: {name!r}")
    return name


def _bounded(text: str, name: str, low, high, kind=int):
    """A number from the environment, of `kind` (int or float), within [low, high]."""
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value


def _seconds(text: str, name: str, low: int, high: int) -> int:
    return _bounded(text, name, low, high)


def _number(text: str, name: str, low: float, high: float) -> float:
    return _bounded(text, name, low, high, float)
