"""The relay's signed webhook to a real local endpoint, backoff, dead letters and the retry."""

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from conversations.campaigns.models import OutboxMessage
from conversations.campaigns.outbox import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    MAX_ATTEMPTS,
    backoff_delay,
    outbox_relay,
    outbox_retry,
)
from conversations.campaigns.reminders import reminders_plan
from conversations.campaigns.services import reminder_settings_for
from conversations.campaigns.signing import SignatureError, verify
from tests.conversations.campaigns.factories import CartFactory, CartItemFactory, ShopCustomerFactory
from tests.kb.factories import StoreFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 13, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class ShopEndpoint:
    """A shop's webhook receiver on 127.0.0.1 that answers `status` and keeps what it got."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[tuple[dict[str, str], bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(endpoint.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    server = ShopEndpoint()
    yield server
    server.close()


@pytest.fixture
def store(endpoint):
    store = StoreFactory(slug="shop-a")
    row = reminder_settings_for(store=store)
    row.webhook_url = endpoint.url
    row.send_email = False
    row.save()
    customer = ShopCustomerFactory(store=store, phone="13800138000")
    cart = CartFactory(store=store, customer=customer, changed_at=T0, external_id="C-77")
    CartItemFactory(cart=cart)
    assert reminders_plan(now=T0 + timedelta(hours=2)).decided == 1
    return store


def test_the_shop_gets_a_webhook_signed_with_its_secret(store, endpoint):
    assert outbox_relay(now=T0 + timedelta(hours=2)).sent == 1
    [(headers, body)] = endpoint.received
    secret = store.reminder_settings.webhook_secret
    verified = verify(secret=secret, headers=headers, body=body, now=datetime.now(tz=ZoneInfo("UTC")))
    message = OutboxMessage.objects.get()
    assert verified.msg_id == f"{message.idempotency_key}:webhook"
    data = json.loads(body)["data"]
    assert data["cart_id"] == "C-77" and data["customer"]["phone"] == "13800138000" and data["text"]
    with pytest.raises(SignatureError):
        verify(secret=secret, headers=headers, body=body + b" ", now=datetime.now(tz=ZoneInfo("UTC")))


def test_a_failing_endpoint_keeps_the_row_pending_with_backoff_then_dead_letter_and_retry(store, endpoint):
    endpoint.status = 503
    now = T0 + timedelta(hours=2)
    message = OutboxMessage.objects.get()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = outbox_relay(now=now)
        message.refresh_from_db()
        assert message.attempts == attempt and "503" in message.last_error
        if attempt < MAX_ATTEMPTS:
            assert report.failed == 1 and message.status == "pending"
            wait = message.next_attempt_at - now
            assert timedelta(seconds=BACKOFF_BASE) <= wait <= timedelta(seconds=BACKOFF_CAP)
            # Not due before its time: nothing is sent early.
            assert outbox_relay(now=message.next_attempt_at - timedelta(seconds=1)).failed == 0
            now = message.next_attempt_at
    assert message.status == "dead" and report.dead == 1
    assert message.attempt_log.filter(ok=False).count() == MAX_ATTEMPTS
    assert len(endpoint.received) == MAX_ATTEMPTS
    # The shop is back; the admin's retry sends it.
    endpoint.status = 204
    assert outbox_retry(message_ids=[message.pk], now=now) == 1
    assert outbox_relay(now=now).sent == 1
    message.refresh_from_db()
    assert message.status == "sent" and message.attempt_log.filter(ok=True).count() == 1


def test_an_hour_of_failures_loses_nothing(store, endpoint):
    endpoint.status = 500
    now = T0 + timedelta(hours=2)
    end = now + timedelta(hours=1)
    while now < end:
        outbox_relay(now=now)
        now += timedelta(minutes=1)
    message = OutboxMessage.objects.get()
    assert message.status == "pending" and 1 < message.attempts < MAX_ATTEMPTS
    endpoint.status = 200
    assert outbox_relay(now=now + timedelta(hours=1)).sent == 1


@pytest.mark.parametrize("attempts", [1, 2, 5, 7, 20])
def test_backoff_is_jittered_between_30_seconds_and_an_hour(attempts):
    ceiling = min(3600, 30 * 2**attempts)
    assert backoff_delay(attempts, rng=lambda a, b: a) == timedelta(seconds=ceiling / 2)
    assert backoff_delay(attempts, rng=lambda a, b: b) == timedelta(seconds=ceiling)
    shortest = sum((backoff_delay(n, rng=lambda a, b: a) for n in range(1, MAX_ATTEMPTS)), timedelta())
    assert shortest > timedelta(hours=1)
