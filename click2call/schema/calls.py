"""A call in progress, as GET /v1/call lists it."""

from __future__ import annotations


from typing_extensions import TypedDict

from ..states import Direction
from ..stasis_app.call_flow import Phase
from .cdr import Time


class LiveCall(TypedDict):
    call_id: str
    extension: str
    destination: str  # the customer's number
    hotline: str
    direction: Direction
    state: Phase
    time_started: Time
