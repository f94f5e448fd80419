"""Input as the API sees it: parse with a model of `click2call.schema`, or check one value with one of its rules;
a refusal becomes an ApiError here, and only here (the first refusal, in the order of the model's fields).

Every value that can reach a dial string or a SIP header is checked by a rule of `schema.fields` before any I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from .errors import CODES, ApiError
from .schema import fields
from .schema import stream
from .schema.click_to_call import ClickToCall, ClickToCallV2
from .schema.fields import CUSTOMER_ID_RE, EXTENSION_RE, FALSE_WORDS, PHONE_RE, TRUE_WORDS  # noqa: F401 (the rules')

M = TypeVar("M", bound=BaseModel)


def api_error(exc: ValidationError | PydanticCustomError) -> ApiError:
    """The API's refusal for a model's (or a rule's) first error."""
    if isinstance(exc, PydanticCustomError):
        return ApiError(exc.type, exc.message())
    error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    if error["type"] in CODES:
        return ApiError(error["type"], error["msg"])
    name = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return ApiError("MISSING_PARAMETER", f"{name} is required")
    return ApiError("INVALID_PARAMETER", f"{name}: {error['msg']}")  # a constraint of pydantic's own


def parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise api_error(exc) from None


def _checked(rule, *args) -> Any:
    try:
        return rule(*args)
    except PydanticCustomError as exc:
        raise api_error(exc) from None


def click_to_call(params: Mapping[str, str]) -> ClickToCall:
    """The seed contract's query parameters."""
    return parse(ClickToCall, params)


def click_to_call_v2(body: Any) -> ClickToCall:
    """TEL4VN's v2 JSON body."""
    return parse(ClickToCallV2, body)


# One value, one rule, for input that is not a request (Stasis arguments of a dialplan handoff, the settings).

def phone(value: str, name: str = "phone") -> str:
    return _checked(fields.phone, value, name)


def extension(value: str, name: str = "ext") -> str:
    return _checked(fields.extension, value, name)


def display_name(value: str, name: str) -> str:
    return _checked(fields.display_name, value, name)


def base64_phone(value: str) -> str:
    return _checked(fields.base64_phone, value)


def callback_url(value: Any) -> str:
    return _checked(fields.callback_url, value)


def position(value: str, name: str) -> int:
    """A position in the live stream's log (a Last-Event-ID)."""
    return _checked(stream.position, value, name)
