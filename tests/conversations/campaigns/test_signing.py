from datetime import UTC, datetime

import pytest

from conversations.campaigns.signing import SignatureError, sign, signed_headers, verify

# The example published with the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_matches_the_specifications_example():
    assert sign(secret=SPEC_SECRET, msg_id=SPEC_ID, timestamp=SPEC_TS, body=SPEC_BODY) == SPEC_SIGNATURE
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS), "webhook-signature": SPEC_SIGNATURE}
    now = datetime.fromtimestamp(SPEC_TS + 60, tz=UTC)
    assert verify(secret=SPEC_SECRET, headers=headers, body=SPEC_BODY, now=now).msg_id == SPEC_ID


def test_one_matching_signature_among_several_is_enough():
    headers = signed_headers(secret=SPEC_SECRET, msg_id="m1", timestamp=SPEC_TS, body=b"{}")
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]
    verify(secret=SPEC_SECRET, headers=headers, body=b"{}", now=datetime.fromtimestamp(SPEC_TS, tz=UTC))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda h, b: (h | {"webhook-signature": ""}, b), "signature_missing"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "signature_missing"),
        (lambda h, b: (h, b + b" "), "signature_invalid"),
        (lambda h, b: (h | {"webhook-id": "other"}, b), "signature_invalid"),
        (lambda h, b: (h | {"webhook-timestamp": str(SPEC_TS - 301)}, b), "signature_stale"),
        (lambda h, b: (h | {"webhook-timestamp": str(SPEC_TS + 301)}, b), "signature_stale"),
        (lambda h, b: (h | {"webhook-timestamp": "yesterday"}, b), "signature_invalid"),
        (
            lambda h, b: (h | {"webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, b),
            "signature_invalid",
        ),
        (lambda h, b: (h | {"webhook-signature": "v1"}, b), "signature_invalid"),
        (lambda h, b: (h | {"webhook-signature": "v1,@@not base64@@"}, b), "signature_invalid"),
        (lambda h, b: (h, b"\xff\xfe" + b), "signature_invalid"),
    ],
)
def test_refuses_what_the_store_did_not_sign_now(change, code):
    headers = signed_headers(secret=SPEC_SECRET, msg_id="m1", timestamp=SPEC_TS, body=b'{"a": 1}')
    headers, body = change(headers, b'{"a": 1}')
    with pytest.raises(SignatureError) as info:
        verify(secret=SPEC_SECRET, headers=headers, body=body, now=datetime.fromtimestamp(SPEC_TS, tz=UTC))
    assert info.value.code == code


def test_another_stores_secret_does_not_verify():
    headers = signed_headers(secret=SPEC_SECRET, msg_id="m1", timestamp=SPEC_TS, body=b"{}")
    with pytest.raises(SignatureError):
        verify(secret="whsec_" + "QUJD" * 8, headers=headers, body=b"{}", now=datetime.fromtimestamp(SPEC_TS, tz=UTC))
