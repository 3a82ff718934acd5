"""The chat widget in a real browser against a real server: what a shopper sees and does."""

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from conversations.models import Conversation, Message
from kb.models import Store
from tests.browser.conftest import SCREENSHOTS, Page, Server, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FAQ_QUESTION = "什么时候发货？"
MODEL_QUESTION = "收到的衣服有破洞怎么办？"  # more than one entry says: the model answers

# Records every state of the newest bot bubble, in the page, so no intermediate state is missed.
RECORD_STATES = """() => {
  const root = document.querySelector('[data-shopdesk]').shadowRoot;
  window.__states = [];
  const record = () => {
    const bots = root.querySelectorAll('.sd-msg[data-role=bot]');
    const last = bots[bots.length - 1];
    if (!last) return;
    const text = last.querySelector('.sd-text').textContent;
    const final = last.hasAttribute('data-final');
    const s = window.__states;
    const prev = s[s.length - 1];
    if (!prev || prev.text !== text || prev.final !== final || prev.count !== bots.length) {
      s.push({text: text, final: final, count: bots.length});
    }
  };
  new MutationObserver(record).observe(root, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def widget(page):
    return page.locator("[data-shopdesk]")


def bot_bubbles(page):
    return widget(page).locator(".sd-msg[data-role=bot]")


def say(page, text: str) -> None:
    """Type a message into the widget and press Enter."""
    box = widget(page).locator(".sd-input")
    box.fill(text)
    box.press("Enter")


def ask_for_a_person(page) -> None:
    say(page, "转人工")
    widget(page).locator(".sd-status", has_text="正在为您转接人工客服").wait_for()


def ask(page, text: str):
    """Type a question, press Enter, and return the bubble of its answer once it is complete."""
    before = bot_bubbles(page).count()
    say(page, text)
    answer = bot_bubbles(page).nth(before)
    answer.and_(page.locator("[data-final]")).wait_for(timeout=120_000)
    return answer


def open_widget(shopper: Page, server: Server, path: str = "/"):
    page = shopper.page
    page.goto(server.url + path)
    widget(page).locator(".sd-launcher").click()
    widget(page).locator(".sd-status", has_text="智能客服").wait_for()
    return page


def wait_for(predicate, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_faq_answer_history_after_reload_thumbs_and_size_limit(server, shopper):
    page = open_widget(shopper, server)
    panel = widget(page)
    assert "小美" in panel.locator(".sd-welcome").text_content()
    assert panel.locator(".sd-chip", has_text="什么时候发货?").is_visible()

    answer = ask(page, FAQ_QUESTION)
    faq_text = Message.objects.get(role="bot").text
    assert answer.locator(".sd-text").text_content() == faq_text
    assert answer.get_attribute("data-source") == "faq"

    # A quick-question chip asks its question.
    before = bot_bubbles(page).count()
    panel.locator(".sd-chip", has_text="支持7天无理由退换吗?").click()
    bot_bubbles(page).nth(before).and_(page.locator("[data-final]")).wait_for()

    page.reload()
    panel.locator(".sd-msg[data-role=bot][data-final]").nth(1).wait_for()
    texts = panel.locator(".sd-msg .sd-text").all_text_contents()
    assert texts[1:] == [FAQ_QUESTION, faq_text, "支持7天无理由退换吗?", Message.objects.filter(role="bot").last().text]
    assert Conversation.objects.count() == 1  # the reload resumed the same conversation

    first = bot_bubbles(page).first
    first.locator(".sd-thumb[data-value=up]").click()
    assert wait_for(lambda: Message.objects.get(pk=int(first.get_attribute("data-id"))).feedback == "up")
    first.locator(".sd-thumb[data-value=down]").click()
    first.locator(".sd-comment-input").fill("想知道具体几点发")
    first.locator(".sd-comment-send").click()
    assert wait_for(lambda: Message.objects.filter(feedback="down", feedback_comment="想知道具体几点发").exists()), (
        "thumbs down with a comment should be recorded"
    )

    panel.locator(".sd-input").fill("长" * 2001)
    panel.locator(".sd-input").press("Enter")
    assert "最多 2000 字" in panel.locator(".sd-notice").text_content()
    assert Message.objects.filter(role="customer").count() == 2
    screenshot(page, "widget-faq-desktop.png")

    page.set_viewport_size({"width": 390, "height": 760})
    box = panel.locator(".sd-panel").bounding_box()
    assert box is not None and box["width"] == 390, "on a phone the chat fills the screen"
    screenshot(page, "widget-faq-phone.png")
    assert shopper.dialogs == [] and shopper.errors == []


def test_the_demo_conversation_on_a_product_page_is_about_that_product(server, shopper):
    """The shop owner's demo: on the T-shirt's page, "这件" and bare questions are about that T-shirt."""
    store = Store.objects.get(slug="demo")
    tee = store.products.get(sku="TS-001")
    page = open_widget(shopper, server, "/?sku=TS-001")
    stock = ask(page, "这件T恤有现货吗？").locator(".sd-text").text_content()
    assert tee.name in stock and "有现货" in stock
    fit = ask(page, "尺码偏大吗？").locator(".sd-text").text_content()
    assert tee.name in fit and tee.size_guide.split("。")[0] in fit
    policy = ask(page, "支持7天无理由退货吗？").locator(".sd-text").text_content()
    assert "7天" in policy and "无理由" in policy
    screenshot(page, "widget-demo-conversation.png")
    # Another product's page: the same bare question is about that product now.
    page.goto(server.url + "/?sku=TS-003")
    sporty = store.products.get(sku="TS-003")
    widget(page).locator(".sd-msg[data-role=bot][data-final]").nth(2).wait_for()
    answer = ask(page, "尺码偏大吗？").locator(".sd-text").text_content()
    assert sporty.name in answer and tee.name not in answer
    assert Conversation.objects.get().product_sku == "TS-003"
    assert shopper.dialogs == [] and shopper.errors == []


@pytest.mark.model
def test_model_answer_streams_into_the_bubble_like_a_typewriter(server, shopper):
    page = open_widget(shopper, server)
    ask(page, FAQ_QUESTION)
    page.evaluate(RECORD_STATES)
    answer = ask(page, MODEL_QUESTION)
    final = answer.locator(".sd-text").text_content()
    stored = Message.objects.filter(role="bot").last()
    assert stored.source in ("llm", "guardrail") and final == stored.text and final
    states = [s for s in page.evaluate("window.__states") if s["count"] == 2]
    partial = [s["text"] for s in states if not s["final"] and s["text"] and s["text"] != final]
    assert len(set(partial)) >= 2, f"the answer should grow in steps, saw {states}"
    assert all(final.startswith(text) for text in partial)
    assert states[-1]["final"] and states[-1]["text"] == final

    page.reload()
    panel = widget(page)
    panel.locator(".sd-msg[data-role=bot][data-final]").nth(1).wait_for()
    assert panel.locator(".sd-msg .sd-text").all_text_contents()[1:] == [
        FAQ_QUESTION,
        Message.objects.filter(role="bot").first().text,
        MODEL_QUESTION,
        final,
    ]
    last = bot_bubbles(page).last
    last.locator(".sd-thumb[data-value=up]").click()
    assert wait_for(lambda: Message.objects.get(pk=stored.pk).feedback == "up")
    screenshot(page, "widget-model-answer.png")
    assert shopper.dialogs == []


def test_xss_in_messages_and_answers_renders_as_text(server, shopper):
    page = open_widget(shopper, server)
    image_requests: list[str] = []
    page.on("request", lambda request: image_requests.append(request.url) if request.url.endswith("/x") else None)
    payload = "<img src=x onerror=alert(1)> 什么时候发货"
    ask(page, payload)
    conversation = Conversation.objects.get()
    planted = (
        "<script>alert('s')</script> <img src=x onerror=alert('i')> [点我](javascript:alert('j')) "
        "![远程图](https://example.com/track.png) **包邮** [官网](https://shop.example.com/help)"
    )
    Message.objects.create(conversation=conversation, role=Message.Role.BOT, text=planted, source="agent")

    page.reload()
    panel = widget(page)
    panel.locator(".sd-msg[data-role=bot][data-final]").nth(1).wait_for()
    texts = panel.locator(".sd-msg .sd-text").all_text_contents()
    assert payload in texts
    rendered = texts[-1]
    for literal in ("<script>alert('s')</script>", "<img src=x onerror=alert('i')>", "[点我](javascript:alert('j'))"):
        assert literal in rendered
    assert "![远程图](" in rendered  # no image is loaded from a message
    last = bot_bubbles(page).last
    assert last.locator("strong").text_content() == "包邮"
    links = last.locator("a")
    assert links.count() == 1 and links.get_attribute("href") == "https://shop.example.com/help"
    assert panel.locator(".sd-list img, .sd-list script").count() == 0
    page.wait_for_timeout(500)
    assert shopper.dialogs == [] and shopper.errors == [] and image_requests == []


@contextlib.contextmanager
def other_site(html: str) -> Iterator[str]:
    body = html.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_page_on_another_origin_cannot_chat(server, shopper):
    page = shopper.page
    evil = (
        "<!doctype html><html><body><h1>别人的网站</h1>"
        f'<script src="{server.url}/static/conversations/widget.js" data-store="demo"></script></body></html>'
    )
    # Another origin on the same machine: a second, plain web server that the store does not list.
    with other_site(evil) as elsewhere:
        page.goto(f"{elsewhere}/shop.html")
        _try_to_chat(page, server)
    assert Conversation.objects.count() == 0


def _try_to_chat(page, server: Server) -> None:
    panel = widget(page)
    panel.locator(".sd-launcher").click()
    assert "未获授权" in panel.locator(".sd-notice").text_content()
    assert not panel.locator(".sd-input").is_visible()

    ws_url = server.url.replace("http", "ws") + "/ws/chat/demo/"
    outcome = page.evaluate(
        """(url) => new Promise((resolve) => {
             const ws = new WebSocket(url);
             ws.onopen = () => resolve('open');
             ws.onclose = (e) => resolve('closed ' + e.code);
           })""",
        ws_url,
    )
    assert outcome.startswith("closed")


def test_the_one_tag_snippet_on_a_shop_page_brings_its_own_helpers_and_chats(server, shopper):
    page = shopper.page
    helpers: list[str] = []
    page.on("request", lambda request: helpers.append(request.url) if "/common.js" in request.url else None)
    shop_page = (
        "<!doctype html><html><head><title>小店</title></head><body><h1>小店</h1>"
        f'<script src="{server.url}/static/conversations/widget.js" data-store="demo" async></script></body></html>'
    )
    # The snippet as the admin shows it, on a shop of its own origin: nothing else of ours is on the page.
    with other_site(shop_page) as shop:
        Store.objects.filter(slug="demo").update(allowed_origins=[shop])
        page.goto(f"{shop}/tshirt.html")
        widget(page).locator(".sd-launcher").click()
        widget(page).locator(".sd-status", has_text="智能客服").wait_for()
        answer = ask(page, FAQ_QUESTION)
        assert answer.locator(".sd-text").text_content() == Message.objects.get(role="bot").text
        added = page.locator("script[data-shopdesk-common]")
        assert added.count() == 1 and added.get_attribute("src") == f"{server.url}/static/conversations/common.js"
    assert helpers == [f"{server.url}/static/conversations/common.js"]
    assert shopper.dialogs == [] and shopper.errors == []

    # A page that has the helpers already (the demo shop loads them first) gets no second copy.
    open_widget(shopper, server)
    assert page.locator("script[src$='common.js']").count() == 1
    assert page.locator("script[data-shopdesk-common]").count() == 0
    assert shopper.errors == []


SHARED_HELPERS = """() => {
  const C = window.ShopDeskCommon;
  const node = C.el('p', 'note', '<img src=x onerror=alert(1)>');
  return {
    sameAfterSecondLoad: C === window.__first,
    filled: C.fill('{n}/{max}, {n} again, {unknown}', {n: 3, max: '$& {n}'}),
    nodeText: node.textContent,
    nodeChildren: node.childElementCount,
    frames: ['null', '[1]', 'not json', '{"type": 3}', '{"type": "hello", "a": 1}'].map(C.parseFrame),
  };
}"""


def test_the_shared_helpers_fill_every_placeholder_keep_text_as_text_and_load_once(server, shopper):
    page = shopper.page
    common = f'<script src="{server.url}/static/conversations/common.js"></script>'
    remember = "<script>window.__first = window.ShopDeskCommon;</script>"
    twice = f"<!doctype html><html><body>{common}{remember}{common}</body></html>"
    with other_site(twice) as elsewhere:
        page.goto(f"{elsewhere}/page.html")
        seen = page.evaluate(SHARED_HELPERS)
    assert seen["sameAfterSecondLoad"] is True
    # Every placeholder, the repeated one too; a value is never read as a pattern or a placeholder.
    assert seen["filled"] == "3/$& {n}, 3 again, {unknown}"
    assert seen["nodeText"] == "<img src=x onerror=alert(1)>" and seen["nodeChildren"] == 0
    assert seen["frames"] == [None, None, None, None, {"type": "hello", "a": 1}]
    assert shopper.dialogs == [] and shopper.errors == []


def test_a_message_typed_while_offline_is_sent_once_when_the_server_returns(server, shopper):
    page = open_widget(shopper, server)
    panel = widget(page)
    ask(page, FAQ_QUESTION)
    server.stop()
    panel.locator(".sd-status", has_text="重连").wait_for()
    panel.locator(".sd-input").fill("支持7天无理由退换吗？")
    panel.locator(".sd-input").press("Enter")
    assert panel.locator(".sd-msg.sd-pending").count() == 1

    server.start()
    answer = bot_bubbles(page).nth(1)
    answer.and_(page.locator("[data-final]")).wait_for(timeout=60_000)
    assert panel.locator(".sd-msg.sd-pending").count() == 0
    page.wait_for_timeout(1000)
    rows = list(Message.objects.order_by("pk").values_list("role", "text"))
    customer = [text for role, text in rows if role == "customer"]
    assert customer == [FAQ_QUESTION, "支持7天无理由退换吗？"]
    assert len([r for r in rows if r[0] == "bot"]) == 2
    # A reload after that shows the conversation once, nothing left to send.
    page.reload()
    panel.locator(".sd-msg[data-role=bot][data-final]").nth(1).wait_for()
    assert panel.locator(".sd-msg[data-role=customer]").count() == 2


def test_store_admin_previews_the_theme_live_and_shows_the_snippet(server, shopper):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-test-password")
    page = shopper.page
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    store = Store.objects.get(slug="demo")
    page.goto(f"{server.url}/admin/kb/store/{store.pk}/change/")
    preview = page.locator("#shopdesk-preview")
    assert preview.locator(".sd-title").text_content() == "示例服饰旗舰店 在线客服"
    page.fill("#id_theme_color", "#1677ff")
    page.select_option("#id_theme_position", "left")
    page.fill("#id_theme_title", "小美在线")
    page.fill("#id_welcome", "新的欢迎语 <b>不是HTML</b>")
    assert preview.locator(".sd-title").text_content() == "小美在线"
    assert preview.locator(".sd-welcome .sd-text").text_content() == "新的欢迎语 <b>不是HTML</b>"
    color = preview.locator(".sd-header").evaluate("el => getComputedStyle(el).backgroundColor")
    assert color == "rgb(22, 119, 255)"
    snippet = page.locator("#shopdesk-snippet").input_value()
    assert snippet == f'<script src="{server.url}/static/conversations/widget.js" data-store="demo" async></script>'
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#shopdesk-widget-embed").screenshot(path=str(SCREENSHOTS / "admin-preview.png"))
    assert shopper.dialogs == [] and shopper.errors == []


def test_a_message_the_server_never_takes_is_given_up_not_resent_for_ever(server, shopper):
    """A server that fails on a message (it closes the socket instead of answering) is not sent it after
    every reconnect for ever: after a few re-sends the widget shows it as not sent and stops."""
    sent = []

    def fake_server(ws) -> None:
        hello = {"type": "hello", "visitor": "v-1", "conversation": 1, "status": "bot", "store": {}, "messages": []}
        ws.send(json.dumps(hello))

        def on_message(raw) -> None:
            frame = json.loads(raw)
            if frame.get("type") == "message":
                sent.append(frame["client_id"])
                ws.close(code=1011, reason="")

        ws.on_message(on_message)

    shopper.page.route_web_socket("**/ws/chat/**", fake_server)
    page = open_widget(shopper, server)
    say(page, "有现货吗？")
    failed = widget(page).locator(".sd-msg.sd-failed", has_text="未发送")
    failed.wait_for(timeout=60_000)
    resends = len(sent)
    page.wait_for_timeout(4000)  # a few more reconnects: the message is not sent again
    assert len(sent) == resends == 6 and len(set(sent)) == 1  # the first send and 5 re-sends
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.endsWith(':outbox'))") == []
    assert shopper.errors == []


def test_a_broken_paste_is_stored_cleaned_and_answered(server, shopper):
    page = open_widget(shopper, server)
    box = widget(page).locator(".sd-input")
    # A lone surrogate, as a broken paste leaves it (Playwright itself cannot carry one).
    box.evaluate("(input) => { input.value = '什么时候发货' + String.fromCharCode(0xD800) + '\\u0000？'; }")
    box.press("Enter")
    answer = bot_bubbles(page).nth(0)
    answer.and_(page.locator("[data-final]")).wait_for(timeout=60_000)
    assert widget(page).locator(".sd-msg.sd-pending, .sd-msg.sd-failed").count() == 0
    assert wait_for(lambda: Message.objects.filter(role="customer").count() == 1)
    assert Message.objects.get(role="customer").text == "什么时候发货\ufffd？"
