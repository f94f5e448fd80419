"""One leg of a call (a channel of ours, or the caller's): what happened to it and when. Shared by the flows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Leg:
    created: bool = False
    bridged: bool = False  # the customer leg joined the bridge and was dialled
    ringing: bool = False
    answered: bool = False
    gone: bool = False
    cause: int | None = None
    cause_txt: str | None = None
    sip_call_id: str | None = None
    # epoch seconds, from the events (Asterisk's own timestamps where it gives them)
    created_at: float | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None

    @property
    def alive(self) -> bool:
        return self.created and not self.gone
