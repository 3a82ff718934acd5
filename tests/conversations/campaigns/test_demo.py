from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from conversations.campaigns.models import Cart
from conversations.campaigns.outbox import outbox_relay
from conversations.campaigns.reminders import reminders_plan
from conversations.models import Message
from conversations.services.widget import visitor_create
from tests.kb.factories import ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    store = StoreFactory(slug="demo")
    ProductFactory(store=store, sku="TS-001", name="经典纯棉圆领T恤", stock=10)
    return store


def add(client, **body):
    return client.post("/demo/cart/", body, content_type="application/json")


def test_the_demo_cart_button_records_the_visitors_cart(client, demo):
    visitor = visitor_create(store=demo)
    assert add(client, visitor=visitor.token, sku="TS-001", quantity=1).json()["items"] == 1
    assert add(client, visitor=visitor.token, sku="TS-001", quantity=1).json()["items"] == 2
    cart = Cart.objects.get()
    assert cart.customer.visitor_token == visitor.token and cart.version == 2
    assert [(i.name, i.quantity) for i in cart.items.all()] == [("经典纯棉圆领T恤", 2)]


def test_the_demo_cart_refuses_an_unknown_visitor_or_product(client, demo):
    assert "Open the chat" in add(client, visitor="nobody", sku="TS-001").json()["message"]
    visitor = visitor_create(store=demo)
    assert add(client, visitor=visitor.token, sku="NOPE").status_code == 400
    assert add(client, visitor=visitor.token, sku="TS-001", quantity=500).status_code == 400
    assert client.post("/demo/cart/", b"[", content_type="application/json").status_code == 400
    assert not Cart.objects.exists()


def test_with_the_demo_delay_the_reminder_reaches_the_chat_and_the_mailbox_once(client, demo, settings):
    settings.REMINDER_DEMO_DELAY_SECONDS = 60
    visitor = visitor_create(store=demo)
    add(client, visitor=visitor.token, sku="TS-001", quantity=1)
    now = timezone.now()
    assert reminders_plan(now=now + timedelta(seconds=30)).decided == 0
    assert reminders_plan(now=now + timedelta(seconds=61)).decided == 1
    outbox_relay(now=now + timedelta(seconds=62))
    outbox_relay(now=now + timedelta(seconds=63))
    [reminder] = [m for m in Message.objects.filter(conversation__visitor=visitor) if "reminder" in m.flags]
    assert "经典纯棉圆领T恤×1" in reminder.text
    assert len(mail.outbox) == 1


def test_without_the_demo_delay_the_demo_store_waits_like_any_store(client, demo, settings):
    settings.REMINDER_DEMO_DELAY_SECONDS = 0
    add(client, visitor=visitor_create(store=demo).token, sku="TS-001", quantity=1)
    assert reminders_plan(now=timezone.now() + timedelta(seconds=61)).decided == 0
