"""Agents: pausing and resuming one (POST /v1/agent/{ext}/pause, /resume), the monitor (GET /v1/monitor/agent, TEL4VN's
shape plus ours), and the live stream's agent event."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypedDict

from ..states import AgentCallState, AgentEvent, Direction
from . import fields
from .cdr import Time
from .fields import Extension, refuse
from .query import Query, json_object

REASON_MAX = 255


def reason(value: Any, name: str) -> str | None:
    """Why an agent is paused, shown to people: printable text, bounded. Empty is none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > REASON_MAX or not value.isprintable():
        refuse(f"{name} must be printable text, at most {REASON_MAX} characters")
    return value


Reason = fields.field(reason, {"type": "string", "maxLength": REASON_MAX})


class PauseBody(BaseModel):
    """POST /v1/agent/{ext}/pause: the body is optional."""

    model_config = ConfigDict(frozen=True)

    reason: Reason | None = Field(None, description="why (break, meeting, ...), kept while paused")

    @model_validator(mode="before")
    @classmethod
    def _json(cls, body: Any) -> Any:
        return json_object(body)


class MonitorQuery(Query):
    extension: Extension | None = Field(None, description="only this extension")


class AgentPaused(TypedDict):
    status: Literal["success"]
    extension: str
    paused: bool


class AgentStatus(TypedDict):
    """One agent as the monitor shows it: TEL4VN's fields, then ours (registered, paused, since)."""

    extension: str
    call_state: AgentCallState
    call_id: str  # the click2call call it is on, "" when none (or a call that is not one of ours)
    call_time: int  # seconds in the current call state (ringing, or talking); 0 when idle
    destination: str  # the customer's number on a call of ours
    direction: Direction | Literal[""]
    user_agent: str  # of the registered contact
    network_ip: str
    server_host: str  # the Asterisk node it is registered on
    registered: bool
    paused: bool
    since: Time  # when its call state last changed (idle: the later of that and its registration)


class AgentMonitor(TypedDict):
    status: Literal["success"]
    data: list[AgentStatus]


class AgentStreamEvent(TypedDict):
    """An agent event of the live stream (GET /v1/stream): what changed (`event`) and the agent as it is now."""

    extension: str
    event: AgentEvent
    registered: bool
    paused: bool
    call_state: AgentCallState
    call_id: str
    user_agent: str
    network_ip: str
    node: str
    timestamp: float
