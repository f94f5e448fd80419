"""Tenants: who a Bearer token is, and which extensions, hotlines, records and hooks it may touch.

One instance can serve several companies (or teams) on one Asterisk. Each tenant comes from a TOML file
(`C2C_TENANTS_FILE`) with its tokens (plain, or stored hashed as `sha256:<hex>`), the extensions it may ring
(a list and/or a regular expression), its hotlines and its webhooks. The tokens in `C2C_API_TOKENS` belong
to the operator, who may use every extension and hotline and sees every tenant's records and hooks; with
no tenants file that is the whole setup, as before.

    [[tenant]]
    name = "acme"
    tokens = ["sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
    extensions = ["101", "102"]          # and/or
    extension_pattern = "1[0-4][0-9]"    # a full match
    hotlines = ["02873000001", "02899990000=trunk-acme"]   # a C2C_HOTLINES number, or NUMBER=TRUNK
    [[tenant.token]]                     # a token with an id (audit trail, logs), scopes, maybe one extension
    id = "crm"
    token = "sha256:..."
    scopes = ["calls:write", "calls:read"]   # none given: everything the tenant may do
    [[tenant.token]]
    id = "agent-101"
    token = "sha256:..."
    extension = "101"                    # an agent token: only this extension, its calls and events
    [[tenant.group]]                     # a ring group for inbound calls (schema/groups.py)
    name = "acme-sales"
    extensions = ["101", "102"]
    hotlines = ["02899990000"]
    allowed_networks = ["10.1.0.0/16"]   # hooks made with its tokens may reach these too (webhooks/destinations.py)
    [[tenant.hook]]
    event = "hangup"                     # ringing, answered, hangup, cdr
    callback_url = "https://crm.acme.example/click2call"
    secret = "whsec_..."                 # optional when C2C_WEBHOOK_SECRET is set
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import tomllib
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network, IPv6Network

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from .errors import ApiError
from .ring_group import RingGroup
from .schema import fields
from .schema.groups import GroupsFile
from .schema.tenants_file import HASH_RE, NAME_RE, HookEntry, TenantsFile
from .states import AGENT_SCOPES, EventName, Scope

log = logging.getLogger("click2call.tenants")


def hash_token(token: str) -> str:
    """How a token is stored: tokens are long random strings, so a plain SHA-256 is enough (no stretching)."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def stored_form(token: str) -> str:
    """A token as configured (plain, or already `sha256:<hex>`) -> its stored digest."""
    return token if HASH_RE.fullmatch(token) else hash_token(token)


@dataclass(frozen=True)
class Hotline:
    number: str  # the caller ID the customer sees, and the key CRMs pass as `hotline`
    trunk: str  # the PJSIP endpoint the customer leg is dialled through


def parse_hotlines(text: str, source: str = "C2C_HOTLINES") -> tuple[Hotline, ...]:
    """`NUMBER=TRUNK_ENDPOINT,...`; the first is the default. Refused (PydanticCustomError) with `source` named."""
    hotlines = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        number, sep, trunk = item.partition("=")
        try:
            fields.phone(number.strip(), "hotline")
        except PydanticCustomError as exc:
            fields.refuse(f"{source}: {exc.message()}: {item!r}", "CONFIG")
        if not sep or not NAME_RE.fullmatch(trunk.strip()):
            fields.refuse(f"{source}: expected NUMBER=TRUNK_ENDPOINT, got {item!r}", "CONFIG")
        hotlines.append(Hotline(number.strip(), trunk.strip()))
    return tuple(hotlines)


@dataclass(frozen=True)
class Tenant:
    name: str | None  # None: the operator, who sees every tenant
    hotlines: tuple[Hotline, ...]  # the first is the default
    extensions: frozenset[str] | None = None  # None with no pattern: any extension
    pattern: re.Pattern | None = None
    hooks: tuple[HookEntry, ...] = field(default=(), repr=False)  # webhooks of the tenants file
    groups: tuple[RingGroup, ...] = ()  # ring groups for inbound calls
    # networks its hooks made through the API may reach besides global addresses (and C2C_WEBHOOK_ALLOWED_NETWORKS)
    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    # An agent token's narrowing: the one extension it acts for; it sees only the calls and events of it.
    agent: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.name is None

    def owns(self, ext: str) -> bool:
        if self.extensions is None and self.pattern is None:
            return True
        return ext in (self.extensions or ()) or bool(self.pattern and self.pattern.fullmatch(ext))

    def sees(self, tenant: str | None) -> bool:
        """May this caller read a record or hook that belongs to `tenant`?"""
        return self.is_operator or tenant == self.name

    def sees_call(self, tenant: str | None, extension: str | None) -> bool:
        """May this caller see (and act on) a call of `tenant` whose agent is `extension`?"""
        return self.sees(tenant) and (self.agent is None or extension == self.agent)

    def check_extension(self, ext: str) -> None:
        if not self.owns(ext):
            raise ApiError("EXTENSION_NOT_ALLOWED", f"extension {ext} is not one of this account's extensions")

    def check_own(self, ext: str) -> None:
        """An extension the caller acts for (a click-to-call's, a pause's, a stream's filter): the tenant's, and an
        agent token's own."""
        self.check_extension(ext)
        if self.agent is not None and ext != self.agent:
            raise ApiError("AGENT_EXTENSION_ONLY", f"this agent token acts only for extension {self.agent}")

    def hotline(self, number: str | None) -> Hotline:
        if number is None:
            return self.hotlines[0]
        for h in self.hotlines:
            if h.number == number:
                return h
        raise ApiError("HOTLINE_NOT_FOUND", f"hotline {number} is not configured")


@dataclass(frozen=True)
class TokenSpec:
    """A token as configured: its stored digest, its id (what the audit trail and logs name, never the token), its
    scopes (None: everything its tenant may do) and, for an agent token, its extension."""

    digest: str  # sha256:<hex>
    id: str
    scopes: frozenset[Scope] | None = None
    extension: str | None = None

    @classmethod
    def of(cls, token: str, id: str | None = None, scopes=None, extension: str | None = None) -> "TokenSpec":
        digest = stored_form(token)
        scopes = frozenset(Scope(s) for s in scopes) if scopes is not None else None
        if extension is not None and scopes is None:
            scopes = AGENT_SCOPES
        return cls(digest, id or derived_id(digest), scopes, extension)


def derived_id(digest: str) -> str:
    """The id of a token configured without one: the first characters of its digest (not of the token)."""
    return "t-" + digest.removeprefix("sha256:")[:12]


def operator_token(item: str) -> TokenSpec:
    """One item of C2C_API_TOKENS: `TOKEN` or `TOKEN;id=ID;scopes=SCOPE SCOPE` (ValueError, never naming the token)."""
    token, *options = (part.strip() for part in item.split(";"))
    given: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key.strip() not in ("id", "scopes") or key.strip() in given:
            raise ValueError("C2C_API_TOKENS: after a token come only ;id=ID and ;scopes=SCOPE SCOPE...")
        given[key.strip()] = value.strip()
    if not token or (token.startswith("sha256:") and not HASH_RE.fullmatch(token)):
        raise ValueError("C2C_API_TOKENS: a token is empty, or a sha256: digest that is not 64 lower-case hex digits")
    if "id" in given and not NAME_RE.fullmatch(given["id"]):
        raise ValueError("C2C_API_TOKENS: a token id must be 1-64 letters, digits, '.', '_' or '-'")
    scopes = None
    if "scopes" in given:
        scopes = given["scopes"].split()
        if unknown := [s for s in scopes if s not in set(Scope)]:
            raise ValueError(f"C2C_API_TOKENS: unknown scope {unknown[0]!r} (known: {', '.join(Scope)})")
    return TokenSpec.of(token, given.get("id"), scopes)


@dataclass(frozen=True)
class Credential:
    """Who a presented token is: its id, its tenant (narrowed to its extension for an agent token), its scopes."""

    id: str
    tenant: Tenant
    scopes: frozenset[Scope]


class Directory:
    """Token -> tenant. Tokens are kept only as SHA-256 digests and compared in constant time."""

    def __init__(self, operator_tokens: tuple[str, ...], operator: Tenant,
                 tenants: tuple[tuple[Tenant, tuple[TokenSpec, ...]], ...] = ()) -> None:
        self.operator = operator
        self.tenants = tuple(t for t, _ in tenants)
        every = [*operator.groups, *(g for t in self.tenants for g in t.groups)]
        self.groups = {g.name: g for g in every}  # names are unique (checked at load: check_groups)
        self.hotline_groups = {number: g for g in every for number in g.hotlines}
        self._digests: list[tuple[bytes, Credential]] = []
        self._ids: dict[str, tuple[str, Credential]] = {}  # token id -> (digest hex, credential): console sessions
        for tenant, specs in ((operator, tuple(operator_token(t) for t in operator_tokens)), *tenants):
            for spec in specs:
                narrowed = replace(tenant, agent=spec.extension) if spec.extension is not None else tenant
                credential = Credential(spec.id, narrowed, spec.scopes if spec.scopes is not None else frozenset(Scope))
                self._digests.append((bytes.fromhex(spec.digest.removeprefix("sha256:")), credential))
                self._ids[spec.id] = (spec.digest.removeprefix("sha256:"), credential)

    def identify(self, presented: str) -> Credential | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for stored, credential in self._digests:  # all of them: timing tells nothing about which matched
            if hmac.compare_digest(digest, stored):
                found = credential
        return found

    def by_id(self, token_id: str) -> tuple[str, Credential] | None:
        """A configured token by its id: its digest (hex) and credential; None once it is removed."""
        return self._ids.get(token_id)

    def authenticate(self, presented: str) -> Tenant | None:
        found = self.identify(presented)
        return found.tenant if found is not None else None

    def group(self, name: str) -> RingGroup | None:
        return self.groups.get(name)

    def group_of_hotline(self, number: str) -> RingGroup | None:
        """The group an inbound call to this hotline rings."""
        return self.hotline_groups.get(number)

    def owner_of(self, ext: str) -> Tenant:
        """The tenant whose extension this is (a dialplan handoff carries no token); else the operator."""
        return next((t for t in self.tenants if t.owns(ext)), self.operator)


def load(text: str, global_hotlines: tuple[Hotline, ...], source: str = "tenants file"
         ) -> tuple[tuple[Tenant, tuple[TokenSpec, ...]], ...]:
    """Parse the TOML file into (tenant, its tokens). Raises ValueError naming the tenant and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    known = {h.number: h for h in global_hotlines}

    def hotline(entry: str) -> Hotline:
        if "=" in entry:
            return parse_hotlines(entry, "hotlines")[0]
        if entry not in known:
            fields.refuse(f"hotline {entry!r} is not in C2C_HOTLINES (or write NUMBER=TRUNK)", "TENANT")
        return known[entry]

    try:
        entries = TenantsFile.model_validate(data, context={"hotline": hotline}).tenant
    except ValidationError as exc:
        raise ValueError(_refusal(exc, data, source)) from None
    seen_names: set[str] = set()
    seen_tokens: set[str] = set()
    seen_ids: set[str] = set()
    result = []
    for entry in entries:
        where = f"{source}: tenant {entry.name}"
        if entry.name in seen_names:
            raise ValueError(f"{where}: defined twice")
        seen_names.add(entry.name)
        stored = []
        given = [(token, TokenSpec.of(token)) for token in entry.tokens] + [
            (t.token, TokenSpec.of(t.token, t.id, t.scopes, t.extension)) for t in entry.token]
        for token, spec in given:
            if not HASH_RE.fullmatch(token):
                log.warning("%s: a token is stored in plain text; store `click2call hash-token` output instead", where)
            if spec.digest in seen_tokens:
                raise ValueError(f"{where}: a token is used twice (each token belongs to one tenant)")
            if spec.id in seen_ids:
                raise ValueError(f"{where}: token id {spec.id} is used twice (ids name one token each)")
            seen_tokens.add(spec.digest)
            seen_ids.add(spec.id)
            stored.append(spec)
        tenant = Tenant(name=entry.name, hotlines=tuple(entry.hotlines),
                        extensions=frozenset(entry.extensions) if entry.extensions is not None else None,
                        pattern=entry.extension_pattern, hooks=tuple(entry.hook),
                        groups=tuple(g.group(entry.name) for g in entry.group),
                        allowed_networks=tuple(entry.allowed_networks))
        for spec in stored:
            if spec.extension is not None and not tenant.owns(spec.extension):
                raise ValueError(f"{where}: token {spec.id}: extension {spec.extension} is not one of the tenant's")
        for group in tenant.groups:
            if foreign := [e for e in group.extensions if not tenant.owns(e)]:
                raise ValueError(f"{where}: group {group.name}: extension {foreign[0]} is not one of the tenant's")
            numbers = {h.number for h in tenant.hotlines}
            if strange := [n for n in group.hotlines if n not in numbers]:
                raise ValueError(f"{where}: group {group.name}: hotline {strange[0]} is not one of the tenant's")
        result.append((tenant, tuple(stored)))
    check_groups([g for t, _ in result for g in t.groups], source)
    return tuple(result)


def check_groups(groups: list[RingGroup], source: str) -> None:
    """A group's name, and a hotline's group, are one across the whole configuration."""
    names: set[str] = set()
    hotlines: dict[str, str] = {}
    for group in groups:
        if group.name in names:
            raise ValueError(f"{source}: group {group.name} is defined twice")
        names.add(group.name)
        for number in group.hotlines:
            if number in hotlines:
                raise ValueError(f"{source}: hotline {number} rings two groups ({hotlines[number]}, {group.name})")
            hotlines[number] = group.name


def load_groups(text: str, source: str = "C2C_GROUPS_FILE") -> tuple[RingGroup, ...]:
    """The operator's ring groups (a setup without tenants, or groups of no tenant). Raises ValueError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    try:
        entries = GroupsFile.model_validate(data).group
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_context=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValueError(f"{source}: {where}: {error['msg']}") from None
    groups = tuple(entry.group(None) for entry in entries)
    check_groups(list(groups), source)
    return groups


HOOK_KEYS = f"event ({', '.join(EventName)}), callback_url, and optionally callback_apikey and secret"
# What a key of [[tenant]] must be, when pydantic's own check (a type, a length) refuses it.
KEY_MESSAGES = {
    "tokens": "tokens must be a list of strings",
    "token": "each [[tenant.token]] has id, token, and optionally scopes and extension",
    "extensions": "extensions must be a list of strings",
    "hotlines": "hotlines must be a list of strings",
    "hook": f"each [[tenant.hook]] has {HOOK_KEYS}",
    "allowed_networks": "allowed_networks must be a list of networks (CIDR, such as 10.1.0.0/16)",
}


def _refusal(exc: ValidationError, data: dict, source: str) -> str:
    """The first refusal, worded as `SOURCE: tenant NAME: what is wrong` (never a token's value)."""
    errors = exc.errors(include_url=False, include_context=False)
    loc = errors[0]["loc"]
    if not loc or loc[0] != "tenant" or len(loc) < 2:
        return f"{source}: expected only [[tenant]] tables"
    i = loc[1]
    item = data["tenant"][i]
    named = isinstance(item, dict) and isinstance(item.get("name"), str) and NAME_RE.fullmatch(item["name"])
    where = f"{source}: tenant {item['name']}" if named else f"{source}: tenant #{i + 1}"
    mine = [e for e in errors if e["loc"][:2] == ("tenant", i)]
    if unknown := [str(e["loc"][2]) for e in mine if e["type"] == "extra_forbidden" and len(e["loc"]) == 3]:
        return f"{where}: unknown key(s) {', '.join(sorted(unknown))}"
    error = mine[0]
    key = error["loc"][2] if len(error["loc"]) > 2 else None
    if key is None:
        return f"{where}: {error['msg'] if error['type'] == 'TENANT' else 'must be a table'}"
    if key == "extensions" and error["type"] == "INVALID_PARAMETER":
        return f"{where}: {error['input']!r} is not a valid extension"
    if key == "group" and len(error["loc"]) >= 4:
        return f"{where}: group {error['loc'][4] if len(error['loc']) > 4 else ''}: {error['msg']}".replace(" :", ":")
    if key == "hook" and error["type"] in ("INVALID_PARAMETER", "CONFIG") and len(error["loc"]) == 5:
        return f"{where}: hook: {error['msg']}"  # a value of a hook: its URL, apikey, secret
    if error["type"] in ("TENANT", "CONFIG") or key not in KEY_MESSAGES:
        return f"{where}: {error['msg']}"
    return f"{where}: {KEY_MESSAGES[key]}"
