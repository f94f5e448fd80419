"""The API's failure vocabulary: one exception, one body shape, one place for HTTP statuses.

Codes named by the TEL4VN contract (USER_BUSY, USER_NOT_REGISTERED) are kept as they are;
the others cover what the contract leaves open.
"""

from __future__ import annotations

# code -> (HTTP status, default message)
CODES: dict[str, tuple[int, str]] = {
    "MISSING_PARAMETER": (400, "A required parameter is missing"),
    "INVALID_PARAMETER": (400, "A parameter has an invalid value"),
    "HOTLINE_NOT_FOUND": (400, "The hotline is not configured"),
    "HOOK_URL_REFUSED": (400, "The callback_url reaches an address hooks may not reach"),
    "UNAUTHORIZED": (401, "Missing or invalid Bearer token"),
    "EXTENSION_NOT_ALLOWED": (403, "The extension is not one of this account's extensions"),
    "FORBIDDEN": (403, "This token may not do that"),
    "SCOPE_REQUIRED": (403, "This token lacks the scope this operation needs"),
    "CSRF_REQUIRED": (403, "A console session's change needs its X-CSRF-Token header"),
    "AGENT_EXTENSION_ONLY": (403, "An agent token acts only for its own extension"),
    "EXTENSION_NOT_FOUND": (404, "The extension does not exist on the PBX"),
    "CALL_NOT_FOUND": (404, "No such call"),
    "HOOK_NOT_FOUND": (404, "No such webhook subscription"),
    "DELIVERY_NOT_FOUND": (404, "No such webhook delivery"),
    "RECORDING_NOT_FOUND": (404, "No such recording"),
    "RECORDING_IN_PROGRESS": (409, "The call is still being recorded"),
    "RECORDING_EXPIRED": (410, "The recording was removed by retention"),
    "USER_BUSY": (409, "The extension is busy"),
    "USER_NOT_REGISTERED": (409, "User not registered extension with Softphone or IP Phone"),
    "CALL_REJECTED": (409, "The extension declined the call"),
    "NO_ANSWER": (409, "The extension did not answer"),
    "CANCELLED": (409, "The call was cancelled before the extension answered"),
    "CALL_NOT_CONNECTED": (409, "The call is not connected (the customer has not answered, or it is ending)"),
    "CALL_ENDED": (409, "The call has ended"),
    "ALREADY_HELD": (409, "That party is on hold already"),
    "NOT_HELD": (409, "That party is not on hold"),
    "ALREADY_MUTED": (409, "That party is muted already"),
    "NOT_MUTED": (409, "That party is not muted"),
    "PARTY_HELD": (409, "That party is on hold"),
    "TRANSFER_IN_PROGRESS": (409, "A transfer of this call is under way"),
    "ALREADY_PARKED": (409, "The call is parked already"),
    "CALL_PARKED": (409, "The call is parked: only a transfer of the parked party picks it up"),
    "RATE_LIMITED": (429, "Too many requests"),
    "TOO_MANY_CALLS": (429, "Too many calls in progress"),
    "CALL_FAILED": (502, "The PBX could not place the call"),
    "SERVICE_UNAVAILABLE": (503, "The PBX (Asterisk ARI) is not reachable"),
}


class ApiError(Exception):
    """A refusal that reaches the client as {"status":"fail","error":code,"message":text}."""

    def __init__(self, code: str, message: str | None = None, headers: dict[str, str] | None = None) -> None:
        status, default = CODES[code]
        super().__init__(message or default)
        self.code = code
        self.status = status
        self.message = message or default
        self.headers = headers or {}  # e.g. Retry-After on 429

    def body(self) -> dict[str, str]:
        return {"status": "fail", "error": self.code, "message": self.message}
