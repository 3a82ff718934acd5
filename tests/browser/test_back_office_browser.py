"""A shop owner who reads only Chinese sets up the demo shop in a real browser: persona, quick questions,
business hours and colour, a product with attributes, an FAQ import from a CSV saved by Excel (GBK),
an agent added from the store page, who then finds only shop work and the console. Screenshots of each
step go to var/screenshots/back-office-*.png."""

import re
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model

from conversations.models import HandoffTicket
from kb.models import FaqEntry, Product, Store
from tests.browser.conftest import SCREENSHOTS, Page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BOSS_PASSWORD = "a-long-test-password"
# What Excel on Chinese Windows saves for "CSV (逗号分隔)": GBK, Chinese headers, no store column.
FAQ_CSV_GBK = (
    "问题,答案,关键词,相似问法,回答方式\r\n"
    "支持七天无理由退货吗？,支持，签收后七天内未穿着可退。,退货|七天,能退吗？,direct\r\n"
    "可以开发票吗？,可以，下单时填写发票抬头即可。,发票、开票,,reference\r\n"
).encode("gbk")
ENGLISH = re.compile(r"\b(Persona|Relevance threshold|Save|Delete|Enter a valid JSON|FAQ entries|Handoff)\b")
CJK = re.compile(r"[\u4e00-\u9fff]")


def screenshot(page, name: str) -> None:
    """The whole page, not only what fits the window: a form's fields are the point."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{url}/admin/")


def visible_text(page) -> str:
    return page.locator("body").inner_text()


@pytest.fixture
def owner(browser, server) -> Iterator[Page]:
    get_user_model().objects.create_superuser("boss", "boss@example.com", BOSS_PASSWORD)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    owner = Page(context.new_page())
    sign_in(owner.page, server.url, "boss", BOSS_PASSWORD)
    try:
        yield owner
    finally:
        context.close()


def test_a_chinese_shop_owner_sets_up_the_shop_without_english_or_json(server, owner, browser):
    page = owner.page
    index = visible_text(page)
    assert "ShopDesk 客服后台" in index and "Django" not in index
    assert "店铺知识库" in index and "常见问题" in index and "转人工工单" in index
    screenshot(page, "back-office-1-index.png")

    # The store: persona, quick questions one per line, business hours per weekday, the colour picker.
    store = Store.objects.get(slug="demo")
    page.goto(f"{server.url}/admin/kb/store/{store.pk}/change/")
    form_text = page.locator("#store_form").inner_text()
    assert "人设" in form_text and "快捷问题" in form_text and "人工客服时间" in form_text
    assert not ENGLISH.search(form_text), ENGLISH.search(form_text)
    assert "[" not in page.locator("#id_quick_questions").input_value(), "lines, not JSON"
    page.fill("#id_persona", "你是示例服饰旗舰店的客服小美，说话亲切。")
    page.fill("#id_quick_questions", "“什么时候发货？”\n可以退换吗？\n\n有现货吗")
    page.fill("#id_business_hours_mon", "09:00-18:00")
    page.fill("#id_business_hours_sat", "10：00～12:00，13:00-16:00")
    page.fill("#id_theme_color", "#1677ff")
    preview = page.locator("#shopdesk-preview")
    preview.get_by_text("可以退换吗？").first.wait_for()
    screenshot(page, "back-office-2-store-form.png")
    page.click("input[name=_continue]")
    page.locator(".messagelist .success").wait_for()
    store.refresh_from_db()
    assert store.quick_questions == ["什么时候发货？", "可以退换吗？", "有现货吗"]
    assert store.business_hours == {"mon": ["09:00-18:00"], "sat": ["10:00-12:00", "13:00-16:00"]}
    assert store.theme["color"] == "#1677ff"
    assert page.locator("#id_quick_questions").input_value() == "什么时候发货？\n可以退换吗？\n有现货吗"

    # A mistake is explained in Chinese, with what to type.
    page.fill("#id_quick_questions", "\n".join(f"问题{n}" for n in range(11)))
    page.click("input[name=_continue]")
    error = page.locator(".field-quick_questions .errorlist").inner_text()
    assert error.startswith("最多 10 行，现在有 11 行。每行写一个，例如：")
    screenshot(page, "back-office-3-store-error.png")

    # A product with attributes typed as 名称：值 lines.
    page.goto(f"{server.url}/admin/kb/product/add/")
    page.select_option("#id_store", str(store.pk))
    page.fill("#id_sku", "BS-009")
    page.fill("#id_name", "冰丝阔腿裤")
    page.fill("#id_price", "129")
    page.fill("#id_attributes", "面料：冰丝\n尺码：S、M、L\n颜色: 黑色")
    screenshot(page, "back-office-4-product.png")
    page.click("input[name=_save]")
    page.locator(".messagelist .success").wait_for()
    assert Product.objects.get(sku="BS-009").attributes == {"面料": "冰丝", "尺码": ["S", "M", "L"], "颜色": "黑色"}

    # FAQ entries from a CSV that Excel saved as GBK, into the preselected store.
    page.goto(f"{server.url}/admin/kb/faqentry/import/")
    assert "下载模板" in visible_text(page)
    assert page.locator("#id_store option:checked").inner_text().startswith("示例服饰旗舰店")
    page.set_input_files(
        "#id_import_file", files=[{"name": "常见问题.csv", "mimeType": "text/csv", "buffer": FAQ_CSV_GBK}]
    )
    page.select_option("#id_format", "0")
    page.click('form[enctype="multipart/form-data"] input[type=submit]')
    page.locator("table.import-preview").get_by_text("支持七天无理由退货吗？").wait_for()
    screenshot(page, "back-office-5-import-preview.png")
    page.click("input[name=confirm]")
    page.locator(".messagelist .success").wait_for()
    refund = FaqEntry.objects.get(question="支持七天无理由退货吗？")
    assert (refund.store, refund.keywords, refund.mode) == (store, ["退货", "七天"], "direct")
    screenshot(page, "back-office-6-imported.png")

    # An agent, added in one place with a clear note.
    page.goto(f"{server.url}/admin/kb/store/{store.pk}/change/")
    page.click("#shopdesk-add-staff-link")
    assert "职员状态" in page.locator("#shopdesk-staff-note").inner_text()
    page.fill("#id_username", "xiaomei")
    page.fill("#id_password", "Kefu-2026-xiaomei")
    screenshot(page, "back-office-7-add-staff.png")
    page.click("#shopdesk-add-staff input[type=submit]")
    assert "已创建账号“xiaomei”" in page.locator(".messagelist .success").inner_text()

    # The agent signs in: shop work only, and the console in Chinese.
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    try:
        agent = Page(context.new_page())
        sign_in(agent.page, server.url, "xiaomei", "Kefu-2026-xiaomei")
        agent_index = visible_text(agent.page)
        assert "常见问题" in agent_index and "转人工工单" in agent_index
        assert "周期性任务" not in agent_index and "认证令牌" not in agent_index
        screenshot(agent.page, "back-office-8-agent-index.png")
        agent.page.goto(f"{server.url}/agent/")
        agent.page.locator("#agent-connection", has_text="已连接").wait_for()
        assert agent.page.title() == "客服工作台 - ShopDesk"
        assert "暂无待处理的工单" in visible_text(agent.page)
        screenshot(agent.page, "back-office-9-agent-console.png")
        assert agent.errors == []
    finally:
        context.close()
    assert not HandoffTicket.objects.exists()
    assert owner.errors == [] and owner.dialogs == []


def test_an_english_browser_gets_the_back_office_in_english(server, browser):
    get_user_model().objects.create_superuser("boss", "boss@example.com", BOSS_PASSWORD)
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        sign_in(page, server.url, "boss", BOSS_PASSWORD)
        text = visible_text(page)
        assert "ShopDesk back office" in text and "FAQ entries" in text and "Handoff tickets" in text
        store = Store.objects.get(slug="demo")
        page.goto(f"{server.url}/admin/kb/store/{store.pk}/change/")
        labels = " ".join(page.locator("#store_form label").all_inner_texts())
        assert "Persona" in labels and "Quick questions" in labels and "Monday" in labels
        assert not CJK.search(labels), CJK.findall(labels)
        screenshot(page, "back-office-english-store.png")
    finally:
        context.close()
