"""The demo shop's "加入购物车" in a real browser: the visitor leaves, comes back, and the widget shows the reminder."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from conversations.campaigns.models import Cart, OutboxMessage
from conversations.campaigns.outbox import outbox_relay
from conversations.campaigns.reminders import reminders_plan
from tests.browser.conftest import screenshot
from tests.browser.test_widget_browser import open_widget, widget

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_demo_cart_left_behind_brings_a_reminder_into_the_widget(server, shopper, settings):
    settings.REMINDER_DEMO_DELAY_SECONDS = 60
    page = open_widget(shopper, server)
    page.locator("[data-demo-cart]").click()
    page.locator("[data-demo-cart-note]", has_text="已加入购物车（共 1 件）").wait_for()
    cart = Cart.objects.get(store__slug="demo")
    product_name = cart.items.get().name

    # The shopper leaves; a minute later (the demo delay) the reminder is decided and sent.
    page.goto("about:blank")
    later = timezone.now() + timedelta(seconds=61)
    assert reminders_plan(now=later).decided == 1
    assert outbox_relay(now=later).sent == 2  # the chat and the e-mail
    assert outbox_relay(now=later).sent == 0

    page.goto(server.url + "/")
    reminder = widget(page).locator(".sd-msg[data-role=bot]", has_text=f"{product_name}×1")
    reminder.wait_for()
    assert "/r/" in reminder.text_content()
    assert widget(page).locator(".sd-msg[data-role=bot]", has_text=f"{product_name}×1").count() == 1
    assert len(mail.outbox) == 1 and OutboxMessage.objects.filter(status="sent").count() == 2
    screenshot(page, "widget-cart-reminder.png")
    assert shopper.dialogs == [] and shopper.errors == []
