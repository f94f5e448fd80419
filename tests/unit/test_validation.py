"""Input validation: what may reach a dial string or a SIP header."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from click2call import validation
from click2call.errors import ApiError


def params(**kw):
    return {"ext": "101", "phone": "0899098899", **kw}


def code_of(**kw):
    with pytest.raises(ApiError) as exc:
        validation.click_to_call(params(**kw))
    return exc.value.code, exc.value.status


def test_defaults():
    req = validation.click_to_call(params())
    assert req == validation.ClickToCall(ext="101", phone="0899098899")
    assert req.src_cid_name == "Click2Call" and req.auto_answer is False and req.hotline is None


def test_all_parameters():
    req = validation.click_to_call(params(
        src_cid_name="Nguyễn Văn A", src_cid_number="0281234567", dest_cid_name="ACME Support",
        dest_cid_number="+842873000001", auto_answer="true", hotline="02873000001",
    ))
    assert req.src_cid_name == "Nguyễn Văn A" and req.dest_cid_number == "+842873000001"
    assert req.auto_answer is True and req.hotline == "02873000001"


@pytest.mark.parametrize("missing", ["ext", "phone"])
def test_missing_required(missing):
    p = params()
    del p[missing]
    with pytest.raises(ApiError) as exc:
        validation.click_to_call(p)
    assert (exc.value.code, exc.value.status) == ("MISSING_PARAMETER", 400)


@pytest.mark.parametrize("bad", [
    "0899&PJSIP/2002", "0899@evil", "123,456", "0899 098", "0899\r\nX: y", "0899\x00", "08;99", "abc",
    "+", "1" * 21, "٠١٢", "0899/1", "",
])
def test_hostile_phone_refused(bad):
    if bad == "":
        assert code_of(phone=bad) == ("MISSING_PARAMETER", 400)
    else:
        assert code_of(phone=bad) == ("INVALID_PARAMETER", 400)


@pytest.mark.parametrize("bad", ["10 1", "101&x", "PJSIP/101", "101@h", "1" * 41, "101\n", ".", "..", "-_."])
def test_hostile_extension_refused(bad):
    assert code_of(ext=bad) == ("INVALID_PARAMETER", 400)


@pytest.mark.parametrize("field", ["src_cid_name", "dest_cid_name"])
@pytest.mark.parametrize("bad", ['A"B', "A<b>", "a\r\nVia: x", "a;b", "a@b", "a,b", "x" * 65, " lead"])
def test_hostile_names_refused(field, bad):
    assert code_of(**{field: bad}) == ("INVALID_PARAMETER", 400)


@pytest.mark.parametrize("field", ["src_cid_number", "dest_cid_number", "hotline"])
def test_numbers_in_other_fields_validated(field):
    assert code_of(**{field: "12a"}) == ("INVALID_PARAMETER", 400)


@pytest.mark.parametrize("word,value", [("true", True), ("1", True), ("FALSE", False), ("0", False)])
def test_booleans(word, value):
    assert validation.click_to_call(params(auto_answer=word)).auto_answer is value


def test_bad_boolean():
    assert code_of(auto_answer="maybe") == ("INVALID_PARAMETER", 400)


def test_base64_phone_decoded_then_validated():
    encoded = base64.b64encode(b"0899098899").decode()
    assert validation.click_to_call(params(phone=encoded, is_encode="true")).phone == "0899098899"
    # '+' unescaped in a query string arrives as a space; padding may be dropped.
    plus = base64.b64encode(b"+84899098899").decode()
    assert validation.base64_phone(plus.replace("+", " ").rstrip("=")) == "+84899098899"
    hostile = base64.b64encode(b"0899&PJSIP/2002").decode()
    assert code_of(phone=hostile, is_encode="true") == ("INVALID_PARAMETER", 400)
    assert code_of(phone="!!notbase64", is_encode="true") == ("INVALID_PARAMETER", 400)
    assert code_of(phone=base64.b64encode("٠١٢".encode()).decode(), is_encode="true") == ("INVALID_PARAMETER", 400)


DANGEROUS = set("&,/@;:<>\"'\r\n\t \\|!")


@given(st.text(max_size=40))
def test_no_accepted_phone_carries_a_separator(text):
    try:
        value = validation.phone(text)
    except ApiError:
        return
    assert not (set(value) & DANGEROUS) and value.isascii()


@given(st.text(max_size=80))
def test_no_accepted_name_carries_header_syntax(text):
    try:
        value = validation.display_name(text, "n")
    except ApiError:
        return
    assert not (set(value) & set('"<>\r\n;,@&\\:'))


FIELDS = ["ext", "phone", "src_cid_name", "src_cid_number", "dest_cid_name", "dest_cid_number", "auto_answer",
          "hotline", "is_encode", "customer_id", "record"]
SEPARATORS = set("&,/@;:<>\"'\r\n\t\\|!%?#[]{}`$^~=") | {chr(c) for c in range(32)} | {"\x7f"}


@given(st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=120), max_size=len(FIELDS)))
def test_any_query_is_refused_cleanly_or_safe_to_dial(params):
    """Whatever a client sends: a 400 in the API's shape, or values with nothing that splits a dial string or
    a SIP header (numbers ASCII digits, names without separators, all of bounded length)."""
    try:
        req = validation.click_to_call(params)
    except ApiError as exc:
        assert exc.status == 400 and exc.body()["status"] == "fail" and exc.message
        return
    for value in (req.ext, req.phone, req.src_cid_number, req.dest_cid_number, req.hotline, req.customer_id):
        assert value is None or (value.isascii() and not set(value) & SEPARATORS and len(value) <= 64)
    for number in (req.phone, req.src_cid_number, req.dest_cid_number, req.hotline):
        assert number is None or validation.PHONE_RE.fullmatch(number)
    for name in (req.src_cid_name, req.dest_cid_name):
        assert name is None or (len(name) <= 64 and not set(name) & SEPARATORS)


@given(st.binary(max_size=40))
def test_any_base64_phone_is_refused_cleanly_or_digits(raw):
    import base64 as b64
    for text in (b64.b64encode(raw).decode(), b64.urlsafe_b64encode(raw).decode().rstrip("=")):
        try:
            assert validation.PHONE_RE.fullmatch(validation.base64_phone(text))
        except ApiError as exc:
            assert exc.status == 400
