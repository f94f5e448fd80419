"""One schema: every operation is documented as its models declare, the components are pydantic's schemas of those
models, and what the service sends (CDR items, webhook payloads) conforms to what it publishes."""

from __future__ import annotations

import inspect
import json
import typing

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter
from openapi_spec_validator import validate

from click2call import cdr, validation
from click2call.errors import ApiError
from click2call.http import openapi
from click2call.http.operation import Media
from click2call.http import routes as routes_module
from click2call.http.routes import OPERATIONS, routes
from click2call.schema.events import PAYLOADS
from click2call.stasis_app import call_flow as flow
from click2call.stasis_app.call_flow import Answered, ChannelGone, Originated, Ringing, Start
from click2call.states import EventName
from click2call.webhooks import events

SPEC = routes_module.spec()
SCHEMAS = SPEC["components"]["schemas"]


def resolve(schema: dict) -> dict:
    """A JSON Schema with the document's components, for jsonschema."""
    return {**schema, "components": SPEC["components"]}


def test_document_is_valid_openapi_31():
    validate(SPEC)
    assert SPEC["openapi"] == "3.1.0" and json.loads(json.dumps(SPEC)) == SPEC
    ids = [op["operationId"] for ops in SPEC["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_every_route_is_one_operation():
    served = sorted((r.path, m) for r in routes for m in r.methods if m != "HEAD")
    assert served == sorted((op.route().path, op.method) for op in OPERATIONS)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
def test_operation_is_documented_as_its_models_declare(op):
    doc = SPEC["paths"][op.path][op.method.lower()]
    assert doc["summary"], "the handler's docstring is the summary"
    parameters = doc.get("parameters", [])
    assert [p["name"] for p in parameters if p["in"] == "path"] == op.path_params

    # Query parameters: exactly the query model's fields, required as it says, each with the field's own schema.
    query = {p["name"]: p for p in parameters if p["in"] == "query"}
    if op.query is None:
        assert not query
    else:
        model = op.query.model_json_schema()
        assert set(query) == set(model["properties"]) == {f.alias or n for n, f in op.query.model_fields.items()}
        by_name = {f.alias or n: f for n, f in op.query.model_fields.items()}  # GET /v1/audit's `from` is an alias
        for name, param in query.items():
            assert param["required"] == (name in model.get("required", ())) == by_name[name].is_required()
            declared = model["properties"][name]
            branches = [s for s in declared.get("anyOf", [declared]) if s != {"type": "null"}]
            assert len(branches) == 1
            words = ("title", "description", "default")  # documentation; the rest is what is checked
            documented = {k: v for k, v in param["schema"].items() if k not in words}
            assert documented == {k: v for k, v in branches[0].items() if k not in words}

    # The body: the body model's component.
    if op.body is None:
        assert "requestBody" not in doc
    else:
        ref = doc["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{op.body.__name__}"
        assert SCHEMAS[op.body.__name__] == op.body.model_json_schema(ref_template=openapi.REF)

    # Answers: the operation's statuses exactly; JSON ones are their model's component, refusals the fail body.
    assert set(doc["responses"]) == {str(s) for s in (*op.ok, *op.fails)}
    for status, answer in (*op.ok.items(), *((s, op.fail) for s in op.fails)):
        content = doc["responses"][str(status)]["content"]
        if isinstance(answer, Media):
            assert "application/json" not in content or answer.content_type == "application/json"
        else:
            assert content == {"application/json": {"schema": {"$ref": f"#/components/schemas/{answer.__name__}"}}}
            component = TypeAdapter(answer).json_schema(ref_template=openapi.REF, mode="serialization")
            component.pop("$defs", None)
            assert SCHEMAS[answer.__name__] == component
    assert doc["security"] == ([{"bearer": [op.scope] if op.scope else []}] if op.auth else [])  # its scope

    # The handler takes the models the operation parses, and returns the model it documents.
    signature = inspect.signature(op.handler).parameters
    hints = typing.get_type_hints(op.handler)
    assert list(signature)[:2] == ["request", "caller"]
    assert set(signature) - {"request", "caller"} == {k for k in ("query", "body") if getattr(op, k) is not None}
    for key in ("query", "body"):
        if getattr(op, key) is not None:
            assert hints[key] is getattr(op, key)
    ok = next(iter(op.ok.values()))
    returned = typing.get_args(hints["return"]) or (hints["return"],)
    assert isinstance(ok, Media) or ok in returned


def test_webhook_payloads_are_published_per_event():
    assert set(SPEC["webhooks"]) == set(EventName)
    for event, model in PAYLOADS.items():
        body = SPEC["webhooks"][event]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model.__name__}"}
        assert SCHEMAS[model.__name__]["properties"]["state"]["const"] == event


SPEC_1 = flow.CallSpec(call_id="c1", ext="101", phone="0899098899", hotline="02873000001", trunk="trunk-a",
                       src_cid_name="Click2Call", src_cid_number="101", dest_cid_name=None,
                       dest_cid_number="02873000001", auto_answer=False, ring_timeout=30, dial_timeout=60,
                       customer_id="crm-42")
RECORD = {
    "call_id": "c1", "customer_sip_call_id": "sip-c", "agent_sip_call_id": "sip-a", "cause_txt": "NORMAL_CLEARING",
    "cause": 16, "duration": 66, "billsec": 60, "direction": "outbound", "recording_url": None, "extension": "101",
    "hotline": "02873000001", "phone": "0899098899", "created_at": 1795750480.0, "answered_at": 1795750485.0,
    "ended_at": 1795750546.0, "status": "ANSWERED", "customer_id": "crm-42", "tenant": None, "hangup_by": "customer",
    "recording_error": None,
    **{f"{leg}_{k}": v for leg in ("agent", "customer") for k, v in (
        ("created_at", 1795750480.0), ("ringing_at", 1795750481.0), ("answered_at", 1795750485.0),
        ("ended_at", 1795750546.0), ("cause", 16))},
}


def conforms(value, name: str) -> None:
    jsonschema.validate(json.loads(json.dumps(value)), resolve({"$ref": f"#/components/schemas/{name}"}))


def test_a_whole_call_s_payloads_conform_to_their_published_schemas():
    from zoneinfo import ZoneInfo

    state = flow.CallState(SPEC_1, created_at=1000.0)
    sent = []
    values = {"cause_txt": "NORMAL_CLEARING", "duration": 66, "billsec": 60, "status": "ANSWERED"}
    for event in (Start(), Originated(1), Ringing("agent", 2), Answered("agent", 3, "sip-a"),
                  Ringing("customer", 4, "sip-c"), Answered("customer", 5, "sip-c"),
                  ChannelGone("customer", 16, "", 9), ChannelGone("agent", 16, "", 9)):
        after, _ = flow.transition(state, event)
        for name, leg in events.events_between(state, after):
            body = events.payload(after, values, name, leg, len(sent) + 1, 9.0)
            if name is EventName.CDR:  # as the outbox completes it
                body["cdr"] = cdr.serialise(RECORD, ZoneInfo("Asia/Ho_Chi_Minh"))
                body["recording_url"] = body["cdr"]["recording_url"]
            sent.append(body)
        state = after
    assert [b["state"] for b in sent] == ["ringing", "answered", "ringing", "answered", "hangup", "cdr"]
    for body in sent:
        conforms(body, PAYLOADS[body["state"]].__name__)
        assert TypeAdapter(PAYLOADS[body["state"]]).validate_python(body) == body
    assert sent[4] == {
        "call_id": "c1", "sip_call_id": "sip-c", "direction": "outbound", "from_number": "101",
        "to_number": "0899098899", "hotline": "02873000001", "state": "hangup", "leg": "customer",
        "cause": "NORMAL_CLEARING", "customer_id": "crm-42", "node": "", "timestamp": 9.0, "sequence": 5,
        "duration": 66, "billsec": 60, "status": "ANSWERED",
    }


def test_a_cdr_item_conforms():
    from zoneinfo import ZoneInfo

    conforms(cdr.serialise(RECORD, ZoneInfo("UTC")), "Cdr")
    unfinished = {**RECORD, "status": "IN_PROGRESS", "hangup_by": None, "ended_at": None, "cause": None,
                  "cause_txt": None, "duration": None, "billsec": None, "customer_ended_at": None}
    conforms(cdr.serialise(unfinished, ZoneInfo("UTC")), "Cdr")


TEXT_PARAMS = {name: p["schema"] for p in SPEC["paths"]["/v1/click2call"]["get"]["parameters"]
               for name in [p["name"]] if p["schema"].get("type") == "string" and "enum" not in p["schema"]}


@given(st.dictionaries(st.sampled_from(sorted(TEXT_PARAMS)), st.text(max_size=80), max_size=4),
       st.from_regex(r"[0-9]{1,20}", fullmatch=True))
def test_what_the_model_accepts_is_what_the_document_allows(params, phone):
    """No value the service takes is outside its documented schema (so a client built from the document can send
    everything the service accepts), and every accepted value reads back unchanged."""
    params = {"ext": "101", **params, "phone": phone}
    try:
        req = validation.click_to_call(params)
    except ApiError as exc:
        assert exc.status == 400
        return
    for name, value in params.items():
        if value:
            jsonschema.validate(value, TEXT_PARAMS[name])
            assert getattr(req, name) == value



def test_loading_the_settings_loads_no_database_module():
    import subprocess
    import sys

    code = ("import sys; from click2call.config import Settings; "
            "Settings.from_env({'C2C_API_TOKENS': 't', 'C2C_HOTLINES': '0287=trunk-a'}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic', 'aiohttp') "
            "or m.startswith(('click2call.db', 'click2call.webhooks.outbox', 'click2call.webhooks.subscriptions', "
            "'click2call.webhooks.dispatcher'))))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
