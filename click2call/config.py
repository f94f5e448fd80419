"""Settings from the environment (pydantic-settings): every C2C_* variable is a typed field, checked at start with a
message that names it. Nothing here knows the lab's extension, trunk or port names."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasGenerator, Field, PlainValidator, ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

import socket

from . import ari_tls, secret_box, tenants
from .cluster import nodes as cluster_nodes
from .cluster.nodes import Node
from .errors import CODES
from .ring_group import RingGroup
from .schema import fields
from .schema.fields import webhook_secret
from .tenants import NAME_RE, Directory, Hotline, Tenant
from .webhooks.destinations import Network, Reach

PREFIX = "C2C_"
CONFIG = "CONFIG"  # the error type of the settings' own rules


class ConfigError(ValueError):
    """The service cannot start with this configuration."""


def refuse(message: str) -> None:
    fields.refuse(message, CONFIG)


def env_name(info: ValidationInfo) -> str:
    alias = Settings.model_fields[info.field_name].validation_alias
    return alias if isinstance(alias, str) else PREFIX + info.field_name.upper()


def _rule(check):
    """A settings field type whose check is told the variable's name."""
    return PlainValidator(lambda value, info: check(value, env_name(info)))


def number(text: str, name: str, low, high, kind=int):
    """A number from the environment, of `kind` (int or float), within [low, high]."""
    try:
        value = kind(text)
    except ValueError:
        refuse(f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}")
    if not low <= value <= high:
        refuse(f"{name} must be between {low} and {high}")
    return value


def Integer(low: int, high: int) -> Any:  # noqa: N802 (a type)
    return Annotated[int, _rule(lambda text, name: number(text, name, low, high))]


def Number(low: float, high: float) -> Any:  # noqa: N802 (a type)
    return Annotated[float, _rule(lambda text, name: number(text, name, low, high, float))]


def _listen(text: str, name: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", number(port, f"{name} port", 1, 65535)


def _timezone(text: str, name: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        refuse(f"{name} is not a known time zone: {text!r}")
    return text


def _app_name(text: str, name: str) -> str:
    if not NAME_RE.fullmatch(text):
        refuse(f"{name} is not a valid application name: {text!r}")
    return text


def _secrets(text: str, name: str) -> tuple[str, ...]:
    """Signing secrets, space- (or comma-) separated, each as a hook's own secret is checked."""
    return tuple(webhook_secret(s, name) for s in text.replace(",", " ").split())


def _networks(text: str, name: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs."""
    try:
        return tuple(fields.network(item, name, CONFIG) for item in filter(None, map(str.strip, text.split(","))))
    except PydanticCustomError as exc:
        refuse(exc.message())


def _secret_keys(text: str, name: str) -> tuple[str, ...]:
    try:
        return secret_box.parse_keys(text, name)
    except secret_box.SecretError as exc:
        refuse(str(exc))


def _api_tokens(text: str) -> tuple[str, ...]:
    """The operator's tokens, comma-separated; each `TOKEN` or `TOKEN;id=ID;scopes=SCOPE SCOPE` (checked here, read
    again by the Directory)."""
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    ids: set[str] = set()
    for item in items:
        try:
            spec = tenants.operator_token(item)
        except ValueError as exc:
            refuse(str(exc))
        if spec.id in ids:
            refuse(f"C2C_API_TOKENS: token id {spec.id} is used twice")
        ids.add(spec.id)
    return items


def _tenants(path: str, info: ValidationInfo) -> tuple[tuple[Tenant, tuple[tenants.TokenSpec, ...]], ...]:
    if not path or "hotlines" not in info.data:  # none; or C2C_HOTLINES is refused already
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        refuse(f"C2C_TENANTS_FILE: cannot read {path}: {exc.strerror}")
    try:
        found = tenants.load(text, info.data["hotlines"], source=f"C2C_TENANTS_FILE {path}")
    except ValueError as exc:
        refuse(str(exc))
    if not found:
        refuse(f"C2C_TENANTS_FILE {path}: defines no [[tenant]]")
    return found


def _groups(path: str, info: ValidationInfo) -> tuple[RingGroup, ...]:
    if not path:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        refuse(f"C2C_GROUPS_FILE: cannot read {path}: {exc.strerror}")
    try:
        return tenants.load_groups(text, source=f"C2C_GROUPS_FILE {path}")
    except ValueError as exc:
        refuse(str(exc))


def _webhook_url(text: str, info: ValidationInfo) -> str | None:
    if not text:
        return None
    try:
        fields.callback_url(text)
    except PydanticCustomError as exc:
        refuse(f"C2C_WEBHOOK_URL: {exc.message()}")
    if not info.data.get("webhook_secrets"):
        refuse("C2C_WEBHOOK_URL needs C2C_WEBHOOK_SECRET (whsec_<base64>): every delivery is signed")
    return text


def _nodes(text: str, info: ValidationInfo) -> tuple[Node, ...]:
    environ = _environ()
    try:
        return cluster_nodes.parse({**environ, "C2C_ASTERISK_NODES": text or ""}, "http://127.0.0.1:8088", "click2call")
    except ValueError as exc:
        refuse(str(exc))


def _ca_file(text: str, info: ValidationInfo) -> str | None:
    if not text:
        return None  # the system's trust store
    if why := ari_tls.check_ca_file(text):
        refuse(why)
    return text


def _context(text: str, name: str) -> str:
    if text and not NAME_RE.fullmatch(text):
        refuse(f"{name} is not a dialplan context name: {text!r}")
    return text


def _replica_name(text: str, info: ValidationInfo) -> str:
    return text or f"{socket.gethostname()}:{info.data.get('listen', ('', 8000))[1]}"


def _hotlines(text: str, info: ValidationInfo) -> tuple[Hotline, ...]:
    return tenants.parse_hotlines(text)


Text = Annotated[str, PlainValidator(lambda text: text)]  # as it is (also when empty)
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("environ", default=None)


class Settings(BaseSettings):
    """Read in the order of the fields; the first refusal stops the start (ConfigError)."""

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=lambda name: PREFIX + name.upper()),
        case_sensitive=True, frozen=True, extra="ignore", env_ignore_empty=False, validate_default=False,
    )

    # the operator's tokens: every extension, hotline, record and hook
    # each TOKEN or TOKEN;id=ID;scopes=SCOPE SCOPE (tenants.operator_token)
    api_tokens: Annotated[tuple[str, ...], NoDecode, PlainValidator(_api_tokens)] = ()
    hotlines: Annotated[tuple[Hotline, ...], NoDecode, PlainValidator(_hotlines)] = ()  # the first is the default
    # from C2C_TENANTS_FILE: (tenant, token digests)
    tenants: Annotated[tuple[tuple[Tenant, tuple[str, ...]], ...], NoDecode, PlainValidator(_tenants)] = Field(
        (), validation_alias="C2C_TENANTS_FILE")
    # C2C_GROUPS_FILE: the operator's ring groups for inbound calls ([[group]] tables; schema/groups.py)
    groups: Annotated[tuple[RingGroup, ...], NoDecode, PlainValidator(_groups)] = Field(
        (), validation_alias="C2C_GROUPS_FILE")
    ari_url: Annotated[str, PlainValidator(lambda text: text.rstrip("/"))] = "http://127.0.0.1:8088"
    ari_user: Text = "click2call"
    ari_password: Text = ""
    # the CA (PEM) that signed the Asterisk nodes' TLS certificates (https:// URLs); None: the system's trust store
    ari_ca_file: Annotated[str | None, PlainValidator(_ca_file)] = None
    ari_app: Annotated[str, _rule(_app_name)] = "click2call"
    listen: Annotated[tuple[str, int], NoDecode, _rule(_listen)] = ("127.0.0.1", 8000)
    database_url: Text = "sqlite:///click2call.db"
    ring_timeout: Integer(1, 600) = 30  # seconds the agent's extension rings
    dial_timeout: Integer(1, 600) = 60  # seconds the customer's phone rings
    park_timeout: Number(1, 3600) = 10.0  # seconds a parked party waits for a transfer to pick it up (TEL4VN's 10)
    # the agent hears a short beep when a supervisor starts listening, whispering or barging
    supervision_beep: Annotated[bool, _rule(fields.boolean)] = False
    ari_grace: Number(0, 600) = 5.0  # seconds requests waiting on a call wait for a lost ARI connection to come back
    shutdown_timeout: Integer(0, 3600) = 30  # seconds a SIGTERM waits for requests in flight
    rate_limit: Number(0, 100000) = 20.0  # click-to-call requests per second per token (0: no limit)
    rate_burst: Number(1, 100000) = 40.0  # requests a token may send at once
    max_calls_per_token: Integer(0, 10**6) = 500  # calls in progress per token (0: no cap); one per extension always
    timezone: Annotated[str, _rule(_timezone)] = "UTC"  # how CDR times are written and date filters are read
    record: Annotated[bool, _rule(fields.boolean)] = False  # record calls unless the request says otherwise
    recordings_dir: Text = "recordings"  # local copies of recordings fetched from Asterisk, served by the API
    # how CRMs reach this service, for recording_url; default http://C2C_LISTEN
    public_url: Annotated[str, PlainValidator(lambda text, info: (text or "http://{}:{}".format(
        *info.data.get("listen", ("127.0.0.1", 8000)))).rstrip("/"))] = Field("", validate_default=True)
    # whsec_...; several while rotating; the first is the newest
    webhook_secrets: Annotated[tuple[str, ...], NoDecode, _rule(_secrets)] = Field(
        (), validation_alias="C2C_WEBHOOK_SECRET")
    webhook_url: Annotated[str | None, PlainValidator(_webhook_url)] = None  # the static hook: receives every event
    webhook_timeout: Number(0.1, 120) = 5.0
    webhook_retry_hours: Number(0, 24 * 30) = 24.0
    webhook_backoff: Number(0.01, 3600) = 1.0  # first retry delay (seconds), doubling up to webhook_backoff_max
    webhook_backoff_max: Number(0.1, 86400) = 600.0  # longest wait between two attempts (seconds)
    webhook_concurrency: Integer(1, 256) = 8
    # networks every token's API-made hooks may reach besides global addresses (webhooks/destinations.py)
    webhook_allowed_networks: Annotated[tuple[Network, ...], NoDecode, _rule(_networks)] = ()
    # Fernet keys, newest first: hooks' secrets and callback API keys are stored encrypted with them (secret_box.py)
    secret_keys: Annotated[tuple[str, ...], NoDecode, _rule(_secret_keys)] = Field(
        (), validation_alias="C2C_SECRET_KEY")
    # the Asterisk nodes: C2C_ASTERISK_NODES (NAME=URL,...), else C2C_ARI_URL as the one node (cluster/nodes.py)
    nodes: Annotated[tuple[Node, ...], NoDecode, PlainValidator(_nodes)] = Field(
        (), validation_alias="C2C_ASTERISK_NODES", validate_default=True)
    cluster: Annotated[bool, _rule(fields.boolean)] = False  # one of several replicas on one PostgreSQL database
    node_lease: Number(1, 600) = 10.0  # seconds: how soon another replica takes the nodes of one that died
    node_down_after: Number(1, 86400) = 30.0  # seconds a node's ARI is unreachable before its calls are lost
    drain_seconds: Number(0, 600) = 0.0  # on SIGTERM, seconds /readyz says 503 while requests are still served
    replica_name: Annotated[str, PlainValidator(_replica_name)] = Field("", validate_default=True)
    # a dialplan context agent legs are originated into, which hands them to the app ([click2call-stasis] in
    # asterisk-conf: it retries while no replica runs the app); "": straight into the app
    agent_context: Annotated[str, _rule(_context)] = ""
    console_session_hours: Number(0.01, 24 * 90) = 12.0  # how long a web console's sign-in lasts
    stream_heartbeat: Number(0.1, 600) = 15.0  # seconds between GET /v1/stream's heartbeats (an SSE comment)
    # Retention (retention.py), in days; 0: kept for ever. Removed in the background, a small batch at a time.
    audit_retention_days: Integer(0, 36500) = 365  # audit entries
    record_retention_days: Integer(0, 36500) = 0  # finished calls' records, and their recordings with them
    recording_retention_days: Integer(0, 36500) = 0  # recordings (the record stays; the recording answers 410)
    webhook_delivered_retention_days: Integer(0, 36500) = 30  # delivered webhook deliveries and their attempts
    webhook_failed_retention_days: Integer(0, 36500) = 90  # failed (given up) deliveries and their attempts
    stream_retention_days: Integer(0, 36500) = 7  # the live stream's event log (GET /v1/stream's resumption)

    @model_validator(mode="after")
    def _whole(self) -> "Settings":
        if not self.api_tokens and not self.tenants:
            refuse("C2C_API_TOKENS must list at least one Bearer token (or give C2C_TENANTS_FILE)")
        if not self.hotlines and not self.tenants:
            refuse("C2C_HOTLINES must name at least one NUMBER=TRUNK_ENDPOINT")
        # One hotline number is one trunk everywhere, so records and the operator's view stay unambiguous.
        trunk_of = {h.number: h.trunk for h in self.hotlines}
        for tenant, _ in self.tenants:
            for h in tenant.hotlines:
                if trunk_of.setdefault(h.number, h.trunk) != h.trunk:
                    refuse(f"hotline {h.number} is given two trunks ({trunk_of[h.number]}, {h.trunk})")
        if self.cluster and not self.database_url.startswith(("postgresql://", "postgres://")):
            refuse("C2C_CLUSTER needs PostgreSQL: several replicas share one PostgreSQL database "
                   "(C2C_DATABASE_URL=postgresql://...); SQLite serves one replica")
        try:
            tenants.check_groups([*self.groups, *(g for t, _ in self.tenants for g in t.groups)], "ring groups")
        except ValueError as exc:
            refuse(str(exc))
        numbers = {h.number for h in self.operator.hotlines}
        for group in self.groups:
            if strange := [n for n in group.hotlines if n not in numbers]:
                refuse(f"C2C_GROUPS_FILE: group {group.name}: hotline {strange[0]} is not configured")
        if not self.secret_keys:
            for tenant, _ in self.tenants:
                if any(h.secret or h.callback_apikey for h in tenant.hooks):
                    refuse(f"C2C_TENANTS_FILE: tenant {tenant.name}: a hook's secret and callback_apikey are stored "
                           f"encrypted: set C2C_SECRET_KEY ({secret_box.NEW_KEY})")
        stored = {spec.digest for _, specs in self.tenants for spec in specs}
        if any(tenants.operator_token(t).digest in stored for t in self.api_tokens):
            refuse("a token is both in C2C_API_TOKENS and in C2C_TENANTS_FILE")
        ids = {spec.id for _, specs in self.tenants for spec in specs}
        if clash := ids & {tenants.operator_token(t).id for t in self.api_tokens}:
            refuse(f"token id {sorted(clash)[0]} is both in C2C_API_TOKENS and in C2C_TENANTS_FILE")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], **sources: PydanticBaseSettingsSource
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (_Environment(settings_cls),)  # the environment only: no .env file, no secrets directory

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """The settings from `env` (default: the process's environment); ConfigError names what is wrong."""
        given = _ENVIRON.set(env)
        try:
            return cls()
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
            if error["type"] == CONFIG or error["type"] in CODES:  # a rule's own words
                raise ConfigError(error["msg"]) from None
            raise ConfigError(f"{'.'.join(map(str, error['loc']))}: {error['msg']}") from None
        finally:
            _ENVIRON.reset(given)

    @property
    def listen_host(self) -> str:
        return self.listen[0]

    @property
    def listen_port(self) -> int:
        return self.listen[1]

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def operator(self) -> Tenant:
        """The operator: C2C_HOTLINES first (the default), then the tenants' own hotlines."""
        # A number has one trunk everywhere (checked at load), so equal numbers are equal hotlines.
        every = [*self.hotlines, *(h for t, _ in self.tenants for h in t.hotlines)]
        return Tenant(name=None, hotlines=tuple(dict.fromkeys(every)), groups=self.groups)

    def directory(self) -> Directory:
        return Directory(self.api_tokens, self.operator, self.tenants)

    def reach(self) -> Reach:
        """The networks API-made hooks may reach: everyone's, and each tenant's besides."""
        return Reach(self.webhook_allowed_networks,
                     {t.name: t.allowed_networks for t, _ in self.tenants if t.name is not None})

    def trunks(self) -> set[str]:
        return {h.trunk for h in self.operator.hotlines}

    def __repr__(self) -> str:  # never print secrets
        return f"Settings(ari_url={self.ari_url!r}, ari_app={self.ari_app!r}, hotlines={self.hotlines!r})"

    __str__ = __repr__


def _environ() -> Mapping[str, str]:
    given = _ENVIRON.get()
    return os.environ if given is None else given


class _Environment(EnvSettingsSource):
    """The environment given to Settings.from_env, else the process's (variables are case-sensitive)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return dict(_environ())
