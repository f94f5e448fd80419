"""One API operation: its route, its handler and the models it speaks (schema/). The same declaration parses the
request, serialises the answer and is documented in the OpenAPI document (http/openapi.py), so neither can drift.

A request is answered in this order: the Bearer token or console session (401), a session's CSRF token on a change
(403 CSRF_REQUIRED), the token's scope for the operation (403
SCOPE_REQUIRED), the rate limit of click-to-calls (429), the input (400, the model's first refusal), then the handler,
which calls one service function and returns a body of the operation's first answer model (or a Response of its own:
a file, the metrics). A state-changing operation names its audit action: every request of it that carries a valid
token is recorded in the audit trail with its outcome, refused ones too (audit.py)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import validation
from ..errors import ApiError
from ..logs import token_id_var
from ..schema.responses import Fail, V2Fail
from ..states import AuditAction, Scope
from . import audit_fields
from .auth import Caller, require_token

log = logging.getLogger(__name__)
ABANDONED = 499  # the audit trail's status of a request whose answer was never sent (nginx's "client closed request")


@dataclass(frozen=True)
class Media:
    """An answer that is not JSON of a model: its content type (and, for JSON, a free-form schema)."""

    content_type: str
    schema: dict | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Callable[..., Awaitable[Any]]  # (request, caller[, query=][, body=]) -> body or Response
    ok: dict[int, Any]  # status -> model (a TypedDict) or Media; the first is the status of a body
    fails: tuple[int, ...] = ()  # statuses of refusals, answered with the `fail` model
    query: type[BaseModel] | None = None  # the query parameters, parsed before the handler runs
    body: type[BaseModel] | None = None  # the JSON body, likewise
    body_required: bool = True  # False: an empty body is the body model's defaults ({})
    headers: dict[str, str] = field(default_factory=dict)  # request headers it reads (name -> description), documented
    auth: bool = True  # a Bearer token (or a console session standing for one) is needed (401)
    scope: Scope | None = None  # the scope its token needs (403 SCOPE_REQUIRED); every operation with auth has one
    any_scope: bool = False  # ...but for these: any valid token, whatever its scopes (who am I, the console session)
    audit: AuditAction | None = None  # a state-changing operation: each request is recorded in the audit trail
    limited: bool = False  # counts against the token's click-to-call rate (429)
    wildcard: bool = False  # the last path parameter takes the rest of the path, slashes too (a static file's)
    fail: type = Fail
    summary: str = field(init=False, default="")

    def __post_init__(self) -> None:  # the handler's docstring says what it does
        object.__setattr__(self, "summary", (self.handler.__doc__ or "").strip().split("\n")[0])
        if self.auth and (self.scope is None) != self.any_scope:
            raise ValueError(f"{self.method} {self.path}: an operation with a token needs a scope, or any_scope")

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    def route(self) -> Route:
        path = re.sub(r"{(\w+)}$", r"{\1:path}", self.path) if self.wildcard else self.path
        return Route(path, self._endpoint, methods=[self.method], name=f"{self.method} {self.path}")

    async def _endpoint(self, request: Request) -> Response:
        caller: Caller | None = None
        inputs: dict[str, Any] = {}
        try:
            state = request.app.state
            caller = require_token(request, state.directory, getattr(state, "sessions", None)) if self.auth else None
            if caller is not None and caller.session is not None and await state.signouts.ended(caller.session):
                raise ApiError("UNAUTHORIZED", "the console session has ended: sign in again")
            if caller is not None:
                token_id_var.set(caller.token_id)  # lines logged while serving it name the token (by id)
                caller.require_csrf(request, self.audit is not None)
                if self.scope is not None:
                    caller.require(self.scope)
            if self.limited:
                request.app.state.limits.request(caller.key, time.monotonic())
            if self.query is not None:
                inputs["query"] = validation.parse(self.query, request.query_params)
            if self.body is not None:
                inputs["body"] = validation.parse(self.body, await _json(request, self.body_required))
            answer = await self.handler(request, caller, **inputs)
        except ApiError as exc:
            await self._audit(request, caller, inputs, None, exc.status, exc.code)
            if self.fail is Fail:
                raise  # the app's handler answers it
            return JSONResponse(V2Fail(**exc.body(), code="1"), status_code=exc.status, headers=exc.headers)
        except asyncio.CancelledError:  # the server stops while it waits (a sync click-to-call): what was asked stays
            await asyncio.shield(self._audit(request, caller, inputs, None, ABANDONED, "REQUEST_ABANDONED"))
            raise
        except Exception:
            await self._audit(request, caller, inputs, None, 500, "INTERNAL_ERROR")
            raise
        status = answer.status_code if isinstance(answer, Response) else next(iter(self.ok))
        await self._audit(request, caller, inputs, answer, status, None)
        if isinstance(answer, Response):
            return answer
        return JSONResponse(answer, status_code=status)

    async def _audit(self, request: Request, caller: Caller | None, inputs: dict, answer: Any, status: int,
                     error: str | None) -> None:
        """Record the request (a state-changing one, with a known token); a trail that cannot be written is logged,
        and does not undo or hide what was done."""
        if self.audit is None or caller is None or error == "RATE_LIMITED":  # a flood is not copied into the trail
            return
        try:
            entry = audit_fields.entry(self.audit, request, caller, inputs, answer, status, error)
            await request.app.state.audit.record(entry)
        except Exception as exc:
            log.error("audit entry not written (%s %s by token %s): %s: %s", self.method, self.path, caller.token_id,
                      type(exc).__name__, exc)


async def _json(request: Request, required: bool = True) -> Any:
    if not required and not (await request.body()).strip():
        return {}
    try:
        return await request.json()
    except ValueError:
        raise ApiError("INVALID_PARAMETER", "the body must be JSON") from None


__all__ = ["Caller", "Media", "Operation"]
