"""Ring groups as configured in TOML: `[[tenant.group]]` in the tenants file, or `[[group]]` in C2C_GROUPS_FILE for a
setup without tenants. Unknown keys are refused.

    [[group]]
    name = "sales"
    extensions = ["101", "102", "103"]
    strategy = "ringall"              # ringall, sequential, longest_idle
    ring_seconds = 20                 # sequential, longest_idle: each agent
    timeout = 60                      # until nobody answered
    no_answer = "hangup"              # or "continue"
    prompt = "vm-goodbye"             # hangup: a sound played first (optional)
    continue_to = "voicemail,s,1"     # continue: context,extension,priority
    sticky_days = 7                   # the caller's last agent rings first, alone (0: off)
    sticky_seconds = 15
    hotlines = ["02873000001"]        # inbound calls to these numbers ring this group
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..ring_group import RingGroup
from ..states import NoAnswer, RingStrategy
from . import fields
from .fields import Extension, Phone, refuse

GROUP_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SOUND_RE = re.compile(r"[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64}){0,4}")  # no "..", no scheme: a sound's name
CONTEXT_RE = re.compile(r"[A-Za-z0-9_-]{1,79}")
PLACE_RE = re.compile(r"(?P<context>[^,]+),(?P<extension>[^,]+),(?P<priority>[0-9]{1,4})")
CONFIG = "CONFIG"


def group_name(value: Any, name: str) -> str:
    return fields.matching(GROUP_NAME_RE, value, f"{name} must be 1-64 letters, digits, '_' or '-'", CONFIG)


def sound(value: Any, name: str) -> str:
    return fields.matching(SOUND_RE, value, f"{name} must be a sound's name such as vm-goodbye or custom/closed",
                           CONFIG)


def place(value: Any, name: str) -> tuple[str, str, int]:
    """context,extension,priority: where a caller nobody answered continues in the dialplan."""
    message = f"{name} must be context,extension,priority (e.g. voicemail,s,1)"
    found = PLACE_RE.fullmatch(fields.string(value, message))
    if not found or not CONTEXT_RE.fullmatch(found["context"]) or int(found["priority"]) < 1:
        refuse(message, CONFIG)
    extension = found["extension"]
    if extension != "s":
        fields.extension(extension, f"{name}'s extension")
    return found["context"], extension, int(found["priority"])


GroupName = fields.field(group_name, fields.pattern(GROUP_NAME_RE))
Sound = fields.field(sound, fields.pattern(SOUND_RE))
Place = fields.field(place, {"type": "string", "description": "context,extension,priority"}, tuple)


class GroupEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: GroupName
    extensions: Annotated[list[Extension], Field(min_length=1, max_length=200)]
    strategy: RingStrategy = RingStrategy.RINGALL
    ring_seconds: Annotated[int, Field(ge=5, le=600)] = 20
    timeout: Annotated[int, Field(ge=5, le=3600)] = 60
    no_answer: NoAnswer = NoAnswer.HANGUP
    prompt: Sound | None = None
    continue_to: Place | None = None
    sticky_days: Annotated[int, Field(ge=0, le=365)] = 0
    sticky_seconds: Annotated[int, Field(ge=5, le=600)] = 15
    hotlines: list[Phone] = []

    @model_validator(mode="after")
    def _whole(self) -> "GroupEntry":
        if self.no_answer is NoAnswer.CONTINUE and self.continue_to is None:
            refuse(f"group {self.name}: no_answer = \"continue\" needs continue_to = \"context,extension,priority\"",
                   CONFIG)
        if len(set(self.extensions)) != len(self.extensions):
            refuse(f"group {self.name}: an extension is listed twice", CONFIG)
        return self

    def group(self, tenant: str | None) -> RingGroup:
        return RingGroup(
            name=self.name, extensions=tuple(self.extensions), strategy=self.strategy, ring_seconds=self.ring_seconds,
            timeout=self.timeout, no_answer=self.no_answer, prompt=self.prompt, continue_to=self.continue_to,
            sticky_days=self.sticky_days, sticky_seconds=self.sticky_seconds, hotlines=tuple(self.hotlines),
            tenant=tenant)


class GroupsFile(BaseModel):
    """C2C_GROUPS_FILE: the operator's ring groups."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: list[GroupEntry] = []
