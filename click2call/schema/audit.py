"""The audit trail as the API speaks it (GET /v1/audit): the filters and paging, an entry, the page."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo, WithJsonSchema, field_validator
from typing_extensions import NotRequired, TypedDict

from ..states import AuditAction
from . import fields
from .cdr import MAX_LIMIT, Moment, Time
from .fields import Extension, QueryInt, refuse
from .query import Query
from .tenants_file import NAME_RE


def action(value: Any, name: str) -> AuditAction:
    message = f"{name} must be one of {', '.join(AuditAction)}"
    text = fields.string(value, message)
    if text not in set(AuditAction):
        refuse(message)
    return AuditAction(text)


def cursor(value: Any, name: str) -> int:
    """The previous page's scroll_id: the id of its last (oldest) entry."""
    text = fields.string(value, f"{name} is not one this API returned")
    if not text.isdigit() or len(text) > 19:
        refuse(f"{name} is not one this API returned")
    return int(text)


def name(value: Any, name: str) -> str:
    return fields.matching(NAME_RE, value, f"{name} must be 1-64 letters, digits, '.', '_' or '-'")


Name = fields.field(name, fields.pattern(NAME_RE))
Action = fields.field(action, {"type": "string", "enum": list(AuditAction)}, AuditAction)
CallId = fields.field(lambda v, n: fields.matching(fields.CUSTOMER_ID_RE, v, f"{n} is not a call id"),
                      fields.pattern(fields.CUSTOMER_ID_RE))


class AuditFilters(Query):
    """GET /v1/audit: filters and paging (as the CDR API's). Checked in the order of the fields."""

    from_: Moment | None = Field(None, alias="from", description="from (a date: its start), in C2C_TIMEZONE")
    to: Moment | None = Field(None, description="until (a date: its end), in C2C_TIMEZONE")
    tenant: Name | None = Field(None, description="one tenant's entries (the operator's tokens only)")
    token_id: Name | None = None
    action: Action | None = None
    call_id: CallId | None = None
    extension: Extension | None = None
    limit: QueryInt(1, MAX_LIMIT) = 50
    page: QueryInt(1, 10**6) | None = Field(None, description="page numbers (with total); without: scroll_id paging")
    scroll_id: Annotated[int | None, WithJsonSchema({"type": "string"})] = Field(
        None, description="the previous page's scroll_id (keyset paging)")

    @field_validator("scroll_id", mode="plain")
    @classmethod
    def _cursor(cls, value: Any, info: ValidationInfo) -> int | None:
        if info.data.get("page") is not None:
            return None
        return cursor(value, info.field_name)


class AuditEntry(TypedDict):
    """One state-changing request and how it ended."""

    id: int
    time: Time
    token_id: str  # the token's id (configured, or t- and the first characters of its digest), never the token
    tenant: str  # "" the operator's token
    client: str  # the client's address
    action: AuditAction
    call_id: str
    extension: str  # the extension it was for (a click-to-call's agent, a pause's)
    target: str  # a transfer's target, a supervisor, a hook, a delivery
    status: int  # the HTTP status answered
    error: str  # the error code of a refusal; "" on success
    detail: dict[str, Any]  # what else the request said (legs, mode, ...)


class AuditPage(TypedDict):
    """With `page`: page and total; without: scroll_id, to pass for the next page (null on the last)."""

    data: list[AuditEntry]
    limit: int
    page: NotRequired[int]
    total: NotRequired[int]
    scroll_id: NotRequired[str | None]
