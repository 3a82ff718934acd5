"""Two relays at once never send the same row: SKIP LOCKED on PostgreSQL, the write lock on SQLite."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conversations.campaigns.models import OutboxMessage
from conversations.campaigns.outbox import outbox_relay
from conversations.campaigns.reminders import reminders_plan
from conversations.campaigns.services import reminder_settings_for
from tests.conversations.campaigns.factories import CartFactory, CartItemFactory, ShopCustomerFactory
from tests.conversations.campaigns.test_worker import HangingEndpoint
from tests.kb.factories import StoreFactory


def _two_carts_due(endpoint_url: str) -> None:
    store = StoreFactory(slug=f"shop-{uuid.uuid4().hex[:6]}")
    row = reminder_settings_for(store=store)
    row.webhook_url = endpoint_url
    row.send_email = row.send_chat = False
    row.quiet_start = row.quiet_end
    row.save()
    for _ in range(2):
        cart = CartFactory(
            store=store, customer=ShopCustomerFactory(store=store), changed_at=timezone.now() - timedelta(hours=2)
        )
        CartItemFactory(cart=cart)
    assert reminders_plan(now=timezone.now()).decided == 2


def _in_thread(target):
    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_relay_skips_the_row_the_first_is_sending():
    if connection.vendor != "postgresql":
        pytest.skip("runs on PostgreSQL (DATABASE_URL=postgres://...)")
    endpoint = HangingEndpoint()
    try:
        _two_carts_due(endpoint.url)
        first = _in_thread(lambda: outbox_relay(limit=1))
        assert endpoint.first_arrived.wait(30)
        # The first relay holds its row locked while the shop's endpoint hangs; the second takes the other row.
        report = outbox_relay(limit=5)
        assert report.sent == 1
        endpoint.release.set()
        first.join(30)
    finally:
        endpoint.close()
    assert list(OutboxMessage.objects.values_list("status", flat=True)) == ["sent", "sent"]
    assert len(endpoint.ids) == 2 and len(set(endpoint.ids)) == 2


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_a_second_relay_waits_for_the_write_lock_and_sends_nothing_twice():
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite equivalent")
    endpoint = HangingEndpoint()
    try:
        _two_carts_due(endpoint.url)
        first = _in_thread(lambda: outbox_relay(limit=1))
        assert endpoint.first_arrived.wait(30)
        second_report = {}
        second = _in_thread(lambda: second_report.update(sent=outbox_relay(limit=5).sent))
        endpoint.release.set()
        first.join(30)
        second.join(30)
    finally:
        endpoint.close()
    assert second_report["sent"] == 1
    assert list(OutboxMessage.objects.values_list("status", flat=True)) == ["sent", "sent"]
    assert len(endpoint.ids) == 2 and len(set(endpoint.ids)) == 2
