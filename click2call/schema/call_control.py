"""Call control's bodies: POST /v1/call/{call_id}/hold, unhold, mute, unmute ({"legs"}) and dtmf ({"legs",
"digits"}). `legs` keeps TEL4VN's names: `aleg` the agent's side, `bleg` the customer's."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..states import Side
from . import fields
from .fields import Extension, JsonBool, Phone
from .query import json_object

DIGITS_RE = re.compile(r"[0-9A-Da-d*#]{1,32}")  # RFC 4733 events: nothing else reaches ARI's dtmf


def side(value: Any, name: str) -> Side:
    if value not in Side.__members__.values():
        fields.refuse(f"{name} must be {Side.ALEG} (the agent) or {Side.BLEG} (the customer)")
    return Side(value)


def digits(value: Any, name: str) -> str:
    return fields.matching(DIGITS_RE, value, f"{name} must be 1-32 of 0-9, A-D, * and #")


Legs = fields.field(side, {"type": "string", "enum": list(Side)}, Side)
Digits = fields.field(digits, fields.pattern(DIGITS_RE))


class LegsBody(BaseModel):
    """Which party of the call."""

    model_config = ConfigDict(frozen=True)

    legs: Legs = Field(description="aleg: the agent's side; bleg: the customer's")

    @model_validator(mode="before")
    @classmethod
    def _json(cls, body: Any) -> Any:
        return {"legs": None, **json_object(body)}  # a missing one is refused by its own rule


class DtmfBody(LegsBody):
    """The digits to send to that party (RFC 4733), e.g. to walk a customer's IVR."""

    digits: Digits = Field(description="0-9, A-D, * and #, up to 32")

    @model_validator(mode="before")
    @classmethod
    def _json(cls, body: Any) -> Any:
        return {"legs": None, "digits": None, **json_object(body)}


class SuperviseBody(BaseModel):
    """The supervisor's extension (TEL4VN's body)."""

    model_config = ConfigDict(frozen=True)

    ext: Extension = Field(description="the supervisor's extension: rung, then listens, whispers or barges")

    @model_validator(mode="before")
    @classmethod
    def _json(cls, body: Any) -> Any:
        return {"ext": None, **json_object(body)}


class TransferBody(BaseModel):
    """TEL4VN's body ({"ext", "legs"}), with ours: the mode, hold (attended only), or an external number instead."""

    model_config = ConfigDict(frozen=True)

    legs: Legs = Field(description="the party that goes on with the target: bleg the customer (usual), aleg the agent")
    ext: Extension | None = Field(None, description="the extension to transfer to (or phone)")
    phone: Phone | None = Field(None, description="an external number to transfer to, through the call's hotline")
    mode: Literal["blind", "attended"] = Field(
        "blind", description="blind: the other party leaves at once; attended: it stays until the target answers")
    hold: JsonBool = Field(False, description="attended only: the moving party hears music until the target answers")

    @model_validator(mode="before")
    @classmethod
    def _json(cls, body: Any) -> Any:
        body = {"legs": None, **json_object(body)}
        if isinstance(body.get("hold"), bool):  # JSON's true/false, as the words the rule takes
            body["hold"] = str(body["hold"]).lower()
        if (body.get("ext") is None) == (body.get("phone") is None):
            fields.refuse("give exactly one of ext and phone")
        if body.get("mode", "blind") not in ("blind", "attended"):
            fields.refuse("mode must be blind or attended")
        if str(body.get("hold") or "").strip().lower() not in fields.FALSE_WORDS and body.get("mode") != "attended":
            fields.refuse("hold is for an attended transfer only")
        return body
