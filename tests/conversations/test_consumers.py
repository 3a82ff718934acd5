"""The chat websocket with a scripted fake engine runtime (the real model is in tests/engine)."""

import asyncio
import json
import threading
import uuid
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from conversations import limits
from conversations.models import Conversation, Message
from engine import service
from engine.worker import FAILED_TEXT
from kb.models import FaqEntry
from tests.engine.fake_runtime import FakeRuntime
from tests.kb.factories import FaqEntryFactory, ProductFactory, StoreFactory

HEADERS = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
ANSWER = "亲，这款是纯棉面料，穿着舒适透气。"
QUESTION = "纯棉T恤是什么面料？"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    channel_layers.backends.clear()
    service.reset_scheduler()
    monkeypatch.setattr(service, "_runtime", lambda: FakeRuntime(answer=ANSWER))
    yield
    service.reset_scheduler()
    channel_layers.backends.clear()


# A long answer (no sentence said twice: a repeated one would be stopped as a loop).
LONG_ANSWER = "".join(f"第{n}点，" for n in "一二三四五六七八") + "就是这些。"


def _make_store():
    store = StoreFactory(slug="shop")
    ProductFactory(store=store, sku="TS-1", name="纯棉T恤", description="纯棉面料，柔软透气", price="99.00")
    FaqEntryFactory(store=store, question="什么时候发货?", answer="付款后24小时内发货。", keywords=["发货"])
    return store


@pytest.fixture
async def store():
    return await database_sync_to_async(_make_store)()


async def connect(path: str = "/ws/chat/shop/") -> tuple[WebsocketCommunicator, dict]:
    from config.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=HEADERS)
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return communicator, hello


async def until(communicator: WebsocketCommunicator, kind: str, timeout: float = 10) -> list[dict]:
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


def messages() -> list[tuple[str, str]]:
    return list(Message.objects.order_by("pk").values_list("role", "text"))


async def test_unknown_store_is_refused():
    from config.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/chat/nope/", headers=HEADERS)
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4404


async def test_question_is_saved_acknowledged_then_answered_in_pieces(store):
    communicator, hello = await connect()
    try:
        await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": "c1"})
        frames = await until(communicator, "final")
    finally:
        await communicator.disconnect()
    assert frames[0]["type"] == "ack" and frames[0]["client_id"] == "c1"
    deltas = [f["text"] for f in frames if f["type"] == "delta"]
    assert len(deltas) >= 2 and "".join(deltas) == ANSWER
    final = frames[-1]
    assert final["text"] == ANSWER and final["source"] == "llm" and final["error"] == ""
    assert final["answer_to"] == frames[0]["message_id"]
    assert await database_sync_to_async(messages)() == [("customer", QUESTION), ("bot", ANSWER)]
    assert hello["store"]["slug"] == "shop" and hello["visitor"]


async def test_reconnecting_with_the_visitor_token_resumes_the_conversation(store):
    communicator, hello = await connect()
    await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": "c1"})
    await until(communicator, "final")
    await communicator.disconnect()

    again, hello2 = await connect(f"/ws/chat/shop/?visitor={hello['visitor']}")
    await again.disconnect()
    assert hello2["conversation"] == hello["conversation"]
    assert [(m["role"], m["text"]) for m in hello2["messages"]] == [("customer", QUESTION), ("bot", ANSWER)]

    stranger, hello3 = await connect("/ws/chat/shop/?visitor=made-up-token")
    await stranger.disconnect()
    assert hello3["conversation"] != hello["conversation"] and hello3["messages"] == []


async def test_resending_a_client_id_is_acknowledged_once_and_answered_once(store):
    communicator, _ = await connect()
    try:
        await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": "same"})
        first = await until(communicator, "final")
        await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": "same"})
        ack = await communicator.receive_json_from(timeout=5)
        assert ack["type"] == "ack" and ack["duplicate"] is True and ack["message_id"] == first[0]["message_id"]
        assert await communicator.receive_nothing(timeout=0.5)
    finally:
        await communicator.disconnect()
    assert await database_sync_to_async(messages)() == [("customer", QUESTION), ("bot", ANSWER)]


async def test_a_resend_from_a_new_connection_while_the_answer_streams_is_not_answered_twice(store, monkeypatch):
    monkeypatch.setattr(service, "_runtime", lambda: FakeRuntime(answer=LONG_ANSWER, delay=0.03))
    first, hello = await connect()
    second = None
    try:
        await first.send_json_to({"type": "message", "text": QUESTION, "client_id": "same"})
        await until(first, "delta")
        # The shopper's network dropped: the widget reconnects and re-sends what was not yet answered.
        second, _ = await connect(f"/ws/chat/shop/?visitor={hello['visitor']}")
        await second.send_json_to({"type": "message", "text": QUESTION, "client_id": "same"})
        frames = await until(second, "final", timeout=20)
        while not await second.receive_nothing(timeout=4):  # a second answer would stream in meanwhile
            frames.append(await second.receive_json_from())
    finally:
        await first.disconnect()
        if second is not None:
            await second.disconnect()
    ack = next(f for f in frames if f["type"] == "ack")
    assert ack["duplicate"] is True
    # The new connection is shown the one answer being generated, and nothing is answered twice.
    assert [f["text"] for f in frames if f["type"] == "final"] == [LONG_ANSWER]
    assert await database_sync_to_async(messages)() == [("customer", QUESTION), ("bot", LONG_ANSWER)]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json at all", "bad_frame"),
        (json.dumps(["a", "list"]), "bad_frame"),
        (json.dumps({"type": "launch_missiles"}), "bad_frame"),
        (json.dumps({"type": "message", "text": 42}), "bad_frame"),
        (json.dumps({"type": "message", "text": "   "}), "invalid_message"),
        (json.dumps({"type": "message", "text": "长" * 2500, "client_id": "big"}), "invalid_message"),
        ("x" * 100_000, "bad_frame"),
        ("[" * 10_000 + "]" * 10_000, "bad_frame"),
        ('{"type": "message", "text": ' * 10_000 + '"hi"' + "}" * 10_000, "bad_frame"),
        ('{"type": "message", "text": "hi", "client_id": "n", "x": NaN}', "bad_frame"),
        ('{"type": "sync", "after": Infinity}', "bad_frame"),
        ('{"type": "sync", "after": -Infinity}', "bad_frame"),
        (json.dumps({"type": "sync", "after": "abc"}), "bad_frame"),
        (json.dumps({"type": "sync", "after": -1}), "bad_frame"),
        (json.dumps({"type": "sync", "after": True}), "bad_frame"),
        (json.dumps({"type": "sync", "after": 2**70}), "bad_frame"),
        (json.dumps({"type": "message", "text": ["hi"], "client_id": "l"}), "bad_frame"),
        (json.dumps({"type": "message", "text": "hi", "client_id": 7}), "bad_frame"),
        (json.dumps({"type": "message", "text": "hi", "client_id": "a\x00b"}), "bad_frame"),
        (json.dumps({"type": "message", "text": "hi", "client_id": "\ud800"}), "bad_frame"),
        (json.dumps({"type": "message", "text": "\x00\x01\u0085", "client_id": "ctl"}), "invalid_message"),
        (json.dumps({"type": "feedback", "message_id": 2**70, "value": "up"}), "bad_frame"),
        (json.dumps({"type": "feedback", "message_id": True, "value": "up"}), "bad_frame"),
        (json.dumps({"type": "csat", "score": 2**70}), "invalid_csat"),
        (json.dumps({"type": ["message"]}), "bad_frame"),
        (json.dumps({"type": "contact", "value": {"phone": 1}}), "invalid_contact"),
    ],
)
async def test_bad_frames_get_a_clear_error_and_the_chat_keeps_working(store, raw, code):
    communicator, _ = await connect()
    try:
        await communicator.send_to(text_data=raw)
        error = await communicator.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == code and error["message"]
        await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": "ok"})
        frames = await until(communicator, "final")
    finally:
        await communicator.disconnect()
    assert frames[-1]["text"] == ANSWER
    assert await database_sync_to_async(messages)() == [("customer", QUESTION), ("bot", ANSWER)]


async def test_a_refused_message_says_which_one_so_the_widget_stops_resending_it(store):
    communicator, _ = await connect()
    try:
        await communicator.send_json_to({"type": "message", "text": ["not", "text"], "client_id": "w-1"})
        error = await communicator.receive_json_from(timeout=5)
    finally:
        await communicator.disconnect()
    assert (error["type"], error["code"], error["client_id"]) == ("error", "bad_frame", "w-1")
    assert await database_sync_to_async(messages)() == []


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("有现货吗\ud800", "有现货吗\ufffd"),  # a lone surrogate from a broken paste
        ("\udc00尺码\ud83d", "\ufffd尺码\ufffd"),
        ("有\x00现\x07货\x1b吗\x7f\x85\x9f", "有现货吗"),  # NUL and other control characters
        ("第一行\r\n第二行\r第三行\t完", "第一行\n第二行\n第三行\t完"),
        ("表情😀不变", "表情😀不变"),
    ],
)
async def test_text_is_cleaned_before_it_is_saved_and_the_answer_follows(store, sent, stored):
    communicator, _ = await connect()
    try:
        # json.dumps escapes the surrogate as a browser's JSON.stringify does: "\ud800" in the frame.
        await communicator.send_to(text_data=json.dumps({"type": "message", "text": sent, "client_id": "p"}))
        frames = await until(communicator, "final")
        await communicator.send_json_to({"type": "sync", "after": 0})
        sync = (await until(communicator, "sync"))[-1]
    finally:
        await communicator.disconnect()
    assert frames[0]["type"] == "ack" and frames[0]["client_id"] == "p"
    assert frames[-1]["type"] == "final" and frames[-1]["error"] == ""
    assert sync["messages"][0]["text"] == stored
    assert await database_sync_to_async(messages)() == [("customer", stored), ("bot", frames[-1]["text"])]


@override_settings(CHAT_RATE_MESSAGES=3)
async def test_a_flood_is_refused_politely_and_nothing_is_lost(store):
    communicator, _ = await connect()
    try:
        for i in range(4):
            await communicator.send_json_to({"type": "message", "text": f"{QUESTION}{i}", "client_id": f"f{i}"})
        frames = []
        for _ in range(40):
            frame = await communicator.receive_json_from(timeout=10)
            frames.append(frame)
            if sum(f["type"] == "final" for f in frames) == 3:
                break
    finally:
        await communicator.disconnect()
    errors = [f for f in frames if f["type"] == "error"]
    assert [(e["code"], e["client_id"]) for e in errors] == [("rate_limited", "f3")]
    saved = await database_sync_to_async(messages)()
    assert [t for r, t in saved if r == "customer"] == [f"{QUESTION}{i}" for i in range(3)]


async def test_html_in_a_message_is_stored_as_plain_text(store):
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    communicator, _ = await connect()
    try:
        await communicator.send_json_to({"type": "message", "text": payload, "client_id": "x"})
        await until(communicator, "final")
        await communicator.send_json_to({"type": "sync", "after": 0})
        sync = await until(communicator, "sync")
    finally:
        await communicator.disconnect()
    assert sync[-1]["messages"][0]["text"] == payload


async def test_sync_returns_only_newer_messages(store):
    communicator, _ = await connect()
    try:
        await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": "a"})
        first = await until(communicator, "final")
        await communicator.send_json_to({"type": "sync", "after": first[0]["message_id"]})
        sync = (await until(communicator, "sync"))[-1]
    finally:
        await communicator.disconnect()
    assert [(m["role"], m["text"]) for m in sync["messages"]] == [("bot", ANSWER)]


@override_settings(ENGINE_MODE="worker", ENGINE_STALL_SECONDS=0.5)
async def test_no_engine_at_all_still_ends_the_answer_with_an_error_frame(store):
    # Scaled mode with no worker running: nobody picks the job up, nobody reports on it.
    communicator, _ = await connect()
    try:
        await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": "lost"})
        frames = await until(communicator, "final", timeout=10)
    finally:
        await communicator.disconnect()
    final = frames[-1]
    assert final["error"] == "engine_lost" and final["partial"] is True
    assert final["text"] == FAILED_TEXT
    assert await database_sync_to_async(messages)() == [("customer", QUESTION), ("bot", FAILED_TEXT)]


async def test_a_keyword_faq_is_answered_at_once_without_the_model(store):
    communicator, _ = await connect()
    try:
        await communicator.send_json_to({"type": "message", "text": "亲，几时发货呀？", "client_id": "f"})
        frames = await until(communicator, "final")
    finally:
        await communicator.disconnect()
    final = frames[-1]
    assert final["source"] == "faq" and final["text"] == "付款后24小时内发货。"
    assert [f["text"] for f in frames if f["type"] == "delta"] == ["付款后24小时内发货。"]
    hits = await database_sync_to_async(lambda: list(FaqEntry.objects.values_list("hit_count", flat=True)))()
    assert hits == [1]


async def test_a_question_the_store_has_no_data_for_is_handed_to_a_human(store):
    communicator, _ = await connect()
    try:
        await communicator.send_json_to({"type": "message", "text": "你们卖不卖笔记本电脑？", "client_id": "u"})
        final = (await until(communicator, "final"))[-1]
        # Waiting for a human, the bot still answers what it can.
        await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": "waiting"})
        answered = (await until(communicator, "final"))[-1]
        # Once a human has the conversation, the shopper's messages are kept and the bot stays silent.
        await database_sync_to_async(lambda: Conversation.objects.update(status="human"))()
        await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": "human"})
        ack = await communicator.receive_json_from(timeout=5)
        # Other tabs (and agents) are shown the message; then nothing more: the bot stays silent.
        echo = await communicator.receive_json_from(timeout=5)
        silent = await communicator.receive_nothing(timeout=1)
    finally:
        await communicator.disconnect()
    assert final["handoff"] is True and final["status"] == "waiting" and final["source"] == "handoff"
    assert "不太确定" in final["text"]
    assert answered["text"] == ANSWER
    assert ack["type"] == "ack" and silent
    assert echo["type"] == "message" and echo["message"]["client_id"] == "human"
    conversation = await database_sync_to_async(lambda: Conversation.objects.get())()
    assert await database_sync_to_async(lambda: conversation.tickets.get().reason)() == "bot_unsure"
    assert await database_sync_to_async(lambda: conversation.messages.filter(role="customer").count())() == 3


def _add_second_product():
    store = Conversation.objects.first().store if Conversation.objects.exists() else None
    assert store is not None
    ProductFactory(store=store, sku="DR-1", name="碎花连衣裙", price="259.00", stock=0)


async def test_the_product_in_view_comes_with_the_connection_and_a_view_frame(store):
    communicator, _ = await connect("/ws/chat/shop/?product=TS-1")
    try:
        await communicator.send_json_to({"type": "message", "text": "有现货吗", "client_id": "v1"})
        frames = await until(communicator, "final")
        assert "纯棉T恤" in frames[-1]["text"] and "有现货" in frames[-1]["text"]
        await database_sync_to_async(_add_second_product)()
        # A single-page shop changes product: the widget says so, and the next bare question is about it.
        await communicator.send_json_to({"type": "view", "product": "DR-1"})
        saved = await until(communicator, "view_saved")
        assert saved[-1]["product"] == "DR-1"
        await communicator.send_json_to({"type": "message", "text": "这个还有货吗", "client_id": "v2"})
        frames = await until(communicator, "final")
        assert "碎花连衣裙" in frames[-1]["text"] and "缺货" in frames[-1]["text"]
        # A SKU the store does not sell clears the page's product instead of being trusted.
        await communicator.send_json_to({"type": "view", "product": "NOT-SOLD"})
        saved = await until(communicator, "view_saved")
        assert saved[-1]["product"] == ""
        await communicator.send_json_to({"type": "view", "product": 42})
        error = await until(communicator, "error")
        assert "SKU" in error[-1]["message"]
        # A message says the page it was typed on: a second tab on another product asks about that one.
        await communicator.send_json_to({"type": "message", "text": "有现货吗", "client_id": "v3", "product": "TS-1"})
        frames = await until(communicator, "final")
        assert "纯棉T恤" in frames[-1]["text"]
    finally:
        await communicator.disconnect()


@pytest.fixture
def one_window(monkeypatch):
    """The limits' clock stands still: a test's burst never straddles the edge of a fixed window."""
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: 1_800_000_000.0))


async def open_from(path: str, address: str) -> WebsocketCommunicator:
    """A connection as if from this client address (what daphne puts in the scope)."""
    from config.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=HEADERS)
    communicator.scope["client"] = [address, 40000]
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def send_and_collect(tab: WebsocketCommunicator, text: str, client_id: str) -> dict:
    """The ack or the refusal of one message (answers to earlier messages are skipped)."""
    await tab.send_json_to({"type": "message", "text": text, "client_id": client_id})
    while True:
        frame = await tab.receive_json_from(timeout=10)
        if frame.get("client_id") == client_id and frame["type"] in ("ack", "error"):
            return frame


def customer_texts() -> list[str]:
    return list(Message.objects.filter(role="customer").order_by("pk").values_list("text", flat=True))


async def flood_from_three_tabs() -> list[dict]:
    first, hello = await connect()
    tabs = [first]
    try:
        for _ in range(2):
            tabs.append((await connect(f"/ws/chat/shop/?visitor={hello['visitor']}"))[0])
        return [await send_and_collect(tabs[i % 3], f"问题{i}", f"t{i}") for i in range(6)]
    finally:
        for tab in tabs:
            await tab.disconnect()


@override_settings(CHAT_RATE_MESSAGES=100, CHAT_VISITOR_RATE_MESSAGES=4)
async def test_one_visitor_flooding_from_several_tabs_is_limited_and_keeps_what_was_accepted(one_window, store):
    replies = await flood_from_three_tabs()
    assert [r["type"] for r in replies] == ["ack"] * 4 + ["error"] * 2
    assert {r["code"] for r in replies[4:]} == {"rate_limited"}
    assert replies[4]["message"] == "您发送得太快了，请稍等几秒，未发送的消息会自动重发。"
    assert await database_sync_to_async(customer_texts)() == [f"问题{i}" for i in range(4)]


@pytest.mark.redis
async def test_the_visitor_limit_is_shared_through_redis(one_window, store, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": f"test-limits-{uuid.uuid4().hex}",
        }
    }
    settings.CHAT_RATE_MESSAGES, settings.CHAT_VISITOR_RATE_MESSAGES = 100, 4
    # Its own key prefix, and no clear(): that would empty the whole Redis database. The counts expire.
    replies = await flood_from_three_tabs()
    assert [r["type"] for r in replies] == ["ack"] * 4 + ["error"] * 2
    assert await database_sync_to_async(customer_texts)() == [f"问题{i}" for i in range(4)]


@override_settings(CHAT_RATE_MESSAGES=100, CHAT_VISITOR_RATE_MESSAGES=100, CHAT_ADDRESS_RATE_MESSAGES=3)
async def test_new_visitors_flooding_from_one_address_are_limited_and_other_addresses_are_not(one_window, store):
    tabs = [await open_from("/ws/chat/shop/?lang=en", "10.0.0.7") for _ in range(4)]
    elsewhere = await open_from("/ws/chat/shop/", "10.0.0.8")
    try:
        for tab in [*tabs, elsewhere]:
            assert (await tab.receive_json_from(timeout=5))["type"] == "hello"
        replies = [await send_and_collect(tab, f"问题{i}", f"a{i}") for i, tab in enumerate(tabs)]
        other = await send_and_collect(elsewhere, "别处的问题", "b0")
    finally:
        for tab in [*tabs, elsewhere]:
            await tab.disconnect()
    assert [r["type"] for r in replies] == ["ack", "ack", "ack", "error"]
    assert replies[3]["code"] == "rate_limited" and replies[3]["message"].startswith("You are sending too fast")
    assert other["type"] == "ack"
    assert await database_sync_to_async(customer_texts)() == ["问题0", "问题1", "问题2", "别处的问题"]


@override_settings(CHAT_ADDRESS_RATE_CONNECTIONS=3)
async def test_a_burst_of_new_connections_from_one_address_is_told_to_wait(one_window, store):
    opened = [await open_from("/ws/chat/shop/", "10.0.0.9") for _ in range(3)]
    refused = await open_from("/ws/chat/shop/", "10.0.0.9")
    elsewhere = await open_from("/ws/chat/shop/", "10.0.0.10")
    try:
        for tab in [*opened, elsewhere]:
            assert (await tab.receive_json_from(timeout=5))["type"] == "hello"
        error = await refused.receive_json_from(timeout=5)
        closed = await refused.receive_output(timeout=5)
    finally:
        for tab in [*opened, refused, elsewhere]:
            await tab.disconnect()
    assert error["type"] == "error" and error["code"] == "rate_limited"
    assert error["message"] == "连接过于频繁，请稍后再试，我们会自动重新连接。"
    assert closed == {"type": "websocket.close", "code": 4429}
    # Refused before anything was written: no visitor, no conversation for it.
    assert await database_sync_to_async(Conversation.objects.count)() == 4


@override_settings(CHAT_VISITOR_RATE_CONNECTIONS=2, CHAT_ADDRESS_RATE_CONNECTIONS=100)
async def test_one_visitor_reopening_tabs_too_fast_is_told_to_wait(one_window, store):
    first, hello = await connect()  # a new visitor: no token yet
    tabs = [first, *[(await connect(f"/ws/chat/shop/?visitor={hello['visitor']}"))[0] for _ in range(2)]]
    third = await open_from(f"/ws/chat/shop/?visitor={hello['visitor']}&lang=en", "unknown")
    try:
        error = await third.receive_json_from(timeout=5)
    finally:
        for tab in (*tabs, third):
            await tab.disconnect()
    assert error["code"] == "rate_limited" and error["message"].startswith("Too many connections")


async def test_frames_and_events_are_not_held_up_by_database_work_of_other_sockets(store):
    """Every frame and event used to wait for asgiref's one thread-sensitive thread, where all the
    database work of the process queues: a busy database held up every shopper's pong and answer."""
    communicator, hello = await connect()
    started, release = threading.Event(), threading.Event()

    def busy() -> None:
        started.set()
        release.wait(30)

    blocker = asyncio.ensure_future(sync_to_async(busy, thread_sensitive=True)())
    try:
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
        frame = {"type": "delta", "job": "j", "answer_to": 1, "text": "好的"}
        await channel_layers["default"].group_send(
            f"conversation.{hello['conversation']}",
            {"type": "conversation.forward", "conversation_id": hello["conversation"], "frame": frame},
        )
        assert await communicator.receive_json_from(timeout=5) == frame
    finally:
        release.set()
        await blocker
        await communicator.disconnect()
