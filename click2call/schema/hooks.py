"""Webhook subscriptions: the body of POST /v1/event, a hook as listed (never its apikey or secret), its deliveries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from typing_extensions import TypedDict

from ..states import DeliveryStatus, EventName
from . import fields
from .fields import CallbackUrl, HeaderValue, refuse
from .query import json_object


def event_name(value: Any, name: str) -> EventName:
    if value not in EventName.__members__.values():
        refuse(f"{name} must be one of {', '.join(EventName)}")
    return EventName(value)


Event = fields.field(event_name, {"type": "string", "enum": list(EventName)}, EventName)
Secret = fields.field(fields.webhook_secret, {**fields.pattern(fields.WEBHOOK_SECRET_RE), "maxLength": fields.MAX_HEADER})


class HookCreate(BaseModel):
    """POST /v1/event: subscribe one event. Checked in the order of the fields."""

    model_config = ConfigDict(frozen=True)

    event: Event = Field(description="the event this hook receives")
    secret: Secret | None = Field(None, description="whsec_<base64 key> signing this hook's deliveries "
                                                    "(default C2C_WEBHOOK_SECRET); stored encrypted")
    callback_url: CallbackUrl = Field(description="where events are POSTed: a global address, or one of a network "
                                                  "the operator allows (else 400 HOOK_URL_REFUSED)")
    callback_apikey: HeaderValue | None = Field(None, description="sent as the Authorization header; stored encrypted")

    @model_validator(mode="before")
    @classmethod
    def _json(cls, body: Any) -> Any:
        return {"event": None, "callback_url": None, **json_object(body)}  # a missing one is refused by its own rule


class Hook(TypedDict):
    id: str
    event: EventName
    callback_url: str
    has_callback_apikey: bool
    has_secret: bool
    created_at: float
    disabled: bool
    disabled_reason: str
    tenant: str | None
    configured: bool  # from C2C_TENANTS_FILE (kept in step with it at every start)


class Attempt(TypedDict):
    at: float
    status_code: int | None
    error: str
    duration_ms: int
    answer: str  # the start of what the receiver answered, when not 2xx (one line, at most 255 characters)


class Delivery(TypedDict):
    id: str
    webhook_id: str  # the webhook-id header, the same on every attempt
    event: EventName
    call_id: str
    sequence: int
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str
    next_attempt_at: float | None  # pending ones only
    delivered_at: float | None
    history: list[Attempt]
