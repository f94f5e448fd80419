"""A click-to-call request: the query of GET /v1/click2call(/async), and TEL4VN's v2 JSON body."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import Field, model_validator

from . import fields
from .fields import BoolWord, CustomerId, DisplayName, Extension, JsonBool, Phone, refuse
from .query import Query, json_object


class _Encoded(NamedTuple):
    """`phone` as sent, with what `is_encode` says of it (None: is_encode is no boolean word; its error follows)."""

    text: str
    base64: bool | None


def _dialled(value: Any, name: str) -> str:
    if type(value) is _Encoded:
        if value.base64 is None:
            return value.text  # refused anyway, for is_encode
        return fields.base64_phone(value.text, name) if value.base64 else fields.phone(value.text, name)
    return fields.phone(value, name)


DialledPhone = fields.field(_dialled, {"type": "string", "minLength": 1})


class ClickToCall(Query):
    """A validated click-to-call request. Defaults that need configuration are resolved later (CallSpecs).

    Checked in the order of the fields: the first refusal is the answer."""

    ext: Extension = Field(description="the agent's extension")
    phone: DialledPhone = Field(description="the number to call (Base64 when is_encode=true)")
    is_encode: BoolWord = Field(False, description="true: phone is Base64 (standard or URL-safe, padding optional)")
    src_cid_name: DisplayName = Field("Click2Call", description="name shown on the agent's phone")
    src_cid_number: Phone | None = Field(None, description="number shown on the agent's phone (default the extension)")
    dest_cid_name: DisplayName | None = Field(None, description="caller name sent to the customer")
    dest_cid_number: Phone | None = Field(None, description="caller number sent to the customer (default the hotline)")
    auto_answer: BoolWord = Field(False, description="true: the agent's phone answers by itself (Call-Info, Alert-Info)")
    hotline: Phone | None = Field(None, description="outbound number; chooses its trunk (default the first)")
    customer_id: CustomerId | None = Field(None, description="the CRM's id for the customer, echoed in records and webhooks")
    record: BoolWord | None = Field(None, description="record the call (default C2C_RECORD)")

    @classmethod
    def prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """`is_encode` says how `phone` is read, yet `phone` is checked in its place (a missing phone is refused
        before a bad is_encode, a bad phone after it): the phone carries what is_encode says."""
        phone = cls.model_fields["phone"].alias or "phone"
        if phone in data and "is_encode" in data:
            try:
                encoded = fields.boolean(data["is_encode"], "is_encode")
            except fields.Refused:
                encoded = None
            data[phone] = _Encoded(data[phone], encoded)
        return data


V2_NAMES = {"customer_id": "id", "phone": "mobile", "ext": "agent"}  # v1 name -> v2 name


class ClickToCallV2(ClickToCall):
    """TEL4VN's v2 JSON body: {"id": customer id, "mobile": phone, "agent": extension} plus the v1 optional fields.
    Values may be JSON strings, numbers or booleans (sent as their text); null is absent. A v1 name is taken for its
    v2 name (the later key wins)."""

    ext: Extension = Field(alias="agent", description="the agent's extension")
    phone: DialledPhone = Field(alias="mobile", description="the number to call (Base64 when is_encode=true)")
    customer_id: CustomerId | None = Field(None, alias="id", description="the CRM's id for the customer")
    is_encode: JsonBool = False
    auto_answer: JsonBool = False
    record: JsonBool | None = None

    @model_validator(mode="before")
    @classmethod
    def _json(cls, body: Any) -> Any:
        params: dict[str, str] = {}
        for key, value in json_object(body).items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, int):
                value = str(value)
            elif value is None:
                continue
            elif not isinstance(value, str):
                refuse(f"{key} must be a string")
            params[V2_NAMES.get(key, key)] = value
        for name in ("agent", "mobile"):  # the contract's required fields come first
            if not params.get(name):
                refuse(f"{name} is required", "MISSING_PARAMETER")
        return params
