import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from click2call.schema import fields
from click2call.webhooks import signing

# The Standard Webhooks specification's own test vector.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID, TS, BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_fixed_vector():
    assert signing.headers([SECRET], MSG_ID, TS, BODY) == {
        "webhook-id": MSG_ID, "webhook-timestamp": str(TS), "webhook-signature": EXPECTED}


def test_verify_accepts_the_vector_and_rotation():
    signing.verify(SECRET, signing.headers([SECRET], MSG_ID, TS, BODY), BODY, now=TS + 10)
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUA=="
    rotated = signing.headers([other, SECRET], MSG_ID, TS, BODY)
    assert len(rotated["webhook-signature"].split()) == 2
    signing.verify(SECRET, rotated, BODY, now=TS)
    signing.verify(other, rotated, BODY, now=TS)


@pytest.mark.parametrize("body,now,hdrs", [
    (b'{"test": 2432232315}', TS, None),  # tampered body
    (BODY, TS + 301, None),  # too old
    (BODY, TS - 301, None),  # from the future
    (BODY, TS, {"webhook-id": "msg_other"}),  # id swapped
    (BODY, TS, {"webhook-signature": "v1,AAAA"}),
    (BODY, TS, {"webhook-timestamp": "soon"}),
])
def test_verify_rejects(body, now, hdrs):
    received = {**signing.headers([SECRET], MSG_ID, TS, BODY), **(hdrs or {})}
    with pytest.raises(signing.InvalidSignature):
        signing.verify(SECRET, received, body, now=now)


def test_bad_secrets_refused():
    for bad in ("MfKQ9r8G", "whsec_!!!"):
        with pytest.raises(ValueError):
            signing.key(bad)


@given(st.one_of(
    st.text(max_size=40),
    st.builds(lambda key, cut: "whsec_" + base64.b64encode(key).decode()[:cut], st.binary(max_size=40),
              st.integers(0, 60)),
))
def test_the_schema_secret_rule_accepts_exactly_what_the_signer_can_use(text):
    try:
        signing.key(text)
        usable = True
    except ValueError:
        usable = False
    assert bool(fields.WEBHOOK_SECRET_RE.fullmatch(text)) == usable, text
