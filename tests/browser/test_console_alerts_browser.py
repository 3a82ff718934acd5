"""A new request for a person reaches an agent who looks elsewhere: a tone and a desktop notification, the
browser's permission asked once. The browser's Notification and audio are recorded, not played."""

import pytest

from kb.models import Store
from tests.browser.conftest import Page, screenshot
from tests.browser.test_widget_browser import ask_for_a_person, open_widget
from tests.kb.factories import StaffUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before the console's scripts: the permission prompt answers "granted" (and is remembered), the
# window is not in front, and tones are counted.
RECORDER = """
window.__asked = 0; window.__notes = []; window.__tones = 0;
class RecordedNotification {
  constructor(title, options) { window.__notes.push({ title: title, body: options.body }); }
  close() {}
}
RecordedNotification.permission = localStorage.getItem("test-permission") || "default";
RecordedNotification.requestPermission = () => {
  window.__asked += 1;
  RecordedNotification.permission = "granted";
  localStorage.setItem("test-permission", "granted");
  return Promise.resolve("granted");
};
window.Notification = RecordedNotification;
document.hasFocus = () => false;
window.AudioContext = class {
  constructor() { this.currentTime = 0; this.destination = {}; }
  createOscillator() { return { frequency: {}, connect() {}, start() { window.__tones += 1; }, stop() {} }; }
  createGain() { return { gain: {}, connect() {} }; }
};
"""


def test_a_new_request_sounds_and_notifies_after_one_permission_prompt(server, browser, shopper):
    StaffUserFactory(username="xiaowang", stores=[Store.objects.get(slug="demo")])
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    context.add_init_script(RECORDER)
    try:
        console = Page(context.new_page())
        page = console.page
        page.goto(f"{server.url}/admin/login/?next=/agent/")
        page.fill("#id_username", "xiaowang")
        page.fill("#id_password", "pw-for-tests-123")
        page.click("input[type=submit]")
        page.wait_for_url(f"{server.url}/agent/")
        page.locator("#agent-connection", has_text="已连接").wait_for()

        page.click("#agent-placeholder")
        page.click("#agent-queue-empty")
        assert page.evaluate("window.__asked") == 1
        page.reload()
        page.locator("#agent-connection", has_text="已连接").wait_for()
        page.click("#agent-placeholder")
        assert page.evaluate("window.__asked") == 0, "asked once, not on every visit"

        shop = open_widget(shopper, server)
        ask_for_a_person(shop)
        page.locator("#agent-queue [data-ticket][data-status=open]").wait_for()
        page.wait_for_function("window.__notes.length > 0")

        assert page.evaluate("window.__notes") == [
            {"title": "示例服饰旗舰店有顾客在等待人工客服", "body": "顾客要求人工"}
        ]
        assert page.evaluate("window.__tones") >= 1
        screenshot(page, "console-alert-new-ticket.png")
        assert console.errors == []
    finally:
        context.close()
