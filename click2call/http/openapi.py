"""The OpenAPI 3.1 description of the whole API, served at /openapi.json (and /docs). A test checks that it
names every route and that the service's answers conform to it (schemathesis)."""

from __future__ import annotations

import html

from .. import __version__
from ..states import EventName

PHONE = {"type": "string", "pattern": r"^\+?[0-9]{1,20}$"}
EXT = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,40}$"}
NAME = {"type": "string", "maxLength": 64}
BOOL = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no", "on", "off"]}
CUSTOMER_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{1,64}$"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _fails(*statuses: int) -> dict:
    return {str(s): {"description": "refused", **_json(_ref("Failure"))} for s in (401, 429, *statuses)}


def _q(name: str, schema: dict, required: bool = False, description: str = "") -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


CLICK_PARAMS = [
    _q("ext", EXT, True, "the agent's extension"),
    _q("phone", {"type": "string"}, True, "the number to call (Base64 when is_encode=true)"),
    _q("src_cid_name", NAME, description="name shown on the agent's phone (default Click2Call)"),
    _q("src_cid_number", PHONE, description="number shown on the agent's phone (default the extension)"),
    _q("dest_cid_name", NAME, description="caller name sent to the customer"),
    _q("dest_cid_number", PHONE, description="caller number sent to the customer (default the hotline)"),
    _q("auto_answer", BOOL), _q("hotline", PHONE), _q("is_encode", BOOL),
    _q("customer_id", CUSTOMER_ID), _q("record", BOOL),
]
CALL_FAILS = (400, 403, 404, 409, 502, 503)
SUCCESS = {"200": {"description": "placed", **_json(_ref("Success"))}}
CDR_FILTERS = [
    _q("start_date", {"type": "string"}, description="YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"),
    _q("end_date", {"type": "string"}), _q("extension", EXT), _q("phone", PHONE),
    _q("status", {"type": "string", "enum": ["ANSWERED", "BUSY", "NO_ANSWER", "FAILED", "CANCELLED", "IN_PROGRESS"]}),
    _q("min_duration", {"type": "integer", "minimum": 0}), _q("hotline", PHONE), _q("customer_id", CUSTOMER_ID),
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 500}), _q("page", {"type": "integer", "minimum": 1}),
    _q("scroll_id", {"type": "string"}),
]
LEG = {"type": "object", "properties": {k: {"type": "string"} for k in (
    "sip_call_id", "time_created", "time_ringing", "time_answered", "time_ended", "cause")}}

SCHEMAS = {
    "Success": {"type": "object", "required": ["status", "call_id"],
                "properties": {"status": {"const": "success"}, "call_id": {"type": "string"}}},
    "Failure": {"type": "object", "required": ["status", "error", "message"],
                "properties": {"status": {"const": "fail"}, "error": {"type": "string"},
                               "message": {"type": "string"}, "code": {"const": "1"}}},
    "V2Success": {"type": "object", "required": ["status", "code", "call_id"],
                  "properties": {"status": {"const": "success"}, "code": {"const": "0"}, "call_id": {"type": "string"}}},
    "Cdr": {"type": "object", "required": ["id", "status", "extension", "from_number", "to_number", "time_started"],
            "properties": {
                **{k: {"type": "string"} for k in (
                    "id", "sip_call_id", "cause", "direction", "recording_url", "extension", "from_number",
                    "to_number", "time_started", "time_answered", "time_ended", "status", "hotline", "customer_id",
                    "hangup_by", "recording_error", "tenant")},
                "duration": {"type": "integer"}, "billsec": {"type": "integer"},
                "cause_code": {"type": ["integer", "null"]},
                "legs": {"type": "object", "properties": {"agent": LEG, "customer": LEG}}}},
    "CdrPage": {"type": "object", "required": ["data", "limit"],
                "properties": {"data": {"type": "array", "items": _ref("Cdr")}, "limit": {"type": "integer"},
                               "page": {"type": "integer"}, "total": {"type": "integer"},
                               "scroll_id": {"type": ["string", "null"]}}},
    "Hook": {"type": "object", "required": ["id", "event", "callback_url"],
             "properties": {"id": {"type": "string"}, "event": {"type": "string", "enum": list(EventName)},
                            "callback_url": {"type": "string"}, "has_callback_apikey": {"type": "boolean"},
                            "has_secret": {"type": "boolean"}, "created_at": {"type": "number"},
                            "disabled": {"type": "boolean"}, "disabled_reason": {"type": "string"},
                            "tenant": {"type": ["string", "null"]}, "configured": {"type": "boolean"}}},
    "Ok": {"type": "object", "required": ["status"], "properties": {"status": {"const": "success"}}},
}


def _ok(schema: dict, code: str = "200") -> dict:
    return {code: {"description": "ok", **_json(schema)}}


def _data(items: dict) -> dict:
    return {"type": "object", "required": ["status", "data"],
            "properties": {"status": {"const": "success"}, "data": {"type": "array", "items": items}}}


PATHS = {
    "/v1/click2call": {"get": {
        "summary": "Click-to-call, synchronous: returns when the agent answers or the agent leg ends",
        "parameters": CLICK_PARAMS, "responses": {**SUCCESS, **_fails(*CALL_FAILS)}}},
    "/v1/click2call/async": {"get": {
        "summary": "Click-to-call, asynchronous: returns once the agent's phone rings",
        "parameters": CLICK_PARAMS, "responses": {**SUCCESS, **_fails(*CALL_FAILS)}}},
    "/v2/click2call": {"post": {
        "summary": "TEL4VN v2: JSON body, asynchronous, code 0/1",
        "requestBody": {"required": True, **_json({"type": "object", "required": ["mobile", "agent"], "properties": {
            "id": CUSTOMER_ID, "mobile": PHONE, "agent": EXT, "hotline": PHONE, "src_cid_name": NAME,
            "dest_cid_name": NAME, "auto_answer": {"type": "boolean"}, "record": {"type": "boolean"}}})},
        "responses": {"200": {"description": "placed", **_json(_ref("V2Success"))}, **_fails(*CALL_FAILS)}}},
    "/v1/cdr": {"get": {"summary": "Call records, newest first", "parameters": CDR_FILTERS,
                        "responses": {**_ok(_ref("CdrPage")), **_fails(400)}}},
    "/v1/cdr/{id}": {"get": {"summary": "One call record by call_id or either leg's SIP Call-ID",
                             "parameters": [_path("id")], "responses": {**_ok(_ref("Cdr")), **_fails(404)}}},
    "/v1/call": {"get": {"summary": "Calls in progress", "responses": {**_ok(_data({"type": "object"})),
                                                                       **_fails()}}},
    "/v1/call/{call_id}": {"delete": {"summary": "Hang up both legs", "parameters": [_path("call_id")],
                                      "responses": {**SUCCESS, **_fails(404)}}},
    "/v1/call/{call_id}/hangup": {"post": {"summary": "Hang up both legs", "parameters": [_path("call_id")],
                                           "responses": {**SUCCESS, **_fails(404)}}},
    "/v1/event": {
        "post": {"summary": "Subscribe a webhook to one event",
                 "requestBody": {"required": True, **_json({"type": "object", "required": ["callback_url", "event"],
                                                            "properties": {
                                                                "callback_url": {"type": "string"},
                                                                "event": {"type": "string", "enum": list(EventName)},
                                                                "callback_apikey": {"type": "string"},
                                                                "secret": {"type": "string"}}})},
                 "responses": {"201": {"description": "created", **_json({"type": "object", "properties": {
                     "status": {"const": "success"}, "data": _ref("Hook")}})}, **_fails(400)}},
        "get": {"summary": "Webhook subscriptions", "responses": {**_ok(_data(_ref("Hook"))), **_fails()}}},
    "/v1/event/{id}": {"delete": {"summary": "Remove a subscription", "parameters": [_path("id")],
                                  "responses": {**_ok(_ref("Ok")), **_fails(404)}}},
    "/v1/event/{id}/deliveries": {"get": {"summary": "A subscription's deliveries and attempts",
                                          "parameters": [_path("id")],
                                          "responses": {**_ok(_data({"type": "object"})), **_fails(404)}}},
    "/v1/deliveries/{id}/resend": {"post": {"summary": "Send a delivery again (same webhook-id and body)",
                                            "parameters": [_path("id")],
                                            "responses": {**_ok(_ref("Ok")), **_fails(404)}}},
    "/v1/recordings/{call_id}": {"get": {
        "summary": "A call's recording (wav), with HTTP Range", "parameters": [_path("call_id")],
        "responses": {"200": {"description": "the recording", "content": {"audio/wav": {}}},
                      "206": {"description": "a range of it", "content": {"audio/wav": {}}},
                      **_fails(404, 409, 503)}}},
    "/v1/cluster": {"get": {"summary": "The cluster: Asterisk nodes (reachable, owner, lease, registered extensions, "
                                       "calls in progress) and replicas (operator tokens)",
                            "responses": {**_ok({"type": "object", "required": ["status", "nodes", "replicas"]}),
                                          **_fails(403)}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "security": [],
                         "responses": {"200": {"description": "exposition", "content": {"text/plain": {}}}}}},
    "/healthz": {"get": {"summary": "The process is up", "security": [], "responses": _ok({
        "type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}})}},
    "/readyz": {"get": {"summary": "ARI connected", "security": [], "responses": {
        **_ok({"type": "object"}), "503": {"description": "not ready", **_json(_ref("Failure"))}}}},
    "/openapi.json": {"get": {"summary": "This description", "security": [], "responses": _ok({"type": "object"})}},
    "/docs": {"get": {"summary": "A page listing the API", "security": [],
                      "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
}

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "click2call", "version": __version__,
             "description": "Click-to-call for CRMs on their own Asterisk (TEL4VN-compatible API)."},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS,
                   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
}


def docs_page() -> str:
    rows = "".join(
        f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
        f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
        for path, ops in PATHS.items() for method, op in ops.items()
    )
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>click2call API</title></head><body>"
            f"<h1>click2call API {__version__}</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. "
            f"Every endpoint but the last five takes <code>Authorization: Bearer &lt;token&gt;</code>.</p>"
            f"<table border='1' cellpadding='4'>{rows}</table></body></html>")
