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

from . import validation
from .errors import ApiError
from .states import EventName
from .validation import callback_url

log = logging.getLogger("click2call.tenants")

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # a tenant, a trunk endpoint, an ARI application
HASH_RE = re.compile(r"sha256:[0-9a-f]{64}")
TENANT_KEYS = {"name", "tokens", "extensions", "extension_pattern", "hotlines", "hook"}
HOOK_KEYS = {"event", "callback_url", "callback_apikey", "secret"}


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
    """`NUMBER=TRUNK_ENDPOINT,...`; the first is the default."""
    hotlines = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        number, sep, trunk = item.partition("=")
        try:
            validation.phone(number.strip(), "hotline")
        except ApiError as exc:
            raise ValueError(f"{source}: {exc.message}: {item!r}") from None
        if not sep or not NAME_RE.fullmatch(trunk.strip()):
            raise ValueError(f"{source}: expected NUMBER=TRUNK_ENDPOINT, got {item!r}")
        hotlines.append(Hotline(number.strip(), trunk.strip()))
    return tuple(hotlines)


@dataclass(frozen=True)
class ConfiguredHook:
    event: str
    callback_url: str
    callback_apikey: str | None = None
    secret: str | None = None


@dataclass(frozen=True)
class Tenant:
    name: str | None  # None: the operator, who sees every tenant
    hotlines: tuple[Hotline, ...]  # the first is the default
    extensions: frozenset[str] | None = None  # None with no pattern: any extension
    pattern: re.Pattern | None = None
    hooks: tuple[ConfiguredHook, ...] = field(default=(), repr=False)

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

    def owner_of(self, ext: str) -> Tenant:
        """The tenant whose extension this is (a dialplan handoff carries no token); else the operator."""
        return next((t for t in self.tenants if t.owns(ext)), self.operator)


def load(text: str, global_hotlines: tuple[Hotline, ...], source: str = "tenants file"
         ) -> tuple[tuple[Tenant, tuple[str, ...]], ...]:
    """Parse the TOML file into (tenant, stored token digests). Raises ValueError naming what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    if set(data) - {"tenant"} or not isinstance(data.get("tenant", []), list):
        raise ValueError(f"{source}: expected only [[tenant]] tables")
    known = {h.number: h for h in global_hotlines}
    seen_names: set[str] = set()
    seen_tokens: set[str] = set()
    result = []
    for i, item in enumerate(data.get("tenant", []), 1):
        where = f"{source}: tenant #{i}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be a table")
        if unknown := set(item) - TENANT_KEYS:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise ValueError(f"{where}: name must be 1-64 letters, digits, '.', '_' or '-'")
        where = f"{source}: tenant {name}"
        if name in seen_names:
            raise ValueError(f"{where}: defined twice")
        seen_names.add(name)

        tokens = item.get("tokens")
        if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError(f"{where}: tokens must be a non-empty list of strings")
        stored = []
        for t in tokens:
            if t.startswith("sha256:"):
                if not HASH_RE.fullmatch(t):
                    raise ValueError(f"{where}: a hashed token is sha256: and 64 lower-case hex digits")
                stored.append(t)  # already the digest
            else:
                if len(t) < 16:
                    raise ValueError(f"{where}: a token must be at least 16 characters")
                log.warning("%s: a token is stored in plain text; store `click2call hash-token` output instead", where)
                stored.append(hash_token(t))
        for s in stored:
            if s in seen_tokens:
                raise ValueError(f"{where}: a token is used twice (each token belongs to one tenant)")
            seen_tokens.add(s)

        exts = item.get("extensions")
        if exts is not None:
            if not isinstance(exts, list) or not all(isinstance(e, str) for e in exts):
                raise ValueError(f"{where}: extensions must be a list of strings")
            for e in exts:
                try:
                    validation.extension(e)
                except ApiError:
                    raise ValueError(f"{where}: {e!r} is not a valid extension") from None
        pattern = item.get("extension_pattern")
        if pattern is not None:
            try:
                pattern = re.compile(pattern)
            except (re.error, TypeError):
                raise ValueError(f"{where}: extension_pattern is not a regular expression") from None
        if exts is None and pattern is None:
            raise ValueError(f"{where}: give extensions and/or extension_pattern (a tenant never gets them all)")

        hotlines = []
        for entry in item.get("hotlines") or []:
            number, sep, trunk = str(entry).partition("=")
            if sep:
                hotlines.extend(parse_hotlines(str(entry), f"{where}: hotlines"))
            elif number in known:
                hotlines.append(known[number])
            else:
                raise ValueError(f"{where}: hotline {number!r} is not in C2C_HOTLINES (or write NUMBER=TRUNK)")
        if not hotlines:
            raise ValueError(f"{where}: give at least one hotline")

        hooks = []
        for h in item.get("hook") or []:
            if not isinstance(h, dict) or set(h) - HOOK_KEYS or h.get("event") not in EventName.__members__.values():
                raise ValueError(f"{where}: each [[tenant.hook]] has event ({', '.join(EventName)}), callback_url, "
                                 "and optionally callback_apikey and secret")
            try:
                url = callback_url(h.get("callback_url"))
            except ApiError as exc:
                raise ValueError(f"{where}: hook: {exc.message}") from None
            hooks.append(ConfiguredHook(h["event"], url, h.get("callback_apikey"), h.get("secret")))

        tenant = Tenant(name=name, hotlines=tuple(hotlines),
                        extensions=frozenset(exts) if exts is not None else None, pattern=pattern, hooks=tuple(hooks))
        result.append((tenant, tuple(stored)))
    return tuple(result)
