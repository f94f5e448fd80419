"""Calls handed to the app by the dialplan, not started by the API. Stasis arguments are input like any other:
parsed and validated here (pure), before anything reaches a dial string.

    Stasis(click2call,outbound[,HOTLINE])          an agent dialled an external number: ${EXTEN} is the phone
    Stasis(click2call,click2call,PHONE[,HOTLINE])  a CRM's originate (AMI, call file, Local/ channel) answered
                                                   by the agent: call PHONE from this channel
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import validation
from .errors import ApiError

MODES = ("outbound", "click2call")
# PJSIP/101-0000002a, Local/101@click2call-agents-00000001;1
CHANNEL_NAME_RE = re.compile(r"(?:PJSIP|SIP)/(?P<pjsip>[^-/@;]+)-[0-9a-f]+|Local/(?P<local>[^@/;]+)@.+")


@dataclass(frozen=True)
class Handoff:
    ext: str
    phone: str
    hotline: str | None


def extension_of(channel: dict) -> str:
    """The agent's extension: the endpoint in the channel's name, else its caller number."""
    match = CHANNEL_NAME_RE.fullmatch(channel.get("name", ""))
    found = (match.group("pjsip") or match.group("local")) if match else channel.get("caller", {}).get("number", "")
    return validation.extension(found or "", "extension of the channel")


def parse(channel: dict, args: list[str]) -> Handoff:
    """Raise ApiError (its message is the logged reason) for anything that is not a valid handoff."""
    if not args or args[0] not in MODES:
        raise ApiError("INVALID_PARAMETER", f"first Stasis argument must be one of {', '.join(MODES)}")
    if args[0] == "outbound":
        phone, rest = channel.get("dialplan", {}).get("exten", ""), args[1:]
    else:
        if len(args) < 2 or not args[1]:
            raise ApiError("MISSING_PARAMETER", "Stasis(app,click2call,PHONE[,HOTLINE]) needs the phone")
        phone, rest = args[1], args[2:]
    if len(rest) > 1:
        raise ApiError("INVALID_PARAMETER", "too many Stasis arguments")
    hotline = rest[0] if rest and rest[0] else None
    return Handoff(
        ext=extension_of(channel),
        phone=validation.phone(phone),
        hotline=None if hotline is None else validation.phone(hotline, "hotline"),
    )
