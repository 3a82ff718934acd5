"""Widget edges a shopper and a shop owner meet: a refused site offers no dead buttons and tells the owner in the
console what to allow; a long title wraps; every quick question stays in sight; an ended chat offers no
结束对话. Screenshots in var/screenshots/widget-edge-*.png."""

import pytest

from conversations.models import Conversation
from kb.models import Store
from tests.browser.conftest import screenshot
from tests.browser.test_widget_browser import open_widget, other_site, say, widget

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_refused_site_shows_only_the_message_and_logs_the_origin_to_allow(server, shopper):
    page = shopper.page
    logged: list[str] = []
    page.on("console", lambda message: logged.append(message.text) if message.type == "warning" else None)
    html = (
        "<!doctype html><html><body><h1>别人的网站</h1>"
        f'<script src="{server.url}/static/conversations/widget.js" data-store="demo"></script></body></html>'
    )
    with other_site(html) as elsewhere:
        page.goto(f"{elsewhere}/shop.html")
        panel = widget(page)
        panel.locator(".sd-launcher").click()
        panel.locator(".sd-notice", has_text="未获授权").wait_for()

        assert not panel.locator(".sd-handoff").is_visible()
        assert not panel.locator(".sd-end").is_visible()
        assert not panel.locator(".sd-input").is_visible()
        assert any(elsewhere in text and "demo" in text and "允许嵌入的网站" in text for text in logged), logged
        screenshot(page, "widget-edge-refused.png")
    assert Conversation.objects.count() == 0


def test_a_long_title_wraps_and_every_quick_question_stays_in_sight(server, shopper):
    questions = [f"第{n}个常见问题：这件衣服什么时候能发货呀？" for n in range(1, 11)]
    store = Store.objects.get(slug="demo")
    theme = {**store.theme, "title": "示例服饰旗舰店官方在线客服中心"}
    Store.objects.filter(pk=store.pk).update(quick_questions=questions, theme=theme)

    page = open_widget(shopper, server)
    panel = widget(page)
    title = panel.locator(".sd-title")
    assert title.inner_text() == theme["title"]
    box = title.evaluate(
        "el => ({lines: Math.round(el.clientHeight / parseFloat(getComputedStyle(el).lineHeight)),"
        " cut: el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight})"
    )
    assert box["lines"] >= 2 and box["cut"] is False, "the title wraps instead of being cut"
    assert title.get_attribute("title") == theme["title"]

    chips = panel.locator(".sd-chips")
    assert chips.locator(".sd-chip").count() == 10
    overflow = chips.evaluate(
        "el => ({wide: el.scrollWidth > el.clientWidth, tall: el.scrollHeight > el.clientHeight})"
    )
    assert overflow["wide"] is False, "no chip hides off to the side"
    if overflow["tall"]:
        # More rows than fit: they scroll, with a scrollbar that takes room (so it shows).
        assert chips.evaluate("el => el.offsetWidth - el.clientWidth") > 0
    screenshot(page, "widget-edge-title-chips.png")


def test_an_ended_chat_offers_no_end_button(server, shopper):
    page = open_widget(shopper, server)
    panel = widget(page)
    assert panel.locator(".sd-end").is_visible()
    page.evaluate("window.confirm = () => true")
    panel.locator(".sd-end").click()
    panel.locator(".sd-status", has_text="对话已结束").wait_for()

    assert not panel.locator(".sd-end").is_visible()
    screenshot(page, "widget-edge-ended.png")


def test_a_reload_after_the_chat_ended_keeps_it_and_offers_a_new_one(server, shopper):
    page = open_widget(shopper, server)
    panel = widget(page)
    say(page, "转人工")
    panel.locator(".sd-status", has_text="正在为您转接人工客服").wait_for()
    page.evaluate("window.confirm = () => true")
    panel.locator(".sd-end").click()
    panel.locator(".sd-csat").wait_for()

    page.reload()
    panel = widget(page)
    panel.locator(".sd-status", has_text="对话已结束").wait_for()
    assert panel.locator(".sd-msg.sd-me", has_text="转人工").is_visible(), "the last messages are kept"
    assert panel.locator(".sd-csat .sd-star").count() == 5, "the rating prompt is back"
    assert not panel.locator(".sd-end").is_visible() and not panel.locator(".sd-input").is_visible()
    screenshot(page, "widget-edge-reloaded-after-end.png")

    panel.locator(".sd-new").click()
    panel.locator(".sd-status", has_text="智能客服").wait_for()
    assert panel.locator(".sd-input").is_visible()
    assert panel.locator(".sd-msg.sd-me").count() == 0
    page.reload()
    widget(page).locator(".sd-status", has_text="智能客服").wait_for()
    assert Conversation.objects.count() == 2
    assert Conversation.objects.filter(status="closed").count() == 1
