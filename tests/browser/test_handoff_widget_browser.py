"""Asking for a person in the chat widget, as the shopper sees it: waiting, leaving a contact, an agent's reply."""

import pytest
from django.contrib.auth import get_user_model

from conversations.models import HandoffTicket, Message
from kb.models import Store
from tests.browser.conftest import Page, Server, screenshot
from tests.browser.test_widget_browser import ask_for_a_person, open_widget, say, wait_for, widget

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AGENT_PASSWORD = "a-long-test-password"

# The agent's side of the protocol, spoken over the real agent websocket from a logged-in browser:
# a push from this test process would not reach the server, which runs in a process of its own.
AGENT_SOCKET = """(url) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url);
  window.__agent = {ws: ws, frames: []};
  ws.onmessage = (e) => {
    const frame = JSON.parse(e.data);
    window.__agent.frames.push(frame);
    if (frame.type === 'hello') resolve(frame);
  };
  ws.onclose = (e) => reject(new Error('agent socket closed ' + e.code));
})"""

AGENT_SEND = """([frame, action]) => new Promise((resolve, reject) => {
  const agent = window.__agent;
  const seen = agent.frames.length;
  const timer = setInterval(() => {
    const answer = agent.frames.slice(seen).find(
      (f) => (f.type === 'ack' && f.action === action) || f.type === 'error');
    if (!answer) return;
    clearInterval(timer);
    if (answer.type === 'error') reject(new Error(answer.code + ': ' + answer.message));
    else resolve(answer);
  }, 50);
  agent.ws.send(JSON.stringify(frame));
})"""


def test_with_nobody_online_the_shopper_leaves_a_contact_and_keeps_writing(server, shopper):
    # No business hours: only an open agent console could take the chat, and there is none.
    Store.objects.filter(slug="demo").update(business_hours={})
    page = open_widget(shopper, server)
    panel = widget(page)
    ask_for_a_person(page)
    assert not panel.locator(".sd-handoff").is_visible()
    availability = panel.locator(".sd-availability")
    availability.wait_for()
    assert availability.text_content() == "暂时没有人工客服在线"
    form = panel.locator(".sd-contact")
    form.wait_for()
    assert "请留下手机号、微信号或邮箱，客服上线后会第一时间联系您" in form.text_content()

    contact = form.locator(".sd-contact-input")
    contact.fill("abc")
    contact.press("Enter")
    panel.locator(".sd-contact-error").wait_for()
    assert panel.locator(".sd-contact-error").text_content()
    assert form.is_visible() and contact.input_value() == "abc", "a rejected contact stays to be corrected"

    contact.fill("13800138000")
    form.locator(".sd-contact-send").click()
    thanks = panel.locator(".sd-contact-saved")
    thanks.wait_for()
    assert "13800138000" in thanks.text_content()
    assert not form.is_visible()
    assert wait_for(lambda: HandoffTicket.objects.filter(status="open", contact="13800138000").exists()), (
        "the open ticket should carry the contact"
    )

    # Waiting does not stop the shopper: what they write is still recorded for the agent.
    assert panel.locator(".sd-input").is_enabled()
    say(page, "我在等人工")
    assert wait_for(lambda: Message.objects.filter(role="customer", text="我在等人工").exists())
    assert wait_for(lambda: panel.locator(".sd-msg.sd-pending").count() == 0)
    screenshot(page, "widget-handoff-contact.png")

    # Back later: the widget remembers that a contact was left and does not ask again.
    page.reload()
    thanks.wait_for()
    assert "13800138000" in thanks.text_content()
    assert not form.is_visible()
    assert shopper.dialogs == [] and shopper.errors == []


def test_an_agent_takes_the_chat_replies_live_and_hands_it_back(server, shopper, browser):
    agent = get_user_model().objects.create_user("xiaowang", password=AGENT_PASSWORD, is_staff=True, first_name="小王")
    Store.objects.get(slug="demo").staff.add(agent)
    page = open_widget(shopper, server)
    panel = widget(page)
    ask_for_a_person(page)
    ticket = HandoffTicket.objects.get(status="open")

    context = browser.new_context()
    try:
        console = Page(context.new_page())
        _agent_connect(console.page, server)
        _agent_send(console.page, {"type": "claim", "ticket": ticket.pk}, "claim")
        panel.locator(".sd-status", has_text="人工客服为您服务").wait_for()
        assert not panel.locator(".sd-handoff").is_visible()
        assert not panel.locator(".sd-contact").is_visible()

        reply = "<b>您好</b>，我是小王，**马上**为您查询"
        conversation = ticket.conversation_id
        frame = {"type": "reply", "conversation": conversation, "text": reply, "client_id": "r1"}
        _agent_send(console.page, frame, "reply")
        bubble = panel.locator(".sd-msg[data-role=agent]")
        bubble.wait_for()
        assert "人工客服" in bubble.locator(".sd-agent-label").text_content()
        assert "小王" in bubble.locator(".sd-agent-label").text_content()
        # Rendered like the bot's text: markup stays literal, **bold** is the only formatting.
        assert bubble.locator(".sd-text").text_content() == "<b>您好</b>，我是小王，马上为您查询"
        assert bubble.locator("strong").text_content() == "马上"
        assert bubble.locator("b").count() == 0
        assert bubble.locator(".sd-thumb").count() == 0, "an agent's reply is not rated like the bot's"
        screenshot(page, "widget-handoff-agent.png")

        _agent_send(console.page, {"type": "release", "conversation": conversation}, "release")
        panel.locator(".sd-status", has_text="智能客服为您服务").wait_for()
        assert panel.locator(".sd-handoff").is_visible()
        assert console.errors == []
    finally:
        context.close()

    # After a reload the agent's reply comes back from the history, still labelled.
    page.reload()
    bubble = panel.locator(".sd-msg[data-role=agent]")
    bubble.wait_for()
    assert "小王" in bubble.locator(".sd-agent-label").text_content()
    assert panel.locator(".sd-msg[data-role=agent]").count() == 1
    assert shopper.dialogs == [] and shopper.errors == []


def _agent_connect(page, server: Server) -> None:
    page.goto(f"{server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "xiaowang")
    page.fill("#id_password", AGENT_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    hello = page.evaluate(AGENT_SOCKET, server.url.replace("http", "ws") + "/ws/agent/")
    assert [t["status"] for t in hello["tickets"]] == ["open"]


def _agent_send(page, frame: dict, action: str) -> dict:
    return page.evaluate(AGENT_SEND, [frame, action])
