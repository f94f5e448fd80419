import json
import logging

from click2call import logs


def record(msg="hello %s", args=("world",)):
    r = logging.LogRecord("click2call.x", logging.INFO, __file__, 1, msg, args, None)
    logs.CallIdFilter().filter(r)
    return r


def test_json_lines_carry_the_call_id_from_the_context():
    token = logs.call_id_var.set("c-123")
    try:
        line = json.loads(logs.JsonFormatter().format(record()))
    finally:
        logs.call_id_var.reset(token)
    assert line["message"] == "hello world" and line["call_id"] == "c-123" and line["level"] == "info"
    assert "call_id" not in json.loads(logs.JsonFormatter().format(record()))


def test_text_lines_end_with_the_call_id():
    token = logs.call_id_var.set("c-9")
    try:
        assert logs.TextFormatter().format(record()).endswith("hello world call_id=c-9")
    finally:
        logs.call_id_var.reset(token)


def test_lines_written_while_serving_a_request_name_its_token_by_id():
    call, token = logs.call_id_var.set("c-7"), logs.token_id_var.set("crm")
    try:
        assert logs.TextFormatter().format(record()).endswith("hello world call_id=c-7 token_id=crm")
        assert json.loads(logs.JsonFormatter().format(record()))["token_id"] == "crm"
    finally:
        logs.call_id_var.reset(call)
        logs.token_id_var.reset(token)
    assert "token_id" not in json.loads(logs.JsonFormatter().format(record()))
