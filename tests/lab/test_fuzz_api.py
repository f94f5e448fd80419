"""Schemathesis against /openapi.json on the real service and Asterisk: whatever is sent, no 5xx but the
documented 502/503, every answer in its documented status, content type and schema (the fail shape included)."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from click2call.http.routes import spec

SPEC = spec()

from .conftest import TOKEN, Service, free_port, service_env

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def fuzz_service(lab, phones, carriers, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    env = service_env(lab, C2C_ARI_APP="click2call-fuzz", C2C_LISTEN=f"127.0.0.1:{free_port()}",
                      C2C_DATABASE_URL=f"sqlite:///{work}/calls.db", C2C_RATE_LIMIT="0", LAB_SERVICE_SCOPE="module")
    svc = Service(env, str(work / "svc.log")).start()
    yield svc
    svc.stop()


# The fuzzer never aims the service at a host outside loopback: a generated `callback_url` (format uri: any name or
# address) would make the service look the name up and later POST events to it. A string is replaced with a URL on
# the discard port of loopback (nothing listens); anything else (a number, null) is kept, to be refused as it is.
LOOPBACK_HOOK = "http://127.0.0.1:9/fuzz"


def loopback_only(case) -> None:
    if isinstance(case.body, dict) and isinstance(case.body.get("callback_url"), str):
        case.body = {**case.body, "callback_url": LOOPBACK_HOOK}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
STREAM = "GET /v1/stream"  # an answer that never ends: checked on its own, below
EVERY = [result.ok() for result in schemathesis.openapi.from_dict(SPEC).get_all_operations()]
OPERATIONS = [op for op in EVERY if op.label != STREAM]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_every_operation_answers_as_documented(operation, fuzz_service):
    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        loopback_only(case)
        response = case.call(base_url=fuzz_service.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        case.validate_response(response, checks=CHECKS)
        assert response.status_code not in (500, 501), response.text

    check()


def test_the_stream_answers_as_documented(fuzz_service):
    """GET /v1/stream: a stream (its headers, not its endless body), or a refusal in the fail shape."""
    operation = next(op for op in EVERY if op.label == STREAM)
    documented = set(SPEC["paths"]["/v1/stream"]["get"]["responses"])

    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        sent = case.as_transport_kwargs(base_url=fuzz_service.base, headers={"Authorization": f"Bearer {TOKEN}"})
        with httpx.stream(sent["method"], sent["url"], params=sent.get("params"), headers=sent["headers"],
                          timeout=30) as response:
            assert str(response.status_code) in documented, response.status_code
            if response.status_code == 200:
                assert response.headers["content-type"].startswith("text/event-stream")
                return  # leaving closes it
            response.read()
            assert response.headers["content-type"] == "application/json"
            assert response.json()["status"] == "fail" and response.json()["error"], response.text

    check()
