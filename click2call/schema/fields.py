"""One rule per kind of value, each written once: the check (with the API's own message), and the JSON Schema that
documents it, made from the same constants. Everything that can reach a dial string or a SIP header passes here.

A rule is a plain function `rule(value, name) -> value` that raises `Refused` (pydantic's PydanticCustomError, whose
type is the API's error code); the Annotated types below wrap each rule for model fields, where `name` is the
field's name. `click2call.validation` turns a refusal into an ApiError.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

from pydantic import PlainValidator, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError as Refused

# Digits with an optional leading '+': nothing that can split a dial string (& , / @ ;) or a header.
PHONE_RE = re.compile(r"\+?[0-9]{1,20}")
# PJSIP endpoint / extension names: conservative, no separators of dial strings or URIs.
EXTENSION_RE = re.compile(r"[A-Za-z0-9_.-]{1,40}")
# The CRM's own id for the customer: stored and echoed, never dialled.
CUSTOMER_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# Punctuation a person's or company's name may carry; letters and digits of any script are allowed.
NAME_PUNCTUATION = frozenset(" .-_'()")
NAME_MAX = 64
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})
MAX_URL = 2048
# A Standard Webhooks secret, whsec_<base64 key> (what webhooks.signing.key decodes), as a regular expression: the
# rule is declared here, and published in the OpenAPI document, without this package importing the signer.
WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_RE = re.compile(WEBHOOK_SECRET_PREFIX + r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
MAX_HEADER = 512

INVALID = "INVALID_PARAMETER"


def refuse(message: str, code: str = INVALID) -> NoReturn:
    raise Refused(code, message)


def string(value: Any, message: str) -> str:
    """The value, if it is text; else the rule's refusal."""
    if type(value) is not str:
        refuse(message)
    return value


def matching(regex: re.Pattern, value: Any, message: str, code: str = INVALID) -> str:
    """The value, if it is text the regular expression matches whole; else the rule's refusal."""
    if not regex.fullmatch(string(value, message)):
        refuse(message, code)
    return value


def phone(value: Any, name: str = "phone") -> str:
    return matching(PHONE_RE, value, f"{name} must be digits with an optional leading '+' (1-20 digits)")


def extension(value: Any, name: str = "ext") -> str:
    message = f"{name} must be 1-40 letters, digits, '.', '_' or '-'"
    # At least one letter or digit: "." and ".." would walk ARI's URL path (/endpoints/PJSIP/..).
    if not any(c.isalnum() for c in matching(EXTENSION_RE, value, message)):
        refuse(message)
    return value


def display_name(value: Any, name: str) -> str:
    """A caller-ID name: letters of any script (Vietnamese names are common), digits, a little punctuation."""
    characters = f"{name} may hold only letters, digits, spaces and . - _ ' ( )"
    if len(string(value, characters)) > NAME_MAX:
        refuse(f"{name} is longer than {NAME_MAX} characters")
    for ch in value:
        if ch in NAME_PUNCTUATION:
            continue
        if unicodedata.category(ch)[0] not in "LMN":
            refuse(characters)
    if value.strip() != value:
        refuse(f"{name} must not start or end with a space")
    return value


def customer_id(value: Any, name: str = "customer_id") -> str:
    return matching(CUSTOMER_ID_RE, value, f"{name} must be 1-64 letters, digits, '.', '_', ':' or '-'")


def boolean(value: Any, name: str) -> bool:
    message = f"{name} must be true or false"
    word = string(value, message).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    refuse(message)


def base64_phone(value: Any, name: str = "phone") -> str:
    """Decode a Base64 phone (standard or URL-safe alphabet, padding optional), then validate it."""
    # An unescaped '+' in a query string arrives as a space; Base64 never contains spaces.
    text = string(value, f"{name} is not valid Base64").replace(" ", "+").replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        decoded = base64.b64decode(text, validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        refuse(f"{name} is not valid Base64")
    return phone(decoded, name)


def callback_url(value: Any, name: str = "callback_url") -> str:
    message = f"{name} must be an http(s) URL"
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        refuse(message)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c in value for c in "\r\n\t "):
        refuse(message)
    return value


def network(value: Any, name: str, code: str = INVALID) -> IPv4Network | IPv6Network:
    """A network in CIDR notation (10.1.0.0/16, fd00::/8); an address alone is that one address."""
    text = string(value, f"{name} must be a network such as 10.1.0.0/16").strip()
    try:
        return ip_network(text)
    except ValueError:
        pass
    try:
        loose = ip_network(text, strict=False)
    except ValueError:
        refuse(f"{name}: {text!r} is not a network (CIDR, such as 10.1.0.0/16 or fd00::/8)", code)
    refuse(f"{name}: {text!r} has bits set past its prefix length (did you mean {loose}?)", code)


def header_value(value: Any, name: str) -> str | None:
    """Text sent as (part of) an HTTP header: printable, bounded. Empty is none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_HEADER or not value.isprintable():
        refuse(f"{name} must be printable text, at most {MAX_HEADER} characters")
    return value


def webhook_secret(value: Any, name: str) -> str | None:
    """A hook's own signing secret, `whsec_<base64 key>`; none: C2C_WEBHOOK_SECRET signs."""
    value = header_value(value, name)
    if value is not None and not WEBHOOK_SECRET_RE.fullmatch(value):
        refuse(f"{name}: the part after {WEBHOOK_SECRET_PREFIX} must be base64" if value.startswith(
            WEBHOOK_SECRET_PREFIX) else f"{name}: a webhook secret looks like {WEBHOOK_SECRET_PREFIX}<base64>")
    return value


def query_int(low: int, high: int) -> Callable[[Any, str], int]:
    """A whole number in a query string: ASCII digits only (not "¹" or "٣", which str.isdigit accepts), in bounds."""

    def rule(value: Any, name: str) -> int:
        message = f"{name} must be an integer from {low} to {high}"
        text = string(value, message)
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            refuse(message)
        return int(text)

    return rule


def pattern(regex: re.Pattern) -> dict:
    """A rule's regular expression as JSON Schema (which matches anywhere unless anchored)."""
    return {"type": "string", "pattern": f"^{regex.pattern}$"}


def field(rule: Callable[[Any, str], Any], schema: dict, base: Any = str) -> Any:
    """A field type: the rule checks the raw input (named after the field), the schema documents it."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        return rule(value, info.field_name or "value")

    return Annotated[base, PlainValidator(validate), WithJsonSchema(schema)]


Phone = field(phone, pattern(PHONE_RE))
Extension = field(extension, pattern(EXTENSION_RE))
DisplayName = field(display_name, {"type": "string", "maxLength": NAME_MAX})
CustomerId = field(customer_id, pattern(CUSTOMER_ID_RE))
BOOLEAN_WORDS = sorted(TRUE_WORDS | FALSE_WORDS - {""})
BoolWord = field(boolean, {"type": "string", "enum": BOOLEAN_WORDS}, bool)
# In a JSON body, a boolean may also be a JSON boolean.
JsonBool = field(boolean, {"anyOf": [{"type": "boolean"}, {"type": "string", "enum": BOOLEAN_WORDS}]}, bool)
CallbackUrl = field(callback_url, {"type": "string", "format": "uri", "maxLength": MAX_URL})
HeaderValue = field(header_value, {"type": "string", "maxLength": MAX_HEADER})


def QueryInt(low: int, high: int) -> Any:  # noqa: N802 (a type)
    return field(query_int(low, high), {"type": "integer", "minimum": low, "maximum": high}, int)
