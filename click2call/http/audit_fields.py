"""What the audit trail records of a request (audit.Entry): read from the operation's path, its parsed input and its
answer, the same way for every audited operation, so that the handlers need not know about the trail."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.requests import Request

from ..audit import Entry
from ..logs import call_id_var
from ..states import SUPERVISE, AuditAction
from .auth import Caller

# The body's or query's fields kept in an entry's detail (never secrets, never DTMF digits: a customer's card number
# may be among them; their count is kept).
DETAIL = ("legs", "mode", "hold", "hotline", "reason", "event", "callback_url", "auto_answer", "record", "customer_id")
PLACED = {"CALL_REJECTED", "NO_ANSWER", "CANCELLED"}  # a sync click-to-call's refusals after its call was recorded
SUPERVISION = {AuditAction(str(a)) for a in SUPERVISE}


def entry(action: AuditAction, request: Request, caller: Caller, inputs: dict[str, Any], answer: Any,
          status: int, error: str | None) -> Entry:
    path = request.path_params
    given = inputs.get("body") or inputs.get("query")
    value = (lambda name: getattr(given, name, None)) if given is not None else (lambda name: None)
    call_id = path.get("call_id") or (answer.get("call_id") if isinstance(answer, dict) else None)
    if action is AuditAction.CLICK_TO_CALL and error in PLACED:
        call_id = call_id_var.get()  # a sync click placed, then refused by the agent's phone: its record exists
    extension = target = None
    if action is AuditAction.CLICK_TO_CALL:
        extension, target = value("ext"), value("phone")
    elif action in (AuditAction.PAUSE, AuditAction.RESUME):
        extension = path.get("ext")
    elif action is AuditAction.TRANSFER or action in SUPERVISION:
        target = value("ext") or value("phone")
    elif action is AuditAction.HOOK_CREATE:
        data = answer.get("data") if isinstance(answer, dict) else None
        target = data["id"] if data else None
    elif action in (AuditAction.HOOK_DELETE, AuditAction.DELIVERY_RESEND):
        target = path.get("id")
    detail = {name: v if isinstance(v, (bool, int)) else str(v) for name in DETAIL if (v := value(name)) is not None}
    if "callback_url" in detail:  # where it points, without the password or query a URL may carry
        detail["callback_url"] = _bare(detail["callback_url"])

    if (digits := value("digits")) is not None:
        detail["digits"] = len(digits)
    if action is AuditAction.CLICK_TO_CALL:
        detail["path"] = request.url.path  # which of sync, async and v2
    return Entry(token_id=caller.token_id, tenant=caller.tenant.name, client=request.client.host if request.client
                 else None, action=action, status=status, error=error, call_id=call_id, extension=extension,
                 target=target, detail=detail)


def _bare(text: str) -> str:
    url = urlsplit(text)
    host = url.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((url.scheme, host + (f":{url.port}" if url.port else ""), url.path, "", ""))
