"""The human handoff round trip: the shopper's widget and an agent's console, over both websockets.

The engine runs the scripted fake runtime here; tests/engine/test_engine_model.py runs the same
round trip with the real model.
"""

import asyncio
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from conversations import contacts, selectors
from conversations.models import CSAT, AgentPresence, Conversation, HandoffTicket, Message, Visitor
from conversations.services import agents, handoff
from engine import service
from tests.conversations.factories import ConversationFactory
from tests.engine.fake_runtime import FakeRuntime
from tests.kb.factories import FaqEntryFactory, ProductFactory, StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
ANSWER = "亲，这款是纯棉面料，穿着舒适透气。"
QUESTION = "纯棉T恤是什么面料？"
AGENT_TEXT = "您好，我是客服小王。这件T恤今天下午补货，明天一早发出。"


class RecordingRuntime(FakeRuntime):
    """The fake model, remembering every conversation it was shown."""

    prompts: list[list[dict[str, str]]] = []

    def render_chat(self, messages, *, add_generation_prompt=True):
        RecordingRuntime.prompts.append([dict(m) for m in messages])
        return super().render_chat(messages, add_generation_prompt=add_generation_prompt)


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    channel_layers.backends.clear()
    service.reset_scheduler()
    RecordingRuntime.prompts = []
    monkeypatch.setattr(service, "_runtime", lambda: RecordingRuntime(answer=ANSWER))
    yield
    service.reset_scheduler()
    channel_layers.backends.clear()


def _setup() -> dict:
    shop = StoreFactory(slug="shop", handoff_message="好的，马上为您转接人工客服。")
    ProductFactory(store=shop, sku="TS-1", name="纯棉T恤", description="纯棉面料，柔软透气", price="99.00")
    FaqEntryFactory(
        store=shop, question="什么时候发货?", answer="付款后24小时内发货。", keywords=["几天发"], mode="reference"
    )
    other = StoreFactory(slug="other")
    return {
        "shop": shop,
        "other": other,
        "agent": StaffUserFactory(username="wang", first_name="小王", stores=[shop]),
        "colleague": StaffUserFactory(username="li", stores=[shop]),
        "stranger": StaffUserFactory(username="zhao", stores=[other]),
        "nobody": StaffUserFactory(username="qian"),
    }


@pytest.fixture
async def world():
    return await database_sync_to_async(_setup)()


def _cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def agent_connect(user, *, origin: bytes = b"http://127.0.0.1:8000") -> tuple[WebsocketCommunicator, dict]:
    from config.asgi import application

    cookie = await database_sync_to_async(_cookie)(user)
    headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, code = await communicator.connect()
    assert connected, code
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return communicator, hello


async def shopper_connect(query: str = "") -> tuple[WebsocketCommunicator, dict]:
    from config.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/chat/shop/{query}", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    return communicator, hello


async def until(communicator: WebsocketCommunicator, match, timeout: float = 10) -> list[dict]:
    """Frames up to and including the first one `match` accepts (a type name or a predicate)."""
    accept = (lambda f: f["type"] == match) if isinstance(match, str) else match
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if accept(frame):
            return frames


def db(fn, *args, **kwargs):
    return database_sync_to_async(fn)(*args, **kwargs)


async def test_the_whole_hand_over_and_back(world):
    agent, hello = await agent_connect(world["agent"])
    shopper, _ = await shopper_connect()
    try:
        assert hello["tickets"] == [] and hello["stores"] == [{"slug": "shop", "name": world["shop"].name}]
        await shopper.send_json_to({"type": "message", "text": "什么时候能发货？", "client_id": "q1"})
        await until(shopper, "final")
        await shopper.send_json_to({"type": "message", "text": "转人工", "client_id": "q2"})
        handed = await until(shopper, "final")

        # 1. The ticket reaches the console at once, with the transcript, the reason and the matched entries.
        frames = await until(agent, lambda f: f["type"] == "ticket")
        ticket = frames[-1]["ticket"]
        assert ticket["reason"] == "shopper_asked" and ticket["status"] == "open"
        assert [m["text"] for m in ticket["messages"] if m["role"] == "customer"] == ["什么时候能发货？", "转人工"]
        assert any(e["kind"] == "faq" and e["title"] == "什么时候发货?" for e in ticket["matched"])
        # An agent is online: the shopper hears the store's handoff message, and no contact is asked for.
        status = next(f for f in handed if f["type"] == "status")
        assert status["status"] == "waiting" and status["agents"] == "online" and not status["contact_needed"]
        assert handed[-1]["text"] == "好的，马上为您转接人工客服。"

        # 2. The agent claims it: the widget is told a human is here, and the bot stays silent.
        await agent.send_json_to({"type": "claim", "ticket": ticket["id"]})
        await until(agent, lambda f: f["type"] == "ack" and f["action"] == "claim")
        seen = await until(shopper, lambda f: f["type"] == "status")
        assert seen[-1]["status"] == "human"
        await shopper.send_json_to({"type": "message", "text": QUESTION, "client_id": "q3"})
        after_claim = await until(shopper, lambda f: f["type"] == "message" and f["message"]["client_id"] == "q3")
        assert await shopper.receive_nothing(timeout=1)
        assert not any(f["type"] in ("delta", "final") for f in after_claim)
        at_console = await until(agent, lambda f: f["type"] == "message" and f["message"]["text"] == QUESTION)
        assert at_console[-1]["conversation"] == ticket["conversation"]

        # The agent's reply reaches the widget live and is recorded with role agent.
        await agent.send_json_to(
            {"type": "reply", "conversation": ticket["conversation"], "text": AGENT_TEXT, "client_id": "a1"}
        )
        ack = (await until(agent, lambda f: f["type"] == "ack" and f["action"] == "reply"))[-1]
        live = (await until(shopper, lambda f: f["type"] == "message" and f["message"]["role"] == "agent"))[-1]
        assert live["message"]["text"] == AGENT_TEXT and live["message"]["agent_name"] == "小王"
        assert live["message"]["id"] == ack["message_id"]

        # 3. Back to the bot: it answers again, and the model sees what the agent said.
        await agent.send_json_to({"type": "release", "conversation": ticket["conversation"]})
        await until(agent, lambda f: f["type"] == "ack" and f["action"] == "release")
        assert (await until(shopper, "status"))[-1]["status"] == "bot"
        await shopper.send_json_to({"type": "message", "text": "那这件T恤是什么面料？", "client_id": "q4"})
        answer = (await until(shopper, "final"))[-1]
        assert answer["text"] == ANSWER and answer["source"] == "llm"
        assert any({"role": "assistant", "content": AGENT_TEXT} in shown for shown in RecordingRuntime.prompts)

        # 6. The agent closes: one outcome, and the widget asks for the rating.
        await agent.send_json_to({"type": "close", "conversation": ticket["conversation"]})
        assert (await until(shopper, "status"))[-1]["status"] == "closed"
        await shopper.send_json_to({"type": "csat", "score": 5})
        assert (await until(shopper, "csat_saved"))[-1]["score"] == 5
    finally:
        await shopper.disconnect()
        await agent.disconnect()

    conversation = await db(Conversation.objects.get)
    assert conversation.status == "closed" and conversation.outcome == "handed_off"
    ticket_row = await db(HandoffTicket.objects.get)
    assert ticket_row.status == "resolved" and ticket_row.agent_id == world["agent"].pk
    roles = await db(lambda: list(conversation.messages.values_list("role", "source")))
    assert ("agent", "agent") in roles
    assert await db(lambda: CSAT.objects.get(conversation=conversation).score) == 5
    # The console went away: the agent is not online any more.
    assert not await db(AgentPresence.objects.exists)


async def test_claiming_cancels_the_answer_being_generated(world, monkeypatch):
    slow = "亲，" + "这款T恤" * 60
    monkeypatch.setattr(service, "_runtime", lambda: RecordingRuntime(answer=slow, delay=0.03))
    agent, _ = await agent_connect(world["agent"])
    shopper, hello = await shopper_connect()
    try:
        await db(
            lambda: handoff.conversation_hand_off(
                conversation=Conversation.objects.get(pk=hello["conversation"]),
                reason=HandoffTicket.Reason.COMPLAINT,
            )
        )
        ticket = (await until(agent, "ticket"))[-1]["ticket"]
        # While the shopper waits the bot still answers; a human claiming mid-answer stops it.
        await shopper.send_json_to({"type": "message", "text": QUESTION, "client_id": "q1"})
        await until(shopper, "delta")
        await agent.send_json_to({"type": "claim", "ticket": ticket["id"]})
        final = (await until(shopper, "final", timeout=20))[-1]
    finally:
        await shopper.disconnect()
        await agent.disconnect()
    assert final["partial"] is True and "cancelled" in final["flags"]
    assert len(final["text"]) < len(slow)
    recorded = await db(lambda: Message.objects.get(role="bot"))
    assert recorded.partial and recorded.text == final["text"]


async def test_nobody_online_the_widget_asks_for_a_contact_and_agents_find_it_later(world):
    shopper, _ = await shopper_connect()
    try:
        await shopper.send_json_to({"type": "handoff"})
        frames = await until(shopper, "final")
        status = next(f for f in frames if f["type"] == "status")
        assert status["agents"] == "offline" and status["contact_needed"] is True
        assert "手机号" in frames[-1]["text"]  # the offline message asks for a contact

        await shopper.send_json_to({"type": "contact", "value": "<script>alert(1)</script>"})
        refused = (await until(shopper, "error"))[-1]
        assert refused["code"] == "invalid_contact"
        await shopper.send_json_to({"type": "contact", "value": "微信：tea_lover_88"})
        saved = (await until(shopper, "contact_saved"))[-1]
        assert saved["value"] == "tea_lover_88"
        # The shopper's messages keep being recorded (and answered by the bot while nobody is there).
        await shopper.send_json_to({"type": "message", "text": QUESTION, "client_id": "later"})
        await until(shopper, "final")
    finally:
        await shopper.disconnect()

    # The agent comes back: the ticket, its contact and everything said since are in the console.
    agent, hello = await agent_connect(world["agent"])
    await agent.disconnect()
    [ticket] = hello["tickets"]
    assert ticket["contact"] == "tea_lover_88" and ticket["status"] == "open"
    assert QUESTION in [m["text"] for m in ticket["messages"]]


async def test_a_contact_typed_as_a_message_is_kept_on_the_ticket(world):
    shopper, _ = await shopper_connect()
    try:
        await shopper.send_json_to({"type": "handoff"})
        await until(shopper, "final")
        await shopper.send_json_to({"type": "message", "text": "我的手机号是 138 0013 8000", "client_id": "c"})
        reply = (await until(shopper, "final"))[-1]
        # Asking again is answered with where the request stands, not the same speech.
        await shopper.send_json_to({"type": "message", "text": "转人工", "client_id": "again"})
        again = (await until(shopper, "final"))[-1]
    finally:
        await shopper.disconnect()
    assert "138 0013 8000" in reply["text"] and reply["source"] == "template"
    assert "138 0013 8000" in again["text"] and "手机号、微信号" not in again["text"]
    assert await db(lambda: HandoffTicket.objects.get().contact) == "138 0013 8000"


async def test_outside_business_hours_the_widget_says_so_even_with_an_agent_online(world):
    today = timezone.localtime().weekday()
    other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(today + 3) % 7]

    def closed_today():
        world["shop"].business_hours = {other_day: ["09:00-18:00"]}
        world["shop"].save()

    await db(closed_today)
    agent, _ = await agent_connect(world["agent"])
    shopper, _ = await shopper_connect()
    try:
        await shopper.send_json_to({"type": "handoff"})
        frames = await until(shopper, "final")
    finally:
        await shopper.disconnect()
        await agent.disconnect()
    status = next(f for f in frames if f["type"] == "status")
    assert status["agents"] == "after_hours" and status["contact_needed"] is True
    assert "09:00-18:00" in status["hours"] and "09:00-18:00" in frames[-1]["text"]


async def test_suggested_replies_from_matched_faq_and_a_model_draft_that_is_not_sent(world):
    agent, _ = await agent_connect(world["agent"])
    shopper, _ = await shopper_connect()
    try:
        # More than the entry says: the model drafts.
        await shopper.send_json_to({"type": "message", "text": "什么时候发货呀，周末也发吗", "client_id": "q1"})
        await until(shopper, "final")
        await shopper.send_json_to({"type": "message", "text": "转人工", "client_id": "q2"})
        await until(shopper, "final")
        ticket = (await until(agent, "ticket"))[-1]["ticket"]
        await agent.send_json_to({"type": "claim", "ticket": ticket["id"]})
        await until(agent, lambda f: f["type"] == "ack")
        await until(shopper, lambda f: f["type"] == "status" and f["status"] == "human")
        before = await db(Message.objects.count)
        await agent.send_json_to({"type": "suggest", "conversation": ticket["conversation"]})
        suggestions = (await until(agent, "suggestions"))[-1]
        draft = await until(agent, "draft", timeout=20)
        await asyncio.sleep(0.2)
        after = await db(Message.objects.count)
        nothing_for_shopper = await shopper.receive_nothing(timeout=0.5)
    finally:
        await shopper.disconnect()
        await agent.disconnect()
    assert any(item["kind"] == "faq" and item["text"] == "付款后24小时内发货。" for item in suggestions["items"])
    assert "".join(f["text"] for f in draft if f["type"] == "draft_delta") == ANSWER
    assert draft[-1]["text"] == ANSWER and draft[-1]["error"] == ""
    assert {f["request"] for f in draft if f["type"].startswith("draft")} == {suggestions["request"]}
    # A suggestion is only a suggestion: nothing recorded, nothing shown to the shopper.
    assert after == before and nothing_for_shopper


async def test_a_draft_waits_for_nobody_when_the_engine_is_busy(world):
    agent, _ = await agent_connect(world["agent"])
    conversation = await db(
        lambda: Conversation.objects.create(
            store=world["shop"], visitor=Visitor.objects.create(store=world["shop"]), status="human"
        )
    )
    await db(lambda: Message.objects.create(conversation=conversation, role="customer", text=QUESTION))
    scheduler = service.get_scheduler()
    try:
        await db(
            lambda: HandoffTicket.objects.create(
                conversation=conversation, reason="complaint", status="claimed", agent=world["agent"]
            )
        )
        original = scheduler.job_ids
        scheduler.job_ids = lambda: ["someone-elses-answer"]  # type: ignore[method-assign]
        await agent.send_json_to({"type": "suggest", "conversation": conversation.pk})
        draft = (await until(agent, "draft"))[-1]
    finally:
        scheduler.job_ids = original  # type: ignore[method-assign]
        await agent.disconnect()
    assert draft["error"] == "busy" and draft["text"] == ""


async def test_a_guardrail_trip_hands_the_conversation_to_a_human(world, monkeypatch):
    monkeypatch.setattr(service, "_runtime", lambda: RecordingRuntime(answer="亲，今天下单给您打五折哦！"))
    agent, _ = await agent_connect(world["agent"])
    shopper, _ = await shopper_connect()
    try:
        await shopper.send_json_to({"type": "message", "text": QUESTION, "client_id": "q"})
        frames = await until(shopper, "final")
        ticket = (await until(agent, "ticket"))[-1]["ticket"]
    finally:
        await shopper.disconnect()
        await agent.disconnect()
    final = frames[-1]
    assert "五折" not in "".join(f.get("text", "") for f in frames)
    assert final["source"] == "guardrail" and final["handoff"] is True and final["status"] == "waiting"
    assert ticket["reason"] == "guardrail"


# --- who sees what --------------------------------------------------------------------------------------


async def test_agents_of_another_store_see_nothing_and_can_do_nothing(world):
    stranger, hello = await agent_connect(world["stranger"])
    shopper, _ = await shopper_connect()
    try:
        await shopper.send_json_to({"type": "handoff"})
        await until(shopper, "final")
        ticket = await db(HandoffTicket.objects.get)
        assert hello["tickets"] == []
        assert await stranger.receive_nothing(timeout=0.5)  # no ticket, no message, no status
        for frame in (
            {"type": "claim", "ticket": ticket.pk},
            {"type": "reply", "conversation": ticket.conversation_id, "text": "hi", "client_id": "x"},
            {"type": "release", "conversation": ticket.conversation_id},
            {"type": "close", "conversation": ticket.conversation_id},
            {"type": "suggest", "conversation": ticket.conversation_id},
        ):
            await stranger.send_json_to(frame)
            error = await stranger.receive_json_from(timeout=5)
            assert error["type"] == "error" and "您的店铺里没有" in error["message"], frame
        assert await shopper.receive_nothing(timeout=0.5)
    finally:
        await shopper.disconnect()
        await stranger.disconnect()
    ticket = await db(HandoffTicket.objects.get)
    assert ticket.status == "open" and ticket.agent_id is None
    assert not await db(Message.objects.filter(role="agent").exists)


async def test_a_colleague_cannot_take_or_answer_a_claimed_conversation(world):
    shopper, hello = await shopper_connect()
    await shopper.disconnect()
    conversation = await db(Conversation.objects.get, pk=hello["conversation"])
    ticket = await db(
        lambda: handoff.conversation_hand_off(conversation=conversation, reason=HandoffTicket.Reason.SHOPPER_ASKED)
    )
    await db(lambda: agents.ticket_claim(ticket_id=ticket.pk, agent=world["agent"]))
    await db(lambda: agents.agent_presence_enter(user=world["agent"], channel_name="wang-console"))
    colleague, hello2 = await agent_connect(world["colleague"])
    try:
        assert hello2["tickets"][0]["agent"] == "wang" and hello2["tickets"][0]["status"] == "claimed"
        await colleague.send_json_to({"type": "claim", "ticket": ticket.pk})
        taken = await colleague.receive_json_from(timeout=5)
        await colleague.send_json_to(
            {"type": "reply", "conversation": conversation.pk, "text": "我来", "client_id": "y"}
        )
        refused = await colleague.receive_json_from(timeout=5)
    finally:
        await colleague.disconnect()
    assert taken["type"] == "error" and "小王" in taken["message"]
    assert refused["type"] == "error" and refused["code"] == "invalid_reply"


@pytest.mark.parametrize("who", ["anonymous", "nobody"])
async def test_the_console_socket_needs_a_signed_in_agent_with_a_store(world, who):
    from config.asgi import application

    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    if who == "nobody":
        headers.append((b"cookie", await database_sync_to_async(_cookie)(world["nobody"])))
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, code = await communicator.connect()
    assert not connected
    assert code == (4401 if who == "anonymous" else 4403)


async def test_the_console_socket_refuses_other_sites(world):
    from config.asgi import application

    cookie = await database_sync_to_async(_cookie)(world["agent"])
    headers = [(b"origin", b"https://evil.example"), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected


async def test_bad_agent_frames_get_clear_errors_and_nothing_is_saved(world):
    agent, _ = await agent_connect(world["agent"])
    try:
        bad = (
            "not json",
            "[1, 2]",
            '{"type": "dance"}',
            '{"type": "claim", "ticket": "1"}',
            "x" * 70000,
            "[" * 10_000 + "]" * 10_000,
            '{"type": "claim", "ticket": NaN}',
            '{"type": "claim", "ticket": Infinity}',
            '{"type": "claim", "ticket": 1180591620717411303424}',
            '{"type": "claim", "ticket": true}',
            '{"type": "reply", "conversation": 1180591620717411303424, "text": "hi"}',
            '{"type": "reply", "conversation": 1, "text": "hi", "client_id": "\\ud800"}',
            '{"type": "reply", "conversation": 1, "text": ["hi"]}',
        )
        for raw in bad:
            await agent.send_to(text_data=raw)
            error = await agent.receive_json_from(timeout=5)
            assert error["type"] == "error" and error["message"] and error["code"] != "server_error", raw
        await agent.send_json_to({"type": "ping"})
        assert (await agent.receive_json_from(timeout=5))["type"] == "pong"
    finally:
        await agent.disconnect()
    assert not await db(Message.objects.exists)


def test_the_console_page_needs_a_signed_in_agent_of_a_store(client, django_user_model):
    shop = StoreFactory(slug="shop")
    agent = StaffUserFactory(username="wang", stores=[shop])
    nobody = StaffUserFactory(username="qian")
    assert client.get("/agent/").status_code == 302
    assert client.get("/agent/")["Location"].startswith("/admin/login/")
    client.force_login(nobody)
    assert client.get("/agent/").status_code == 403
    client.force_login(agent)
    page = client.get("/agent/")
    assert page.status_code == 200
    assert b"shopdesk-agent-config" in page.content and b"agent.js" in page.content


def test_the_api_shows_agents_only_their_stores_conversations(client):
    shop, other = StoreFactory(slug="shop"), StoreFactory(slug="other")
    stranger = StaffUserFactory(username="zhao", stores=[other])
    from tests.conversations.factories import ConversationFactory

    mine = ConversationFactory(store=shop)
    client.force_login(stranger)
    listed = client.get("/api/conversations/").json()
    assert mine.pk not in [c["id"] for c in listed["results"]]
    assert client.get(f"/api/conversations/{mine.pk}/").status_code == 404


def test_an_agents_reply_is_cleaned_before_it_is_saved():
    shop = StoreFactory(slug="shop")
    agent = StaffUserFactory(username="wang", stores=[shop])
    conversation = ConversationFactory(store=shop)
    ticket, _ = handoff.conversation_request_human(conversation=conversation)
    agents.ticket_claim(ticket_id=ticket.pk, agent=agent)
    message = agents.message_create_agent(
        conversation_id=conversation.pk, agent=agent, text="明天\x00发货\ud800\r\n好的", client_id="a-1"
    )
    assert Message.objects.get(pk=message.pk).text == "明天发货\ufffd\n好的"


def test_presence_expires_when_a_console_stops_refreshing():
    shop = StoreFactory(slug="shop")
    agent = StaffUserFactory(username="wang", stores=[shop])
    agents.agent_presence_enter(user=agent, channel_name="console-1")
    assert selectors.handoff_availability(store=shop).agents == "online"
    AgentPresence.objects.update(last_seen_at=timezone.now() - timedelta(minutes=5))
    assert selectors.handoff_availability(store=shop).agents == "offline"


@pytest.mark.redis
async def test_the_hand_over_travels_over_redis_in_the_scaled_mode(world, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0"], "prefix": f"test-{uuid.uuid4().hex[:8]}"},
        }
    }
    channel_layers.backends.clear()
    agent, _ = await agent_connect(world["agent"])
    shopper, _ = await shopper_connect()
    try:
        await shopper.send_json_to({"type": "handoff"})
        ticket = (await until(agent, "ticket"))[-1]["ticket"]
        await agent.send_json_to({"type": "claim", "ticket": ticket["id"]})
        assert (await until(shopper, lambda f: f["type"] == "status" and f["status"] != "waiting"))[-1][
            "status"
        ] == "human"
        await shopper.send_json_to({"type": "message", "text": "在吗", "client_id": "r1"})
        await until(agent, lambda f: f["type"] == "message" and f["message"]["text"] == "在吗")
        await agent.send_json_to({"type": "reply", "conversation": ticket["conversation"], "text": AGENT_TEXT})
        live = await until(shopper, lambda f: f["type"] == "message" and f["message"]["role"] == "agent")
        await agent.send_json_to({"type": "release", "conversation": ticket["conversation"]})
        back = await until(shopper, lambda f: f["type"] == "status" and f["status"] == "bot")
    finally:
        await shopper.disconnect()
        await agent.disconnect()
    assert live[-1]["message"]["text"] == AGENT_TEXT and back


async def test_an_agent_who_leaves_hands_their_chats_back_to_the_queue(world, settings):
    settings.CHAT_AGENT_AWAY_SECONDS = 0.2
    agent, _ = await agent_connect(world["agent"])
    shopper, _ = await shopper_connect()
    try:
        await shopper.send_json_to({"type": "handoff"})
        ticket = (await until(agent, "ticket"))[-1]["ticket"]
        await agent.send_json_to({"type": "claim", "ticket": ticket["id"]})
        await until(shopper, lambda f: f["type"] == "status" and f["status"] == "human")
        await agent.disconnect()  # the agent closed the console and did not come back
        back = await until(shopper, lambda f: f["type"] == "status" and f["status"] == "waiting")
        # Nobody else is there: the shopper is asked for a contact, and the bot answers meanwhile.
        assert back[-1]["agents"] == "offline" and back[-1]["contact_needed"] is True
        assert any(f["type"] == "message" and f["message"]["role"] == "system" for f in back)
        await shopper.send_json_to({"type": "message", "text": QUESTION, "client_id": "meanwhile"})
        answer = (await until(shopper, "final"))[-1]
        # A colleague who opens the console finds it open again and may take it.
        colleague, hello = await agent_connect(world["colleague"])
        await colleague.send_json_to({"type": "claim", "ticket": ticket["id"]})
        claimed = (await until(colleague, lambda f: f["type"] in ("ack", "error")))[-1]
        await colleague.disconnect()
    finally:
        await shopper.disconnect()
    assert answer["text"] == ANSWER
    assert hello["tickets"][0]["status"] == "open" and claimed["type"] == "ack"


async def test_a_colleague_takes_over_when_the_claimer_has_no_console_open(world):
    shopper, hello = await shopper_connect()
    await shopper.disconnect()
    conversation = await db(Conversation.objects.get, pk=hello["conversation"])
    ticket = await db(
        lambda: handoff.conversation_hand_off(conversation=conversation, reason=HandoffTicket.Reason.SHOPPER_ASKED)
    )
    await db(lambda: agents.ticket_claim(ticket_id=ticket.pk, agent=world["agent"]))  # then the server died
    colleague, _ = await agent_connect(world["colleague"])
    try:
        await colleague.send_json_to({"type": "claim", "ticket": ticket.pk})
        ack = (await until(colleague, "ack"))[-1]
        await colleague.send_json_to({"type": "reply", "conversation": conversation.pk, "text": "我来接手"})
        await until(colleague, lambda f: f["type"] == "ack" and f["action"] == "reply")
    finally:
        await colleague.disconnect()
    assert ack["action"] == "claim"
    ticket = await db(HandoffTicket.objects.get, pk=ticket.pk)
    assert ticket.agent_id == world["colleague"].pk
    assert await db(lambda: Message.objects.filter(role="system", text__contains="接手").exists())


async def test_an_agent_removed_from_the_store_stops_seeing_it_at_once(world):
    agent, _ = await agent_connect(world["agent"])
    shopper, _ = await shopper_connect()
    try:
        await shopper.send_json_to({"type": "handoff"})
        ticket = (await until(agent, "ticket"))[-1]["ticket"]
        await db(lambda: world["shop"].staff.remove(world["agent"]))
        await shopper.send_json_to({"type": "message", "text": "我的地址是人民路1号", "client_id": "secret"})
        await until(shopper, "final")
        # The console is closed rather than shown anything more of the store.
        output = await agent.receive_output(timeout=5)
    finally:
        await shopper.disconnect()
        await agent.disconnect()
    assert output["type"] == "websocket.close" and output["code"] == 4403, output
    assert ticket["status"] == "open"


async def test_a_deactivated_agent_can_no_longer_act(world):
    agent, _ = await agent_connect(world["agent"])
    shopper, _ = await shopper_connect()
    try:
        await shopper.send_json_to({"type": "handoff"})
        ticket = (await until(agent, "ticket"))[-1]["ticket"]
        await db(lambda: type(world["agent"]).objects.filter(pk=world["agent"].pk).update(is_active=False))
        await agent.send_json_to({"type": "claim", "ticket": ticket["id"]})
        # Events of the handoff sent before the deactivation may still arrive first; then the close.
        outputs = [await agent.receive_output(timeout=5)]
        while outputs[-1]["type"] != "websocket.close" and len(outputs) < 10:
            outputs.append(await agent.receive_output(timeout=5))
    finally:
        await shopper.disconnect()
        await agent.disconnect()
    assert outputs[-1]["type"] == "websocket.close"
    assert not any('"ack"' in output.get("text", "") for output in outputs)
    assert await db(lambda: HandoffTicket.objects.get().status) == "open"


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("13800138000", "13800138000"),
        ("我的手机号是 138 0013 8000，谢谢", "138 0013 8000"),
        ("电话号码13912345678。", "13912345678"),
        ("+86 139-1234-5678", "+86 139-1234-5678"),
        ("座机 (010) 8888-6666", "(010) 8888-6666"),
        ("我邮箱是a.b@qq.com", "a.b@qq.com"),
        ("微信：tea_lover_88", "tea_lover_88"),
        ("vx tea_lover_88", "tea_lover_88"),
        ("微信：wxid_abc12345", "wxid_abc12345"),
        ("wechat id is lily_88888", "lily_88888"),
        ("1381 234 5678", "1381 234 5678"),
        ("QQ 12345678", "12345678"),
        ("wxlily2020@qq.com", "wxlily2020@qq.com"),
    ],
)
def test_contacts_are_found_in_what_shoppers_write(text, contact):
    assert contacts.contact_find(text) == contact


@pytest.mark.parametrize(
    "text", ["refund", "thanks a lot", "JD2024051201", "100 200 300", "订单号20240512123456", "99元"]
)
def test_ordinary_messages_are_not_taken_for_contacts(text):
    assert contacts.contact_find(text) is None


@pytest.mark.parametrize(
    "text", ["微信iPhone版付款失败怎么办", "收货人电话填的13987654321，能改成13812345678吗", "wxid_abc12345"]
)
def test_a_question_holding_a_number_is_no_contact_left_for_us(text):
    assert contacts.contact_in_message(text) is None


def test_the_contact_form_takes_a_bare_wechat_id():
    assert contacts.contact_find("tea_lover_88", form=True) == "tea_lover_88"
    assert contacts.contact_find("tea_lover_88") is None


async def test_claiming_stops_the_answer_even_when_the_tab_that_asked_is_gone(world, monkeypatch):
    slow = "亲，" + "这款T恤" * 60
    monkeypatch.setattr(service, "_runtime", lambda: RecordingRuntime(answer=slow, delay=0.03))
    agent, _ = await agent_connect(world["agent"])
    first, hello = await shopper_connect()
    await db(
        lambda: handoff.conversation_hand_off(
            conversation=Conversation.objects.get(pk=hello["conversation"]), reason=HandoffTicket.Reason.COMPLAINT
        )
    )
    ticket = (await until(agent, "ticket"))[-1]["ticket"]
    await first.send_json_to({"type": "message", "text": QUESTION, "client_id": "q1"})
    await until(first, "delta")
    await first.disconnect()  # the shopper reloaded the page mid-answer
    second, _ = await shopper_connect(f"?visitor={hello['visitor']}")
    try:
        await agent.send_json_to({"type": "claim", "ticket": ticket["id"]})
        await until(agent, "ack")
        await asyncio.sleep(2)
    finally:
        await second.disconnect()
        await agent.disconnect()
    recorded = await db(lambda: Message.objects.get(role="bot"))
    assert recorded.partial and "cancelled" in recorded.flags and len(recorded.text) < len(slow)


@pytest.mark.django_db
def test_suggestions_never_tell_a_shopper_who_has_a_person_to_ask_for_one():
    from conversations.services.agents import reply_suggestions

    world = _setup()
    conversation = Conversation.objects.create(
        store=world["shop"], visitor=Visitor.objects.create(store=world["shop"]), status="human"
    )
    # The bot's reply to a compensation demand ends with "reply 转人工": the agent is that person already.
    Message.objects.create(conversation=conversation, role="customer", text="给点补偿吧")
    suggestions = reply_suggestions(conversation_id=conversation.pk, agent=world["agent"], job_id="s1")
    assert all("转人工" not in item.text for item in suggestions.items)
    Message.objects.create(conversation=conversation, role="customer", text="什么时候发货?")
    suggestions = reply_suggestions(conversation_id=conversation.pk, agent=world["agent"], job_id="s2")
    assert any(item.text == "付款后24小时内发货。" for item in suggestions.items)


@pytest.mark.django_db
def test_a_ticket_shows_the_product_page_the_shopper_was_on():
    from conversations import realtime
    from conversations.services.widget import conversation_view_product

    world = _setup()
    conversation = Conversation.objects.create(store=world["shop"], visitor=Visitor.objects.create(store=world["shop"]))
    ticket = HandoffTicket.objects.create(conversation=conversation, reason="shopper_asked")
    assert realtime.ticket_frame(ticket)["product"] is None
    conversation_view_product(conversation=conversation, sku="TS-1")
    ticket.refresh_from_db()
    assert realtime.ticket_frame(ticket)["product"] == {"sku": "TS-1", "name": "纯棉T恤"}
