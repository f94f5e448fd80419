"""A call in progress, as GET /v1/call lists it."""

from __future__ import annotations


from typing_extensions import TypedDict

from ..states import Direction
from ..stasis_app.call_flow import Phase
from ..stasis_app.inbound_flow import Phase as InboundPhase
from .cdr import Time


class LiveCall(TypedDict):
    call_id: str
    extension: str
    destination: str  # the customer's number (inbound: the caller's)
    hotline: str
    direction: Direction
    state: Phase | InboundPhase
    time_started: Time
    customer_id: str  # the CRM's id given with the click-to-call ("" for none)
