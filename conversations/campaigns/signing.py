"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature` (v1, HMAC-SHA256).

The signed content is `<id>.<timestamp>.<raw body>`; the secret is `whsec_` and the base64 of the key.
The `standardwebhooks` package (1.1.0) implements the same, but reads the clock itself (tests could not
pass one), decodes the body as UTF-8 before checking it, and lets a malformed signature header or
non-UTF-8 body escape as ValueError / binascii.Error / UnicodeDecodeError; here every refusal is a
`SignatureError` with a stable code (a 401), and the raw bytes are what is signed. Checked against the
specification's published example in the tests.
"""

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
TOLERANCE_SECONDS = 5 * 60


class SignatureError(Exception):
    """The request is not signed by the store: missing headers, a bad or stale signature."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        # A secret that is not base64 is used as it is (some shops paste a plain string).
        return raw.encode()


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for this message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }


@dataclass(frozen=True)
class VerifiedWebhook:
    msg_id: str
    timestamp: int


def verify(*, secret: str, headers: dict[str, str], body: bytes, now: datetime) -> VerifiedWebhook:
    """Check the raw body's signature and freshness; raise `SignatureError` otherwise.

    `headers` are looked up in lower case. The header may list several space-separated signatures
    (a secret being rotated); one valid `v1` signature is enough. Compared in constant time.
    """
    msg_id = headers.get("webhook-id", "").strip()
    stamp = headers.get("webhook-timestamp", "").strip()
    signatures = headers.get("webhook-signature", "").strip()
    if not msg_id or not stamp or not signatures:
        missing = [
            h
            for h, v in (("webhook-id", msg_id), ("webhook-timestamp", stamp), ("webhook-signature", signatures))
            if not v
        ]
        raise SignatureError("signature_missing", f"Missing header {', '.join(missing)}.")
    if len(msg_id) > 200:
        raise SignatureError("signature_invalid", "The webhook-id header is too long (at most 200 characters).")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError(
            "signature_invalid", "The webhook-timestamp header is not a whole number of seconds."
        ) from None
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError(
            "signature_stale", "The webhook-timestamp is more than 5 minutes away from our clock; sign it again."
        )
    expected = sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body).split(",", 1)[1]
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return VerifiedWebhook(msg_id=msg_id, timestamp=timestamp)
    raise SignatureError("signature_invalid", "The webhook-signature does not match the store's webhook secret.")
