"""Reminder decisions and the relay with a controlled clock (`now` passed in): steps, quiet hours, caps, stops."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from conversations.campaigns.models import Cart, Order, OutboxMessage, ReminderSequence, ReminderSettings
from conversations.campaigns.outbox import outbox_relay
from conversations.campaigns.reminders import quiet_hours_end, reminders_plan
from conversations.campaigns.services import reminder_settings_for
from conversations.models import Message
from conversations.services.widget import visitor_create
from tests.conversations.campaigns.factories import CartFactory, CartItemFactory, OrderFactory, ShopCustomerFactory
from tests.kb.factories import ProductFactory, PromotionFactory, StoreFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A weekday afternoon in the store's time zone: outside the default quiet hours (21:00-08:00).
T0 = datetime(2026, 3, 2, 13, 0, tzinfo=SHANGHAI)


@pytest.fixture
def store():
    store = StoreFactory(slug="shop-a", name="示例店")
    ProductFactory(store=store, sku="TS-001", name="纯棉T恤", stock=5)
    reminder_settings_for(store=store)
    return store


def abandoned_cart(store, *, at=T0, customer=None, visitor=True, **customer_kwargs):
    if customer is None:
        customer = ShopCustomerFactory(store=store, **customer_kwargs)
        if visitor:
            customer.visitor_token = visitor_create(store=store).token
            customer.save()
    cart = CartFactory(store=store, customer=customer, changed_at=at)
    CartItemFactory(cart=cart, sku="TS-001", name="纯棉T恤", quantity=2)
    return cart


def chat_reminders():
    return [m.text for m in Message.objects.order_by("pk") if "reminder" in m.flags]


def test_idle_time_is_at_least_ten_minutes(store):
    row = store.reminder_settings
    row.idle_minutes = 5
    with pytest.raises(ValidationError):
        row.full_clean()


def test_a_cart_gets_its_steps_on_every_channel_exactly_once(store):
    row = store.reminder_settings
    row.webhook_url = ""
    row.save()
    cart = abandoned_cart(store)
    assert reminders_plan(now=T0 + timedelta(minutes=45)).decided == 0  # idle, but step 1 is at 1 h
    assert reminders_plan(now=T0 + timedelta(minutes=61)).decided == 1
    assert reminders_plan(now=T0 + timedelta(minutes=62)).decided == 0  # decided once
    rows = OutboxMessage.objects.order_by("channel")
    assert [(r.idempotency_key, r.channel) for r in rows] == [
        (f"cart:{cart.pk}:step:0", "chat"),
        (f"cart:{cart.pk}:step:0", "email"),
    ]
    report = outbox_relay(now=T0 + timedelta(minutes=62))
    assert report.sent == 2
    assert outbox_relay(now=T0 + timedelta(minutes=63)).sent == 0
    [text] = chat_reminders()
    assert "纯棉T恤×2" in text and "/r/" in text
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [cart.customer.email]
    # The second step, a day later (past the 16 h cap).
    assert reminders_plan(now=T0 + timedelta(hours=24, minutes=1)).decided == 1
    outbox_relay(now=T0 + timedelta(hours=24, minutes=2))
    assert len(chat_reminders()) == 2 and len(mail.outbox) == 2
    assert OutboxMessage.objects.filter(idempotency_key=f"cart:{cart.pk}:step:1").count() == 2
    # No third step.
    assert reminders_plan(now=T0 + timedelta(days=3)).decided == 0


def test_an_unreachable_shopper_gets_nothing(store):
    row = store.reminder_settings
    row.send_email = False
    row.save()
    abandoned_cart(store, visitor=False)
    abandoned_cart(store, consent=False)
    abandoned_cart(store, unsubscribed=True)
    assert reminders_plan(now=T0 + timedelta(hours=2)).decided == 0
    assert not OutboxMessage.objects.exists()


def test_quiet_hours_defer_to_the_morning_and_drop_nothing(store):
    evening = datetime(2026, 3, 2, 21, 30, tzinfo=SHANGHAI)
    abandoned_cart(store, at=evening - timedelta(hours=1))
    assert reminders_plan(now=evening).decided == 1
    morning = datetime(2026, 3, 3, 8, 0, tzinfo=SHANGHAI)
    assert {r.next_attempt_at for r in OutboxMessage.objects.all()} == {morning}
    assert outbox_relay(now=datetime(2026, 3, 3, 2, 0, tzinfo=SHANGHAI)).sent == 0
    assert outbox_relay(now=morning).sent == 2
    assert len(chat_reminders()) == 1


def test_quiet_hours_follow_the_store_time_zone(store):
    row = store.reminder_settings
    row.time_zone = "Europe/Berlin"
    # 13:00 in Shanghai is 06:00 in Berlin: quiet there until 08:00 Berlin time.
    assert quiet_hours_end(reminder_settings=row, at=T0) == datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    row.time_zone = "Asia/Shanghai"
    assert quiet_hours_end(reminder_settings=row, at=T0) is None


def test_one_message_per_shopper_per_16_hours_and_one_sequence_per_7_days(store):
    customer = ShopCustomerFactory(store=store)
    first = abandoned_cart(store, customer=customer)
    second = abandoned_cart(store, customer=customer, at=T0 + timedelta(minutes=5))
    assert reminders_plan(now=T0 + timedelta(hours=2)).decided == 1
    assert ReminderSequence.objects.get().cart == first
    # The other cart never starts a sequence within 7 days of the first one.
    assert reminders_plan(now=T0 + timedelta(days=6)).decided == 1  # first cart's step 2 only
    assert not ReminderSequence.objects.filter(cart=second).exists()
    # An unpaid order within 16 h of a reminder waits for the cap, then is nudged.
    order = OrderFactory(store=store, customer=customer, placed_at=T0 + timedelta(days=6))
    assert reminders_plan(now=T0 + timedelta(days=6, hours=1)).decided == 0
    assert reminders_plan(now=T0 + timedelta(days=6, hours=17)).decided == 1
    assert ReminderSequence.objects.filter(order=order).exists()


def stop_paid(cart, now):
    Order.objects.create(
        store=cart.store, external_id="O9", customer=cart.customer, status="paid", placed_at=now, paid_at=now
    )


def stop_changed(cart, now):
    cart.version += 1
    cart.save()


def stop_emptied(cart, now):
    cart.status = Cart.Status.EMPTIED
    cart.save()
    cart.items.all().delete()


def stop_out_of_stock(cart, now):
    cart.store.products.filter(sku="TS-001").update(stock=0)


def stop_unsubscribed(cart, now):
    cart.customer.unsubscribed = True
    cart.customer.save()


@pytest.mark.parametrize(
    ("stop", "reason"),
    [
        (stop_paid, "paid"),
        (stop_changed, "cart_changed"),
        (stop_emptied, "cart_emptied"),
        (stop_out_of_stock, "out_of_stock"),
        (stop_unsubscribed, "unsubscribed"),
    ],
)
def test_a_stop_condition_arising_after_the_decision_cancels_the_send(store, stop, reason):
    cart = abandoned_cart(store)
    decided_at = T0 + timedelta(hours=1, minutes=1)
    assert reminders_plan(now=decided_at).decided == 1
    stop(cart, decided_at + timedelta(minutes=1))
    report = outbox_relay(now=decided_at + timedelta(minutes=2))
    assert report.sent == 0 and report.cancelled >= 1
    assert chat_reminders() == [] and mail.outbox == []
    assert set(OutboxMessage.objects.values_list("status", "cancel_reason")) == {("cancelled", reason)}
    sequence = ReminderSequence.objects.get()
    assert (sequence.status, sequence.stop_reason) == ("stopped", reason)
    assert reminders_plan(now=T0 + timedelta(days=2)).decided == 0


def test_the_text_names_only_real_active_promotions_and_the_guard_removes_invented_ones(store):
    PromotionFactory(store=store, title="满300减50", threshold=Decimal("300"), amount=Decimal("50"))
    PromotionFactory(store=store, title="已结束的活动", enabled=False)
    row = store.reminder_settings
    row.template = "您的购物车里有{items}。{promotions}今天下单全场满500减200！"
    row.save()
    abandoned_cart(store)
    reminders_plan(now=T0 + timedelta(hours=2))
    text = OutboxMessage.objects.first().text
    assert "满300减50" in text and "已结束的活动" not in text
    assert "满500减200" not in text


def test_an_unpaid_order_is_nudged_once_and_not_after_payment(store):
    order = OrderFactory(store=store, placed_at=T0, items=[{"sku": "TS-001", "name": "纯棉T恤", "quantity": 1}])
    order.customer.visitor_token = visitor_create(store=store).token
    order.customer.save()
    paid = OrderFactory(store=store, placed_at=T0)
    assert reminders_plan(now=T0 + timedelta(minutes=20)).decided == 0
    paid.status = Order.Status.PAID
    paid.save()
    assert reminders_plan(now=T0 + timedelta(minutes=31)).decided == 1
    assert reminders_plan(now=T0 + timedelta(hours=20)).decided == 0
    assert OutboxMessage.objects.filter(idempotency_key=f"order:{order.pk}:step:0").count() == 2
    outbox_relay(now=T0 + timedelta(minutes=32))
    [text] = chat_reminders()
    assert order.external_id in text and "付款" in text


def test_reminder_settings_defaults(store):
    row = ReminderSettings.objects.get(store=store)
    assert (row.idle_minutes, row.steps, row.unpaid_nudge) == (30, [60, 1440], True)
    assert (row.quiet_start.hour, row.quiet_end.hour, row.time_zone) == (21, 8, "Asia/Shanghai")


def test_the_restore_link_counts_a_click_and_opens_the_cart(store, client):
    cart = abandoned_cart(store)
    cart.restore_url = "https://shop.example.com/cart?restore=1"
    cart.save()
    reminders_plan(now=T0 + timedelta(hours=2))
    link = OutboxMessage.objects.first().link
    response = client.get(link[link.index("/r/") :])
    assert response.status_code == 302 and response["Location"] == cart.restore_url
    assert OutboxMessage.objects.first().clicks.count() == 1
    assert client.get("/r/forged-token/").status_code == 404


def _sent_reminder(store, *, total_orders=()):
    cart = abandoned_cart(store)
    reminders_plan(now=T0 + timedelta(hours=1, minutes=1))
    outbox_relay(now=T0 + timedelta(hours=1, minutes=1))
    return cart


def test_figures_keep_recovered_and_ordered_after_apart_and_credit_no_order_without_a_reminder(store, client):
    from conversations.campaigns.selectors import campaign_figures

    sent_at = T0 + timedelta(hours=1, minutes=1)
    clicked = _sent_reminder(store)
    not_clicked = abandoned_cart(store)
    reminders_plan(now=T0 + timedelta(hours=1, minutes=2))
    outbox_relay(now=T0 + timedelta(hours=1, minutes=2))
    never_reminded = ShopCustomerFactory(store=store)
    link = clicked.sequence.messages.first().link
    client.get(link[link.index("/r/") :])
    click_at = clicked.sequence.clicks.get().at
    OrderFactory(store=store, customer=clicked.customer, placed_at=click_at + timedelta(days=1), total=Decimal("198"))
    OrderFactory(store=store, customer=not_clicked.customer, placed_at=sent_at + timedelta(days=2), total=Decimal("99"))
    OrderFactory(store=store, customer=not_clicked.customer, placed_at=sent_at + timedelta(days=6), total=Decimal("5"))
    OrderFactory(store=store, customer=never_reminded, placed_at=sent_at + timedelta(days=1), total=Decimal("500"))
    figures = campaign_figures(store=store)
    assert (figures.sent, figures.clicked) == (2, 1)
    assert (figures.recovered, figures.recovered_revenue) == (1, Decimal("198"))
    assert (figures.ordered_after, figures.ordered_after_revenue) == (1, Decimal("99"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("steps", []),
        ("steps", [1440, 60]),
        ("steps", ["60"]),
        ("steps", [60, 60]),
        ("time_zone", "Mars/Olympus"),
        ("template", "{price}"),
        ("template", "{items.__class__}"),
    ],
)
def test_settings_refuse_what_would_break_reminders_naming_the_field(store, field, value):
    row = store.reminder_settings
    setattr(row, field, value)
    with pytest.raises(ValidationError) as info:
        row.full_clean()
    assert field in info.value.message_dict
