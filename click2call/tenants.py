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
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from .errors import ApiError
from .ring_group import RingGroup
from .schema import fields
from .schema.groups import GroupsFile
from .schema.tenants_file import HASH_RE, NAME_RE, HookEntry, TenantsFile
from .states import EventName

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

    def check_extension(self, ext: str) -> None:
        if not self.owns(ext):
            raise ApiError("EXTENSION_NOT_ALLOWED", f"extension {ext} is not one of this account's extensions")

    def hotline(self, number: str | None) -> Hotline:
        if number is None:
            return self.hotlines[0]
        for h in self.hotlines:
            if h.number == number:
                return h
        raise ApiError("HOTLINE_NOT_FOUND", f"hotline {number} is not configured")


class Directory:
    """Token -> tenant. Tokens are kept only as SHA-256 digests and compared in constant time."""

    def __init__(self, operator_tokens: tuple[str, ...], operator: Tenant,
                 tenants: tuple[tuple[Tenant, tuple[str, ...]], ...] = ()) -> None:
        self.operator = operator
        self.tenants = tuple(t for t, _ in tenants)
        every = [*operator.groups, *(g for t in self.tenants for g in t.groups)]
        self.groups = {g.name: g for g in every}  # names are unique (checked at load: check_groups)
        self.hotline_groups = {number: g for g in every for number in g.hotlines}
        self._digests: list[tuple[bytes, Tenant]] = []
        for tenant, stored in ((operator, tuple(stored_form(t) for t in operator_tokens)), *tenants):
            for s in stored:
                self._digests.append((bytes.fromhex(s.removeprefix("sha256:")), tenant))

    def authenticate(self, presented: str) -> Tenant | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for stored, tenant in self._digests:  # all of them: timing tells nothing about which matched
            if hmac.compare_digest(digest, stored):
                found = tenant
        return found

    def group(self, name: str) -> RingGroup | None:
        return self.groups.get(name)

    def group_of_hotline(self, number: str) -> RingGroup | None:
        """The group an inbound call to this hotline rings."""
        return self.hotline_groups.get(number)

    def owner_of(self, ext: str) -> Tenant:
        """The tenant whose extension this is (a dialplan handoff carries no token); else the operator."""
        return next((t for t in self.tenants if t.owns(ext)), self.operator)


def load(text: str, global_hotlines: tuple[Hotline, ...], source: str = "tenants file"
         ) -> tuple[tuple[Tenant, tuple[str, ...]], ...]:
    """Parse the TOML file into (tenant, stored token digests). Raises ValueError naming the tenant and the key."""
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
    result = []
    for entry in entries:
        where = f"{source}: tenant {entry.name}"
        if entry.name in seen_names:
            raise ValueError(f"{where}: defined twice")
        seen_names.add(entry.name)
        stored = []
        for token in entry.tokens:
            if not HASH_RE.fullmatch(token):
                log.warning("%s: a token is stored in plain text; store `click2call hash-token` output instead", where)
            digest = stored_form(token)
            if digest in seen_tokens:
                raise ValueError(f"{where}: a token is used twice (each token belongs to one tenant)")
            seen_tokens.add(digest)
            stored.append(digest)
        tenant = Tenant(name=entry.name, hotlines=tuple(entry.hotlines),
                        extensions=frozenset(entry.extensions) if entry.extensions is not None else None,
                        pattern=entry.extension_pattern, hooks=tuple(entry.hook),
                        groups=tuple(g.group(entry.name) for g in entry.group),
                        allowed_networks=tuple(entry.allowed_networks))
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
    "tokens": "tokens must be a non-empty list of strings",
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
