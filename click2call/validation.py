"""Every value that can reach a dial string or a SIP header is checked here, before any I/O.

Pure functions: they take raw query strings and return clean values or raise ApiError.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ApiError

# Digits with an optional leading '+': nothing that can split a dial string (& , / @ ;) or a header.
PHONE_RE = re.compile(r"\+?[0-9]{1,20}")
# PJSIP endpoint / extension names: conservative, no separators of dial strings or URIs.
EXTENSION_RE = re.compile(r"[A-Za-z0-9_.-]{1,40}")
# Punctuation a person's or company's name may carry; letters and digits of any script are allowed.
NAME_PUNCTUATION = frozenset(" .-_'()")
NAME_MAX = 64
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})


def phone(value: str, name: str = "phone") -> str:
    if not PHONE_RE.fullmatch(value):
        raise ApiError("INVALID_PARAMETER", f"{name} must be digits with an optional leading '+' (1-20 digits)")
    return value


def extension(value: str, name: str = "ext") -> str:
    # At least one letter or digit: "." and ".." would walk ARI's URL path (/endpoints/PJSIP/..).
    if not EXTENSION_RE.fullmatch(value) or not any(c.isalnum() for c in value):
        raise ApiError("INVALID_PARAMETER", f"{name} must be 1-40 letters, digits, '.', '_' or '-'")
    return value


def display_name(value: str, name: str) -> str:
    """A caller-ID name: letters of any script (Vietnamese names are common), digits, a little punctuation."""
    if len(value) > NAME_MAX:
        raise ApiError("INVALID_PARAMETER", f"{name} is longer than {NAME_MAX} characters")
    for ch in value:
        if ch in NAME_PUNCTUATION:
            continue
        if unicodedata.category(ch)[0] not in "LMN":
            raise ApiError("INVALID_PARAMETER", f"{name} may hold only letters, digits, spaces and . - _ ' ( )")
    if value.strip() != value:
        raise ApiError("INVALID_PARAMETER", f"{name} must not start or end with a space")
    return value


CUSTOMER_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def customer_id(value: str, name: str = "customer_id") -> str:
    """The CRM's own id for the customer: stored and echoed, never dialled."""
    if not CUSTOMER_ID_RE.fullmatch(value):
        raise ApiError("INVALID_PARAMETER", f"{name} must be 1-64 letters, digits, '.', '_', ':' or '-'")
    return value


def boolean(value: str, name: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ApiError("INVALID_PARAMETER", f"{name} must be true or false")


def base64_phone(value: str) -> str:
    """Decode a Base64 phone (standard or URL-safe alphabet, padding optional), then validate it."""
    # An unescaped '+' in a query string arrives as a space; Base64 never contains spaces.
    text = value.replace(" ", "+").replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        decoded = base64.b64decode(text, validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError("INVALID_PARAMETER", "phone is not valid Base64") from None
    return phone(decoded)


@dataclass(frozen=True)
class ClickToCall:
    """A validated click-to-call request. Defaults that need configuration are resolved later."""

    ext: str
    phone: str
    src_cid_name: str = "Click2Call"
    src_cid_number: str | None = None
    dest_cid_name: str | None = None
    dest_cid_number: str | None = None
    auto_answer: bool = False
    hotline: str | None = None
    customer_id: str | None = None
    record: bool | None = None  # None: the service's default (C2C_RECORD)


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError("MISSING_PARAMETER", f"{name} is required")
    return value


def _optional(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return None if value is None or value == "" else value


def click_to_call(params: Mapping[str, str]) -> ClickToCall:
    """Parse the seed contract's query parameters."""
    ext = extension(_required(params, "ext"))
    raw_phone = _required(params, "phone")
    is_encode = boolean(params.get("is_encode", ""), "is_encode")
    number = base64_phone(raw_phone) if is_encode else phone(raw_phone)

    def opt(name: str, check):
        value = _optional(params, name)
        return None if value is None else check(value, name)

    return ClickToCall(
        ext=ext,
        phone=number,
        src_cid_name=opt("src_cid_name", display_name) or "Click2Call",
        src_cid_number=opt("src_cid_number", phone),
        dest_cid_name=opt("dest_cid_name", display_name),
        dest_cid_number=opt("dest_cid_number", phone),
        auto_answer=boolean(params.get("auto_answer", ""), "auto_answer"),
        hotline=opt("hotline", phone),
        customer_id=opt("customer_id", customer_id),
        record=opt("record", boolean),
    )


V2_NAMES = {"id": "customer_id", "mobile": "phone", "agent": "ext"}


def click_to_call_v2(body) -> ClickToCall:
    """TEL4VN's v2 JSON body: {"id": customer id, "mobile": phone, "agent": extension} plus the v1 optional fields."""
    if not isinstance(body, dict):
        raise ApiError("INVALID_PARAMETER", "the body must be a JSON object")
    params: dict[str, str] = {}
    for key, value in body.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int):
            value = str(value)
        elif value is None:
            continue
        elif not isinstance(value, str):
            raise ApiError("INVALID_PARAMETER", f"{key} must be a string")
        params[V2_NAMES.get(key, key)] = value
    for v1, v2 in (("ext", "agent"), ("phone", "mobile")):
        if not params.get(v1):
            raise ApiError("MISSING_PARAMETER", f"{v2} is required")
    return click_to_call(params)


MAX_URL = 2048


def callback_url(value) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        raise ApiError("INVALID_PARAMETER", "callback_url must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c in value for c in "\r\n\t "):
        raise ApiError("INVALID_PARAMETER", "callback_url must be an http(s) URL")
    return value


def header_value(value, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 512 or not value.isprintable():
        raise ApiError("INVALID_PARAMETER", f"{name} must be printable text, at most 512 characters")
    return value
