"""The web console's API: its session (POST/GET/DELETE /console/session) and who a token is (GET /v1/me)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypedDict

from . import fields
from .fields import refuse
from .query import json_object

TOKEN_MAX = 512


def token(value: Any, name: str) -> str:
    """An API token as typed into the sign-in form: never echoed back, never logged."""
    if value is None or value == "":
        refuse(f"{name} is required", "MISSING_PARAMETER")
    if not isinstance(value, str) or len(value) > TOKEN_MAX or not value.isprintable():
        refuse(f"{name} must be printable text, at most {TOKEN_MAX} characters")
    return value.strip()


Token = fields.field(token, {"type": "string", "minLength": 1, "maxLength": TOKEN_MAX})


class SessionCreate(BaseModel):
    """POST /console/session: sign in with an API token."""

    model_config = ConfigDict(frozen=True)

    token: Token = Field(description="an API token (operator, tenant or agent); the session stands for it")

    @model_validator(mode="before")
    @classmethod
    def _json(cls, body: Any) -> Any:
        return {"token": None, **json_object(body)}


class ConsoleSession(TypedDict):
    """A live session: the token it stands for (by id) and the CSRF token its changes must send as X-CSRF-Token."""

    status: Literal["success"]
    token_id: str
    csrf: str


class Me(TypedDict):
    """Who the token (or session) is."""

    status: Literal["success"]
    token_id: str
    tenant: str  # "" for the operator
    operator: bool
    scopes: list[str]
    extension: str | None  # an agent token's extension
    hotlines: list[str]  # the numbers it may call from, the default first
    timezone: str  # the service's C2C_TIMEZONE: how the console shows times
