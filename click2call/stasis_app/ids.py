"""ARI object ids derived from the call_id, so every event maps to its call without a lookup."""

from __future__ import annotations

AGENT = "agent"
CUSTOMER = "customer"
_SEP = "."


def channel_id(call_id: str, leg: str) -> str:
    return f"{call_id}{_SEP}{leg}"


def bridge_id(call_id: str) -> str:
    return f"{call_id}{_SEP}bridge"


def parse(object_id: str) -> tuple[str, str] | None:
    """`<call_id>.<leg>` -> (call_id, leg); None for ids that are not ours."""
    call_id, sep, leg = object_id.rpartition(_SEP)
    if not sep or leg not in (AGENT, CUSTOMER, "bridge"):
        return None
    return call_id, leg
