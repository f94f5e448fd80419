"""A ring group as configured: who an inbound call rings, how, and what happens when nobody answers. Pure data, read
from TOML (schema.groups) and run by the inbound call flow (stasis_app.inbound_flow)."""

from __future__ import annotations

from dataclasses import dataclass

from .states import NoAnswer, RingStrategy

# A Stasis argument naming a group, never mistaken for an extension: Stasis(click2call,inbound,group:sales)
GROUP_PREFIX = "group:"


@dataclass(frozen=True)
class RingGroup:
    name: str
    extensions: tuple[str, ...]
    strategy: RingStrategy = RingStrategy.RINGALL
    ring_seconds: int = 20  # sequential, longest_idle: how long each agent rings
    timeout: int = 60  # seconds from the call's arrival until nobody answered
    no_answer: NoAnswer = NoAnswer.HANGUP
    prompt: str | None = None  # a sound played (the caller answered for it) before the hang-up
    continue_to: tuple[str, str, int] | None = None  # no_answer=continue: context, extension, priority
    sticky_days: int = 0  # 0: no sticky agent
    sticky_seconds: int = 15  # how long the caller's last agent rings alone
    hotlines: tuple[str, ...] = ()  # inbound calls to these numbers ring this group
    tenant: str | None = None  # whose group; None: the operator's

    @classmethod
    def of_extension(cls, ext: str, tenant: str | None, ring_seconds: int) -> "RingGroup":
        """Stasis(click2call,inbound,101): that extension alone, as a group of one."""
        return cls(name="", extensions=(ext,), ring_seconds=ring_seconds, timeout=ring_seconds, tenant=tenant)
