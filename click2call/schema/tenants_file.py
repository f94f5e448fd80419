"""The tenants file (C2C_TENANTS_FILE, TOML) as models: what each [[tenant]] and its [[tenant.hook]] may hold.
Unknown keys are refused. click2call.tenants loads it and words a refusal with the tenant's name and the key."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..states import AGENT_SCOPES, EventName, Scope
from . import fields
from .fields import CallbackUrl, Extension, HeaderValue, refuse
from .groups import GroupEntry
from .hooks import Secret

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # a tenant, a trunk endpoint, an ARI application
HASH_RE = re.compile(r"sha256:[0-9a-f]{64}")
TOKEN_MIN = 16
TENANT = "TENANT"  # the error type of the file's own rules


def name(value: Any, name: str) -> str:
    return fields.matching(NAME_RE, value, f"{name} must be 1-64 letters, digits, '.', '_' or '-'", TENANT)


def token(value: Any, name: str) -> str:
    """A Bearer token as configured: plain (long enough), or its stored digest `sha256:<hex>`."""
    text = fields.string(value, "tokens must be a non-empty list of strings")
    if text.startswith("sha256:"):
        if not HASH_RE.fullmatch(text):
            refuse("a hashed token is sha256: and 64 lower-case hex digits", TENANT)
    elif len(text) < TOKEN_MIN:
        refuse(f"a token must be at least {TOKEN_MIN} characters", TENANT)
    return text


def regex(value: Any, name: str) -> re.Pattern:
    try:
        return re.compile(value)
    except (re.error, TypeError):
        refuse(f"{name} is not a regular expression", TENANT)


Name = fields.field(name, fields.pattern(NAME_RE))
Token = fields.field(token, {"type": "string"})
Regex = fields.field(regex, {"type": "string", "format": "regex"}, re.Pattern)
# A network the tenant's API-made hooks may reach beyond global addresses (webhooks/destinations.py).
AllowedNetwork = fields.field(lambda value, name: fields.network(value, name, TENANT), {"type": "string"}, object)


class HookEntry(BaseModel):
    """A webhook owned by the file (kept in step with it at every start)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: EventName
    callback_url: CallbackUrl
    callback_apikey: HeaderValue | None = None
    secret: Secret | None = Field(None, repr=False)  # optional when C2C_WEBHOOK_SECRET is set


def scope(value: Any, name: str) -> Scope:
    text = fields.string(value, "scopes must be a list of strings")
    if text not in set(Scope):
        refuse(f"unknown scope {text!r} (known: {', '.join(Scope)})", TENANT)
    return Scope(text)


ScopeName = fields.field(scope, {"type": "string", "enum": list(Scope)}, Scope)


class TokenEntry(BaseModel):
    """[[tenant.token]]: a token with an id (the audit trail's and the logs' name for it), scopes (none: everything
    the tenant may do), and for an agent's token the one extension it acts for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Name
    token: Token = Field(repr=False)
    scopes: list[ScopeName] | None = None
    extension: Extension | None = None

    @model_validator(mode="after")
    def _agent(self) -> "TokenEntry":
        if self.extension is not None and self.scopes is not None:
            if extra := sorted(set(self.scopes) - AGENT_SCOPES):
                refuse(f"token {self.id}: an agent token (extension) may not have scope {extra[0]} "
                       f"(only {', '.join(sorted(AGENT_SCOPES))})", TENANT)
        return self


class TenantEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    tokens: list[Token] = []
    token: list[TokenEntry] = []  # tokens with an id, scopes, an extension
    extensions: list[Extension] | None = None
    extension_pattern: Regex | None = None  # a full match
    hotlines: list[str] = []  # a C2C_HOTLINES number, or NUMBER=TRUNK; the first is the default
    hook: list[HookEntry] = []
    allowed_networks: list[AllowedNetwork] = []  # CIDRs its hooks made through the API may reach (e.g. its CRM's LAN)
    group: list[GroupEntry] = []  # ring groups for inbound calls (schema.groups)

    @field_validator("hotlines")
    @classmethod
    def _hotlines(cls, entries: list[str], info: ValidationInfo) -> list:
        """Each a Hotline: the context's `hotline(entry)` resolves it (C2C_HOTLINES, or NUMBER=TRUNK)."""
        return [info.context["hotline"](entry) for entry in entries] if info.context else entries

    @model_validator(mode="after")
    def _complete(self) -> "TenantEntry":
        if not self.tokens and not self.token:
            refuse("give at least one token (tokens, or [[tenant.token]])", TENANT)
        if self.extensions is None and self.extension_pattern is None:
            refuse("give extensions and/or extension_pattern (a tenant never gets them all)", TENANT)
        if not self.hotlines:
            refuse("give at least one hotline", TENANT)
        return self


class TenantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: list[TenantEntry] = []
