"""A shopper with the widget open sees the reminder arrive live, as a message frame."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.utils import timezone

from conversations.campaigns.outbox import outbox_relay
from conversations.campaigns.reminders import reminders_plan
from conversations.campaigns.services import reminder_settings_for
from conversations.models import Message
from tests.conversations.campaigns.factories import CartFactory, CartItemFactory, ShopCustomerFactory
from tests.conversations.test_consumers import HEADERS
from tests.kb.factories import ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _cart_for(visitor_token: str) -> None:
    store = StoreFactory(slug="shop")
    ProductFactory(store=store, sku="TS-001", name="纯棉T恤", stock=3)
    row = reminder_settings_for(store=store)
    row.send_email = False
    row.quiet_start = row.quiet_end
    row.save()
    customer = ShopCustomerFactory(store=store, visitor_token=visitor_token)
    cart = CartFactory(store=store, customer=customer, changed_at=timezone.now() - timedelta(hours=2))
    CartItemFactory(cart=cart, sku="TS-001", name="纯棉T恤", quantity=1)


async def test_the_reminder_is_pushed_to_the_open_widget():
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    await database_sync_to_async(lambda: StoreFactory(slug="shop"))()
    communicator = WebsocketCommunicator(application, "/ws/chat/shop/", headers=HEADERS)
    connected, _ = await communicator.connect()
    assert connected
    try:
        hello = await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(_cart_for)(hello["visitor"])
        assert (await database_sync_to_async(reminders_plan)(now=timezone.now())).decided == 1
        assert (await database_sync_to_async(outbox_relay)()).sent == 1
        while True:
            frame = await communicator.receive_json_from(timeout=5)
            if frame["type"] == "message":
                break
        assert frame["message"]["role"] == "bot" and "纯棉T恤×1" in frame["message"]["text"]
        shown = await database_sync_to_async(Message.objects.get)(pk=frame["message"]["id"])
        assert shown.conversation_id == hello["conversation"] and "reminder" in shown.flags
    finally:
        await communicator.disconnect()
