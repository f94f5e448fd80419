"""GET /v1/stream: the live event stream's filters and where it resumes. Its answer is Server-Sent Events (not a
model): each message's `event` is one of STREAM_EVENTS, its `data` the event's JSON (a webhook payload for a call
event), its `id` the event's position in the log."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..states import AgentEvent, EventName
from . import fields
from .fields import Extension, refuse
from .query import Query

STREAM_EVENTS: tuple[str, ...] = (*EventName, *AgentEvent)
MAX_POSITION = 2**63 - 1  # the log's positions are 64-bit


def event_list(value: Any, name: str) -> frozenset[str]:
    """Event names, comma-separated; each a call event or an agent event."""
    message = f"{name} must be a comma-separated list of {', '.join(STREAM_EVENTS)}"
    names = {part.strip() for part in fields.string(value, message).split(",")} - {""}
    if not names:
        refuse(message)
    for item in names:
        if item not in STREAM_EVENTS:
            refuse(f"{name}: unknown event {item!r}; the events are {', '.join(STREAM_EVENTS)}")
    return frozenset(names)


def position(value: Any, name: str) -> int:
    """An event's position (an SSE id this stream sent): a non-negative integer."""
    return fields.query_int(0, MAX_POSITION)(value, name)


Events = fields.field(event_list, {"type": "string", "pattern": f"^({'|'.join(STREAM_EVENTS)})"
                                   f"(,({'|'.join(STREAM_EVENTS)}))*$"}, frozenset)
Position = fields.field(position, {"type": "integer", "minimum": 0, "maximum": MAX_POSITION}, int)


class StreamQuery(Query):
    """GET /v1/stream. Checked in the order of the fields."""

    extension: Extension | None = Field(None, description="only the events of this agent's extension")
    event: Events | None = Field(None, description="only these events, comma-separated (default: all)")
    last_event_id: Position | None = Field(
        None, description="resume after this event (the last SSE id received), for clients that cannot send the "
                          "Last-Event-ID header; the header, when sent, wins. Without either the stream starts now")
