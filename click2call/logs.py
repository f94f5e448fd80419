"""Logging: plain text or one JSON object per line, the call_id on every line written about a call, and the id of the
token whose request is being served (never the token itself).

The call_id travels in a context variable: set in a call's worker task (and in the request that starts
the call), so everything logged there - ours, httpx's ARI requests - carries it without passing it around.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time

call_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)
token_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("token_id", default=None)  # set per request


class CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id = call_id_var.get()
        record.token_id = token_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "call_id", None):
            line["call_id"] = record.call_id
        if getattr(record, "token_id", None):
            line["token_id"] = record.token_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        call_id, token_id = getattr(record, "call_id", None), getattr(record, "token_id", None)
        text = f"{text} call_id={call_id}" if call_id else text
        return f"{text} token_id={token_id}" if token_id else text


def setup(level: str, fmt: str) -> dict:
    """Configure the root logger; returns a uvicorn log_config that writes through it."""
    handler = logging.StreamHandler()
    handler.addFilter(CallIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own loggers propagate to the root handler, so its lines share the format.
    return {"version": 1, "disable_existing_loggers": False,
            "loggers": {name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")}}
