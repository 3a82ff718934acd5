"""The agent console in a real browser, next to a shopper's widget: what store staff see and do."""

from collections.abc import Iterator

import pytest

from conversations.models import HandoffTicket, Message
from kb.models import FaqEntry, Store
from tests.browser.conftest import Page, screenshot
from tests.browser.test_widget_browser import ask, ask_for_a_person, open_widget, say, wait_for, widget
from tests.kb.factories import StaffUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AGENT_PASSWORD = "pw-for-tests-123"  # what StaffUserFactory sets


@pytest.fixture
def console(browser, server) -> Iterator[Page]:
    """A store clerk signed in through the admin login, with the console open in a browser of their own."""
    StaffUserFactory(username="xiaowang", first_name="小王", stores=[Store.objects.get(slug="demo")])
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    console = Page(context.new_page())  # before the first load, so its script errors are caught too
    page = console.page
    page.goto(f"{server.url}/admin/login/?next=/agent/")
    page.fill("#id_username", "xiaowang")
    page.fill("#id_password", AGENT_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.url}/agent/")
    page.locator("#agent-connection", has_text="已连接").wait_for()
    # Stays set only as long as the page is never reloaded: what follows must arrive live.
    page.evaluate("window.__sameDocument = true")
    try:
        yield console
    finally:
        context.close()


def take_ticket(console: Page) -> HandoffTicket:
    """Wait for the shopper's ticket to show up in the queue, open it and claim it."""
    page = console.page
    item = page.locator("#agent-queue [data-ticket][data-status=open]")
    item.wait_for()
    ticket = HandoffTicket.objects.get(status="open")
    assert item.get_attribute("data-ticket") == str(ticket.pk)
    item.click()
    page.click("#agent-claim")
    page.locator(f'#agent-queue [data-ticket="{ticket.pk}"][data-status=claimed]').wait_for()
    page.locator("#agent-reply-input").wait_for()
    return ticket


def test_an_agent_sees_the_handoff_live_claims_it_replies_and_hands_it_back(server, shopper, console):
    agent = console.page
    page = open_widget(shopper, server)
    panel = widget(page)
    ask_for_a_person(page)

    item = agent.locator("#agent-queue [data-ticket]")
    item.wait_for()
    assert item.get_attribute("data-status") == "open"
    assert "示例服饰旗舰店" in item.text_content()
    assert "转人工" in item.locator(".ad-ticket-preview").text_content()
    assert "ad-fresh" in (item.get_attribute("class") or "")
    assert agent.title().startswith("(1) ")

    item.click()
    transcript = agent.locator("#agent-transcript")
    transcript.locator(".ad-msg[data-role=customer]", has_text="转人工").wait_for()
    assert transcript.locator(".ad-msg[data-role=bot]").count() >= 1  # the bot's handoff message
    assert agent.locator("#agent-reason").text_content()
    assert not agent.locator("#agent-reply").is_visible(), "no reply box before the ticket is claimed"
    screenshot(agent, "agent-console-new-ticket.png")

    ticket = take_ticket(console)
    panel.locator(".sd-status", has_text="人工客服为您服务").wait_for()
    agent.locator("#agent-conv-status[data-status=human]").wait_for()
    assert agent.title() == "客服工作台 - ShopDesk", "no open ticket is left"

    reply = "您好，我是小王<b>，</b>马上为您查询"
    box = agent.locator("#agent-reply-input")
    box.fill(reply)
    box.press("Enter")
    assert box.input_value() == ""
    shown = panel.locator(".sd-msg[data-role=agent]", has_text=reply)
    shown.wait_for()
    stored = Message.objects.get(role="agent")
    assert stored.text == reply and stored.conversation_id == ticket.conversation_id
    mine = transcript.locator(f'.ad-msg[data-role=agent][data-message-id="{stored.pk}"]')
    mine.wait_for()
    assert mine.locator(".ad-msg-text").text_content() == reply, "the agent's own text is shown as text"
    assert wait_for(lambda: transcript.locator(".ad-pending").count() == 0)
    assert transcript.locator(".ad-msg[data-role=agent]").count() == 1, "the reply is shown once"

    say(page, "<img src=x onerror=alert(1)>好的，谢谢")
    answer = transcript.locator(".ad-msg[data-role=customer]", has_text="好的，谢谢")
    answer.wait_for()
    assert answer.locator(".ad-msg-text").text_content() == "<img src=x onerror=alert(1)>好的，谢谢"
    assert agent.locator("main img").count() == 0
    assert "好的，谢谢" in agent.locator(f'[data-ticket="{ticket.pk}"] .ad-ticket-preview').text_content()
    screenshot(agent, "agent-console-chat.png")
    screenshot(page, "agent-console-shopper.png")

    agent.click("#agent-release")
    panel.locator(".sd-status", has_text="智能客服为您服务").wait_for()
    agent.locator("#agent-queue [data-ticket]").wait_for(state="detached")
    agent.locator("#agent-readonly", has_text="已处理完毕").wait_for()
    assert not agent.locator("#agent-reply").is_visible()
    assert agent.evaluate("window.__sameDocument") is True, "everything arrived without a reload"
    assert Message.objects.filter(role="agent").count() == 1
    assert console.errors == [] and console.dialogs == []
    assert shopper.errors == [] and shopper.dialogs == []


def test_a_suggested_reply_waits_in_the_box_for_the_agent_who_then_ends_the_chat(server, shopper, console):
    agent = console.page
    page = open_widget(shopper, server)
    ask(page, "什么时候发货？")
    ask_for_a_person(page)
    take_ticket(console)

    titles = agent.locator("#agent-matched .ad-matched-title").all_text_contents()
    answers = dict(FaqEntry.objects.filter(store__slug="demo").values_list("question", "answer"))
    assert any(title in answers for title in titles), f"the shipping FAQ should be matched, saw {titles}"

    card = agent.locator("#agent-suggestions .sd-suggestion[data-kind=faq]").first
    card.wait_for()
    text = card.locator(".ad-card-text").text_content()
    assert text in answers.values()
    box = agent.locator("#agent-reply-input")
    box.fill("")
    card.click()
    assert box.input_value() == text
    assert agent.locator("#agent-reply-counter").text_content() == f"{len(text)}/2000"

    # Only the agent's 发送 sends it: nothing reached the shopper meanwhile.
    agent.wait_for_timeout(1000)
    assert not Message.objects.filter(role="agent").exists()
    assert widget(page).locator(".sd-msg[data-role=agent]").count() == 0
    screenshot(agent, "agent-console-suggestions.png")

    agent.click("#agent-send")
    widget(page).locator(".sd-msg[data-role=agent]").wait_for()
    assert Message.objects.get(role="agent").text == text

    # Ending the chat asks first; a dismissed question changes nothing.
    agent.click("#agent-close")
    assert len(console.dialogs) == 1 and console.dialogs[0].startswith("confirm: ")
    agent.wait_for_timeout(500)
    assert widget(page).locator(".sd-status", has_text="人工客服为您服务").is_visible()
    agent.evaluate("window.confirm = () => true")
    agent.click("#agent-close")
    widget(page).locator(".sd-csat").wait_for()
    agent.locator("#agent-conv-status[data-status=closed]").wait_for()
    assert not agent.locator("#agent-reply").is_visible()
    assert console.errors == []


def test_a_reply_typed_while_the_server_is_away_is_sent_once_when_it_returns(server, shopper, console):
    agent = console.page
    page = open_widget(shopper, server)
    ask_for_a_person(page)
    take_ticket(console)

    server.stop()
    agent.locator("#agent-connection", has_text="连接中").wait_for()
    box = agent.locator("#agent-reply-input")
    box.fill("网络恢复后请看这条")
    box.press("Enter")
    assert agent.locator("#agent-transcript .ad-pending").count() == 1
    assert agent.locator("#agent-notice").is_visible()

    server.start()
    agent.locator("#agent-connection", has_text="已连接").wait_for(timeout=60_000)
    widget(page).locator(".sd-msg[data-role=agent]", has_text="网络恢复后请看这条").wait_for(timeout=30_000)
    assert wait_for(lambda: agent.locator("#agent-transcript .ad-pending").count() == 0)
    agent.wait_for_timeout(1000)
    assert list(Message.objects.filter(role="agent").values_list("text", flat=True)) == ["网络恢复后请看这条"]
    assert agent.locator("#agent-transcript .ad-msg[data-role=agent]").count() == 1
    # The state after the reconnect is the server's: the claimed ticket is still this agent's.
    assert agent.locator("#agent-queue [data-ticket][data-status=claimed]").count() == 1
    assert agent.evaluate("window.__sameDocument") is True
    assert console.errors == [] and console.dialogs == []
