"""Properties of every API parameter (hypothesis): what is valid is accepted unchanged, one hostile character
anywhere is refused with a 400 in the API's shape, and no input of any JSON type or text makes a 5xx."""

from __future__ import annotations

import base64
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from click2call import cdr, validation
from click2call.errors import ApiError

phones = st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True)
extensions = st.from_regex(r"[A-Za-z0-9_.-]{0,39}", fullmatch=True).flatmap(
    lambda s: st.sampled_from(["1", "a", "Z"]).map(lambda c: s + c))
# Names: letters of any script (Vietnamese too), digits, and the few punctuation marks a name carries.
name_chars = st.one_of(st.characters(categories=["L", "N"]), st.sampled_from(list(".-_'()")),
                       st.sampled_from(list("ĐđăâêôơưÁÀẢÃẠáàảãạ")))
names = st.text(name_chars, min_size=1, max_size=62).map(lambda s: s.strip() or "A")
customer_ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
booleans = st.tuples(st.sampled_from(["true", "1", "yes", "on", "false", "0", "no", "off"]),
                     st.sampled_from([str.lower, str.upper, str.title]))

valid_queries = st.fixed_dictionaries(
    {"ext": extensions, "phone": phones},
    optional={"src_cid_name": names, "src_cid_number": phones, "dest_cid_name": names,
              "dest_cid_number": phones, "hotline": phones, "customer_id": customer_ids,
              "auto_answer": booleans.map(lambda b: b[1](b[0])), "record": booleans.map(lambda b: b[1](b[0]))},
)
# Characters no parameter allows: each would split a dial string, a SIP header or a URL path.
HOSTILE = list("&,/@;:<>\"\r\n\t\\|!%?#[]{}`$^~=") + ["\x00", "\x7f", "\u2028", "\ufeff", " "]
TEXT_FIELDS = ["ext", "phone", "src_cid_number", "dest_cid_number", "hotline", "customer_id"]


@given(valid_queries)
def test_every_valid_query_is_accepted_unchanged(query):
    req = validation.click_to_call(query)
    assert (req.ext, req.phone) == (query["ext"], query["phone"])
    for field in ("src_cid_number", "dest_cid_name", "dest_cid_number", "hotline", "customer_id"):
        assert getattr(req, field) == query.get(field)
    assert req.src_cid_name == query.get("src_cid_name", "Click2Call")
    for field in ("auto_answer", "record"):
        if field in query:
            assert getattr(req, field) is (query[field].lower() in validation.TRUE_WORDS)


@given(valid_queries, st.sampled_from(TEXT_FIELDS + ["src_cid_name", "dest_cid_name"]), st.sampled_from(HOSTILE),
       st.integers(0, 70))
def test_one_hostile_character_anywhere_is_refused(query, field, bad, at):
    value = query.get(field) or "1"
    if (field.endswith("_name") and bad == " ") or (field == "customer_id" and bad == ":"):
        return  # a space inside a name is a name; a CRM's ids may be "crm:123" (never dialled, never a header)
    query = {**query, field: value[:at] + bad + value[at:]}
    with pytest.raises(ApiError) as exc:
        validation.click_to_call(query)
    assert exc.value.status == 400 and exc.value.body()["status"] == "fail"
    assert exc.value.code == "INVALID_PARAMETER"


@given(valid_queries, st.sampled_from(TEXT_FIELDS + ["src_cid_name", "dest_cid_name"]), st.integers(65, 400))
def test_overlong_values_are_refused(query, field, length):
    with pytest.raises(ApiError) as exc:
        validation.click_to_call({**query, field: "1" * length})
    assert exc.value.code == "INVALID_PARAMETER"


@given(phones)
def test_base64_phones_decode_to_the_same_number(number):
    raw = number.encode()
    for text in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
                 base64.b64encode(raw).decode().replace("+", " ")):  # '+' unescaped in a query becomes ' '
        assert validation.click_to_call({"ext": "101", "phone": text, "is_encode": "true"}).phone == number


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
V2_KEYS = ["id", "mobile", "agent", "hotline", "auto_answer", "record", "src_cid_name", "dest_cid_number",
           "is_encode"]


@given(st.one_of(json_values, st.dictionaries(st.sampled_from(V2_KEYS), json_values, max_size=len(V2_KEYS))))
def test_any_v2_json_body_is_a_clean_400_or_a_valid_request(body):
    try:
        req = validation.click_to_call_v2(body)
    except ApiError as exc:
        assert exc.status == 400 and exc.body()["status"] == "fail"
        return
    assert validation.EXTENSION_RE.fullmatch(req.ext) and validation.PHONE_RE.fullmatch(req.phone)


CDR_PARAMS = ["start_date", "end_date", "extension", "phone", "hotline", "customer_id", "status", "min_duration",
              "limit", "page", "scroll_id", "sort"]


@given(st.dictionaries(st.sampled_from(CDR_PARAMS), st.text(max_size=40), max_size=6))
@example({"min_duration": "¹"})  # found by hypothesis: a digit to str.isdigit(), not to int()
@example({"limit": "٣"})
def test_any_cdr_query_is_a_clean_400_or_bounded(params):
    try:
        query = cdr.parse_query(params, ZoneInfo("Asia/Ho_Chi_Minh"))
    except ApiError as exc:
        assert exc.status == 400 and exc.body()["status"] == "fail"
        return
    assert 1 <= query.limit <= cdr.MAX_LIMIT
