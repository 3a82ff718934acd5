"""The agent console's queue in a real browser: a new request above stale ones with its waiting time, counts
as the database has them, a store filter, and stale tickets closed in bulk. Screenshots in var/screenshots."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import HandoffTicket
from conversations.services import handoff
from conversations.services.widget import conversation_start, visitor_create
from kb.models import Store
from tests.browser.conftest import Page, screenshot
from tests.kb.factories import StaffUserFactory, StoreFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _ticket(store: Store, *, hours_ago: float) -> HandoffTicket:
    conversation = conversation_start(store=store, visitor=visitor_create(store=store))
    ticket, _message = handoff.conversation_request_human(conversation=conversation)
    HandoffTicket.objects.filter(pk=ticket.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))
    return ticket


def test_new_requests_come_first_stores_filter_and_stale_tickets_close_in_bulk(server, browser):
    demo = Store.objects.get(slug="demo")
    tea = StoreFactory(slug="tea", name="茶叶小铺")
    StaffUserFactory(username="xiaowang", stores=[demo, tea])
    stale = [_ticket(demo, hours_ago=30 + n) for n in range(3)]
    waiting_long = _ticket(demo, hours_ago=2)
    newest = _ticket(demo, hours_ago=0)
    tea_ticket = _ticket(tea, hours_ago=0.5)

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    try:
        console = Page(context.new_page())
        page = console.page
        page.goto(f"{server.url}/admin/login/?next=/agent/")
        page.fill("#id_username", "xiaowang")
        page.fill("#id_password", "pw-for-tests-123")
        page.click("input[type=submit]")
        page.wait_for_url(f"{server.url}/agent/")
        page.locator("#agent-connection", has_text="已连接").wait_for()

        items = page.locator("#agent-queue [data-ticket]")
        items.nth(5).wait_for()
        order = [int(i) for i in items.evaluate_all("nodes => nodes.map(n => n.dataset.ticket)")]
        # Waiting requests, the longest waiting first; the stale ones after them, newest first.
        assert order == [waiting_long.pk, tea_ticket.pk, newest.pk, stale[0].pk, stale[1].pk, stale[2].pk]
        assert items.first.locator(".ad-age").inner_text() == "已等待 2 小时"
        assert page.locator("#agent-open-count").inner_text() == "6"
        assert page.locator("#agent-close-stale").is_visible()
        screenshot(page, "console-queue-1-order.png")

        page.select_option("#agent-store-filter", "tea")
        assert [int(i) for i in items.evaluate_all("nodes => nodes.map(n => n.dataset.ticket)")] == [tea_ticket.pk]
        assert page.locator("#agent-open-count").inner_text() == "1"
        page.select_option("#agent-store-filter", "")

        page.evaluate("window.confirm = (text) => { window.__asked = text; return true; }")
        page.click("#agent-close-stale")
        assert page.evaluate("window.__asked") == "确定结束所有超过 24 小时无人认领的工单对话吗？顾客会收到评价邀请。"
        page.locator("#agent-queue-notice", has_text="已结束 3 个超时对话。").wait_for()
        page.locator(f'#agent-queue [data-ticket="{stale[0].pk}"]').wait_for(state="detached")
        remaining = [int(i) for i in items.evaluate_all("nodes => nodes.map(n => n.dataset.ticket)")]
        assert remaining == [waiting_long.pk, tea_ticket.pk, newest.pk]
        assert page.locator("#agent-open-count").inner_text() == "3"
        assert HandoffTicket.objects.filter(status="open").count() == 3
        screenshot(page, "console-queue-2-after-close.png")
        assert console.errors == []
    finally:
        context.close()
