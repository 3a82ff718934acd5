"""The chat widget without a browser: its pages, static files, origin check, identity and new frames."""

import hashlib
import hmac
import json
import re

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from conversations.models import CSAT, Conversation, ConversationEvent, HandoffTicket, Message
from conversations.services import handoff
from engine import service
from tests.conversations.factories import ConversationFactory, MessageFactory, VisitorFactory
from tests.engine.fake_runtime import FakeRuntime
from tests.kb.factories import FaqEntryFactory, StoreFactory

OWN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
SHOP_ORIGIN = "https://shop.example.com"
FAQ_ANSWER = "付款后24小时内发货。"
EXTERNAL_URL = re.compile(rb"""(?:src|href)=["']?(?:https?:)?//""")


def _store(**kwargs):
    defaults = {
        "slug": "shop",
        "name": "小熊服饰",
        "welcome": "欢迎光临小熊服饰！",
        "quick_questions": ["什么时候发货?", "有现货吗?"],
        "theme": {"color": "#1677ff", "position": "left", "title": "小熊客服", "avatar": ""},
        "allowed_origins": [SHOP_ORIGIN],
        "handoff_message": "正在为您转接人工客服，请稍候。",
    }
    store = StoreFactory(**{**defaults, **kwargs})
    FaqEntryFactory(store=store, question="什么时候发货?", answer=FAQ_ANSWER, keywords=["发货"], mode="direct")
    return store


def _sign(store, customer_id: str) -> str:
    return hmac.new(store.widget_secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


# --- pages and static files ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_chat_page_shows_the_store_settings_and_loads_nothing_from_elsewhere(client):
    _store()
    response = client.get("/chat/shop/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>小熊客服</title>" in body
    config = json.loads(re.search(r'id="shopdesk-config-shop"[^>]*>(.*?)</script>', body, re.S).group(1))
    assert config["welcome"] == "欢迎光临小熊服饰！" and config["theme"]["color"] == "#1677ff"
    assert config["quick_questions"] == ["什么时候发货?", "有现货吗?"]
    assert 'data-store="shop"' in body and 'data-mode="page"' in body
    assert "/static/conversations/widget.js" in body
    assert not EXTERNAL_URL.search(response.content)
    assert "widget_secret" not in body


@pytest.mark.django_db
def test_unknown_store_chat_page_is_404(client):
    assert client.get("/chat/nope/").status_code == 404
    assert client.get("/chat/nope/config.json").status_code == 404


@pytest.mark.django_db
def test_demo_page_is_a_product_page_with_the_widget(client):
    from django.core.management import call_command

    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "经典纯棉圆领T恤" in body and "99.00" in body
    assert 'data-store="demo"' in body and "/static/conversations/widget.js" in body
    assert 'href="/admin/"' in body and 'href="/api/docs/"' in body
    assert not EXTERNAL_URL.search(response.content)


@pytest.mark.django_db
def test_demo_page_without_the_demo_store_says_how_to_load_it(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "load_demo" in response.content.decode()


@pytest.mark.django_db
def test_widget_config_is_public_settings_and_tells_whether_the_origin_may_chat(client):
    store = _store()
    allowed = client.get("/chat/shop/config.json", HTTP_ORIGIN=SHOP_ORIGIN)
    refused = client.get("/chat/shop/config.json", HTTP_ORIGIN="https://evil.example")
    assert allowed["Access-Control-Allow-Origin"] == "*"
    data = allowed.json()
    assert data["origin_allowed"] is True and refused.json()["origin_allowed"] is False
    assert data["welcome"] == "欢迎光临小熊服饰！" and data["quick_questions"] == ["什么时候发货?", "有现货吗?"]
    assert data["theme"]["color"] == "#1677ff" and data["max_chars"] == 2000
    assert store.widget_secret not in allowed.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["common.js", "widget.js", "widget.css", "admin_preview.js"])
def test_widget_static_files_are_served(client, name):
    response = client.get(f"/static/conversations/{name}")
    assert response.status_code == 200
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert len(content) > 500
    assert b"innerHTML" not in content  # every shown text goes through textContent / text nodes


# --- the websocket ----------------------------------------------------------------------------------------


@pytest.fixture
def fake_engine(monkeypatch):
    channel_layers.backends.clear()
    service.reset_scheduler()
    monkeypatch.setattr(service, "_runtime", lambda: FakeRuntime(answer="亲，这款是纯棉的。"))
    yield
    service.reset_scheduler()
    channel_layers.backends.clear()


async def _open(query: str = "", headers=None) -> tuple[WebsocketCommunicator, bool, object]:
    from config.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/chat/shop/{query}", headers=headers or OWN)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def _hello(query: str = "", headers=None) -> tuple[WebsocketCommunicator, dict]:
    communicator, connected, _ = await _open(query, headers)
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return communicator, hello


async def _until(communicator: WebsocketCommunicator, kind: str) -> list[dict]:
    frames = []
    while True:
        frames.append(await communicator.receive_json_from(timeout=10))
        if frames[-1]["type"] == kind:
            return frames


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ([(b"origin", SHOP_ORIGIN.encode()), (b"host", b"desk.example.net")], True),
        ([(b"origin", b"https://SHOP.example.com/"), (b"host", b"desk.example.net")], True),
        (OWN, True),
        ([(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")], True),
        ([(b"origin", b"https://evil.example"), (b"host", b"127.0.0.1:8000")], False),
        ([(b"origin", b"http://shop.example.com"), (b"host", b"desk.example.net")], False),  # wrong scheme
        ([(b"origin", b"http://rebind.example:8000"), (b"host", b"rebind.example:8000")], False),  # not our host
        ([(b"origin", b"null"), (b"host", b"127.0.0.1:8000")], False),
        ([(b"host", b"127.0.0.1:8000")], False),
    ],
)
async def test_websocket_origin_is_checked_against_the_store(fake_engine, headers, accepted):
    await database_sync_to_async(_store)()
    communicator, connected, code = await _open(headers=headers)
    try:
        assert connected is accepted
        if not accepted:
            assert code == 4403
    finally:
        await communicator.disconnect()
    conversations = await database_sync_to_async(lambda: Conversation.objects.count())()
    assert conversations == (1 if accepted else 0)  # a refused page creates nothing


def _customer_history(store, customer_id: str) -> Conversation:
    visitor = VisitorFactory(store=store, customer_id=customer_id)
    conversation = ConversationFactory(store=store, visitor=visitor)
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, text="我的订单地址是幸福路1号")
    return conversation


@pytest.mark.django_db(transaction=True)
async def test_signed_customer_resumes_their_conversation_anywhere(fake_engine):
    store = await database_sync_to_async(_store)()
    conversation = await database_sync_to_async(_customer_history)(store, "cust-42")
    sig = _sign(store, "cust-42")
    communicator, hello = await _hello(f"?customer=cust-42&sig={sig}&lang=en")
    await communicator.disconnect()
    assert hello["verified"] is True and hello["conversation"] == conversation.pk
    assert [m["text"] for m in hello["messages"]] == ["我的订单地址是幸福路1号"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sig", ["0" * 64, "not-hex", ""])
async def test_a_wrong_signature_never_shows_the_customers_history(fake_engine, sig):
    store = await database_sync_to_async(_store)()
    conversation = await database_sync_to_async(_customer_history)(store, "cust-42")
    communicator, hello = await _hello(f"?customer=cust-42&sig={sig}")
    try:
        frames = [] if not sig else [await communicator.receive_json_from(timeout=5)]
    finally:
        await communicator.disconnect()
    assert hello["verified"] is False and hello["conversation"] != conversation.pk and hello["messages"] == []
    if sig:
        assert frames[0]["type"] == "error" and frames[0]["code"] == "identity_refused"


@pytest.mark.django_db(transaction=True)
async def test_a_verified_customers_token_does_not_open_their_history_anonymously(fake_engine):
    store = await database_sync_to_async(_store)()
    conversation = await database_sync_to_async(_customer_history)(store, "cust-42")
    communicator, hello = await _hello(f"?visitor={conversation.visitor.token}")
    await communicator.disconnect()
    assert hello["conversation"] != conversation.pk and hello["messages"] == []
    assert hello["visitor"] != conversation.visitor.token


@pytest.mark.django_db(transaction=True)
async def test_feedback_is_recorded_for_this_conversations_bot_answers_only(fake_engine):
    store = await database_sync_to_async(_store)()
    other = await database_sync_to_async(
        lambda: MessageFactory(conversation=ConversationFactory(store=store), role=Message.Role.BOT, text="别人的")
    )()
    communicator, _ = await _hello()
    try:
        await communicator.send_json_to({"type": "message", "text": "什么时候发货?", "client_id": "q1"})
        frames = await _until(communicator, "final")
        answer_id, question_id = frames[-1]["message_id"], frames[0]["message_id"]
        await communicator.send_json_to(
            {"type": "feedback", "message_id": answer_id, "value": "down", "comment": "太慢了"}
        )
        saved = await communicator.receive_json_from(timeout=5)
        refused = []
        for bad in (
            {"message_id": other.pk, "value": "up"},  # another conversation's answer
            {"message_id": question_id, "value": "up"},  # the shopper's own message
            {"message_id": answer_id, "value": "meh"},
            {"message_id": "1", "value": "up"},
        ):
            await communicator.send_json_to({"type": "feedback", **bad})
            refused.append(await communicator.receive_json_from(timeout=5))
    finally:
        await communicator.disconnect()
    assert saved == {"type": "feedback_saved", "message_id": answer_id, "value": "down"}
    assert [f["type"] for f in refused] == ["error"] * 4
    assert {f["code"] for f in refused[:3]} == {"invalid_feedback"}
    rows = await database_sync_to_async(
        lambda: list(Message.objects.exclude(feedback="").values_list("pk", "feedback", "feedback_comment"))
    )()
    assert rows == [(answer_id, "down", "太慢了")]


@pytest.mark.django_db(transaction=True)
async def test_csat_is_recorded_once_and_out_of_range_scores_are_refused(fake_engine):
    await database_sync_to_async(_store)()
    communicator, hello = await _hello()
    try:
        replies = []
        for frame in (
            {"type": "csat", "score": 0},
            {"type": "csat", "score": 6},
            {"type": "csat", "score": "5"},
            {"type": "csat", "score": True},
            {"type": "csat", "score": 4, "comment": "挺好"},
            {"type": "csat", "score": 5},
        ):
            await communicator.send_json_to(frame)
            replies.append(await communicator.receive_json_from(timeout=5))
    finally:
        await communicator.disconnect()
    assert [r.get("code") for r in replies[:4]] == ["invalid_csat"] * 4
    assert replies[4] == {"type": "csat_saved", "score": 4}
    assert replies[5]["type"] == "error" and replies[5]["code"] == "invalid_csat"
    rows = await database_sync_to_async(lambda: list(CSAT.objects.values_list("conversation_id", "score", "comment")))()
    assert rows == [(hello["conversation"], 4, "挺好")]


@pytest.mark.django_db(transaction=True)
async def test_handoff_button_opens_one_ticket_says_the_handoff_message_and_sends_status(fake_engine):
    await database_sync_to_async(_store)()
    communicator, _ = await _hello()
    try:
        await communicator.send_json_to({"type": "handoff"})
        frames = await _until(communicator, "final")
        await communicator.send_json_to({"type": "handoff"})
        again = await communicator.receive_json_from(timeout=5)
    finally:
        await communicator.disconnect()
    final = next(f for f in frames if f["type"] == "final")
    # Nobody has the console open: the shopper is told so and asked for a way to be reached.
    assert final["text"] == handoff.OFFLINE_FALLBACK and final["source"] == "handoff"
    waiting = {"type": "status", "status": "waiting", "agents": "offline", "hours": "", "contact": ""}
    assert [f for f in frames if f["type"] == "status"] == [{**waiting, "contact_needed": True}]
    assert again == {**waiting, "contact_needed": True}  # pressed twice: no second message
    tickets = await database_sync_to_async(lambda: list(HandoffTicket.objects.values_list("reason", flat=True)))()
    assert tickets == ["shopper_asked"]
    bots = await database_sync_to_async(lambda: Message.objects.filter(role="bot").count())()
    assert bots == 1


@pytest.mark.django_db(transaction=True)
# The shopper ends a chat in which nobody answered them: before any answer, or while waiting for a person.
@pytest.mark.parametrize(
    ("handoff", "outcome", "detail"), [(False, "abandoned", "before_answer"), (True, "abandoned", "waiting")]
)
async def test_close_records_exactly_one_outcome(fake_engine, handoff, outcome, detail):
    await database_sync_to_async(_store)()
    communicator, hello = await _hello()
    try:
        if handoff:
            await communicator.send_json_to({"type": "handoff"})
            await _until(communicator, "status")
        await communicator.send_json_to({"type": "close"})
        status = await _until(communicator, "status")
        await communicator.send_json_to({"type": "close"})
        second = await communicator.receive_json_from(timeout=5)
        await communicator.send_json_to({"type": "message", "text": "还在吗", "client_id": "late"})
        late = await communicator.receive_json_from(timeout=5)
    finally:
        await communicator.disconnect()
    assert status[-1] == {"type": "status", "status": "closed"} and second == status[-1]
    assert late["type"] == "error" and late["code"] == "invalid_message"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=hello["conversation"])
    assert conversation.status == "closed" and conversation.outcome == outcome
    closes = await database_sync_to_async(list)(
        ConversationEvent.objects.filter(conversation=conversation).values_list("kind", "outcome", "detail")
    )
    assert [c for c in closes if c[0] == "close"] == [("close", outcome, detail)]

    # The next visit starts a fresh conversation for the same visitor.
    again, hello2 = await _hello(f"?visitor={hello['visitor']}")
    await again.disconnect()
    assert hello2["conversation"] != hello["conversation"] and hello2["status"] == "bot"


@pytest.mark.django_db(transaction=True)
async def test_history_frames_carry_the_job_and_feedback_for_resyncing_widgets(fake_engine):
    await database_sync_to_async(_store)()
    communicator, _ = await _hello()
    try:
        await communicator.send_json_to({"type": "message", "text": "什么时候发货?", "client_id": "q1"})
        final = (await _until(communicator, "final"))[-1]
        await communicator.send_json_to({"type": "sync", "after": 0})
        synced = (await _until(communicator, "sync"))[-1]
    finally:
        await communicator.disconnect()
    bot = synced["messages"][-1]
    assert bot["id"] == final["message_id"] and bot["job"] == final["job"] and bot["feedback"] == ""
    assert synced["messages"][0]["client_id"] == "q1" and synced["messages"][0]["job"] is None
