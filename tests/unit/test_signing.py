import base64
import json
import time
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

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


# ---- against the reference implementation (the `standardwebhooks` library) ----

ROTATING = ("whsec_" + base64.b64encode(b"the-new-secret-of-32-bytes-long!").decode(),
            "whsec_" + base64.b64encode(b"the-old-one").decode(), SECRET)
BODIES = [BODY, '{"call_id":"c1","src_cid_name":"Nguyễn Văn A","sequence":1}'.encode(), b"{}"]


@pytest.mark.parametrize("body", BODIES)
def test_what_we_sign_the_reference_library_verifies(body):
    """What a receiver using the reference library sees: every secret of a rotation verifies what we sent."""
    sent = signing.headers(ROTATING, MSG_ID, int(time.time()), body)
    assert len(sent["webhook-signature"].split()) == len(ROTATING)
    for secret in ROTATING:
        assert Webhook(secret).verify(body, sent, json_parse=False) is None  # raises unless one signature matches
    assert Webhook(ROTATING[0]).verify(body, sent) == json.loads(body)


def test_the_reference_library_rejects_a_changed_body_or_another_secret():
    now = int(time.time())
    sent = signing.headers(ROTATING[:2], MSG_ID, now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(ROTATING[0]).verify(b'{"test": 2432232315}', sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, sent)  # not one of the secrets it was signed with
    with pytest.raises(WebhookVerificationError):
        Webhook(ROTATING[0]).verify(BODY, {**sent, "webhook-id": "msg_other"})


def test_our_verify_accepts_what_the_reference_library_signs():
    """The other way round, for receivers that copy our verify(): the reference's signature is ours too."""
    now = int(time.time())
    reference = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(now, timezone.utc), BODY.decode())
    assert reference == signing.signature(signing.key(SECRET), MSG_ID, now, BODY)
    signing.verify(SECRET, {"webhook-id": MSG_ID, "webhook-timestamp": str(now), "webhook-signature": reference}, BODY)
