"""A manager opens the report of the demo store after a day of chats (a handoff, a thumbs down, ratings):
the figures and the charts are drawn, every request stays on the server, the CSV downloads. Screenshot:
var/screenshots/report-1-page.png."""

import pytest
from django.contrib.auth import get_user_model

from kb.models import Store
from tests.browser.conftest import SCREENSHOTS, Page
from tests.browser.test_back_office_browser import screenshot, sign_in
from tests.conversations.reports.scenario import play_day

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_report_draws_its_charts_from_the_server_alone(server, browser):
    day = play_day(Store.objects.get(slug="demo"))
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-test-password")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    manager = Page(context.new_page())
    page = manager.page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        sign_in(page, server.url, "boss", "a-long-test-password")
        page.goto(f"{server.url}/admin/reports/dailyfigures/")
        page.wait_for_url(f"{server.url}/admin/reports/dailyfigures/demo/")
        page.goto(f"{server.url}/admin/reports/dailyfigures/demo/?period=day&day={day.day.isoformat()}")
        cards = page.locator("#report-cards .card")
        assert cards.count() >= 10
        first = cards.first
        assert first.get_attribute("title")  # the formula, on hover
        assert first.locator(".value").inner_text() == "7"
        for chart in ("chart-outcomes", "chart-interception", "chart-first-token", "chart-handoffs"):
            svg = page.locator(f"#{chart}")
            box = svg.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 80
        assert page.locator("#chart-outcomes rect.bar").count() == 5  # one segment per outcome of the day
        assert page.locator("#chart-interception line.target").count() == 1
        assert "没说快递公司" in page.locator("#table-comments").inner_text()
        screenshot(page, "report-1-page.png")
        with page.expect_download() as download:
            page.locator("#table-outcomes a.button").click()
        assert download.value.suggested_filename.endswith("-outcomes.csv")
        assert manager.errors == []
        outside = [url for url in requests if not url.startswith(server.url) and not url.startswith("data:")]
        assert outside == []
    finally:
        context.close()


def test_the_store_page_test_chat_answers_and_says_why(server, browser):
    store = Store.objects.get(slug="demo")
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-test-password")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    staff = Page(context.new_page())
    page = staff.page
    try:
        sign_in(page, server.url, "boss", "a-long-test-password")
        page.goto(f"{server.url}/admin/kb/store/{store.pk}/change/")
        page.fill("#shopdesk-try-question", "什么时候发货？")
        page.press("#shopdesk-try-question", "Enter")  # asks; does not save the store form
        why = page.locator("#shopdesk-try-log .shopdesk-try-why").first
        why.wait_for()
        assert page.url.endswith(f"/admin/kb/store/{store.pk}/change/")
        text = why.inner_text()
        assert "faq" in text and "#" in text
        assert page.locator("#shopdesk-try-log .shopdesk-try-matched a").count() >= 1  # the entry to fix
        make = page.locator("#shopdesk-try-log a.shopdesk-try-make").first
        assert "question=" in make.get_attribute("href")  # "make an FAQ entry" from this question
        page.locator("#shopdesk-try").screenshot(path=str(screenshot_dir() / "try-1-why.png"))
        assert staff.errors == []
    finally:
        context.close()


def screenshot_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
