"""The real model through the chat websocket: embedded (in-process) and scaled (`runworker` on Redis).

No timings are asserted here; `manage.py bench_engine` measures speed.
"""

import asyncio
import io
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from conversations.models import Message
from engine import service
from engine.worker import BUSY_TEXT

ROOT = Path(__file__).resolve().parents[2]
HEADERS = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]

pytestmark = [pytest.mark.model, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def fresh_channel_layers():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _load_demo():
    from django.core.management import call_command

    call_command("load_demo", stdout=io.StringIO())
    from kb.models import Store

    return Store.objects.get(slug="demo")


@pytest.fixture
async def store():
    """The demo store: questions about its products go through retrieval to the model."""
    return await database_sync_to_async(_load_demo)()


async def connect(slug: str = "demo", query: str = "") -> tuple[WebsocketCommunicator, dict]:
    from config.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/chat/{slug}/{query}", headers=HEADERS)
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=10)
    assert hello["type"] == "hello"
    return communicator, hello


async def ask(communicator: WebsocketCommunicator, text: str, *, timeout: float = 90, on_delta=None) -> dict:
    """Send a question; return the ack, the deltas and the final frame."""
    client_id = uuid.uuid4().hex
    await communicator.send_json_to({"type": "message", "text": text, "client_id": client_id})
    frames: dict = {"deltas": []}
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == "ack":
            frames["ack"] = frame
        elif frame["type"] == "delta":
            frames["deltas"].append(frame["text"])
            if on_delta is not None:
                await on_delta(frames)
        elif frame["type"] == "final":
            frames["final"] = frame
            return frames


async def test_question_streams_through_the_websocket_embedded(store):
    communicator, _ = await connect()
    try:
        frames = await ask(communicator, "碎花连衣裙适合什么场合穿？")
    finally:
        await communicator.disconnect()
    final = frames["final"]
    assert frames["ack"]["client_id"]
    assert len(frames["deltas"]) >= 2, "the answer should arrive in pieces"
    assert final["text"] == "".join(frames["deltas"])
    assert final["source"] in ("llm", "guardrail") and not final["partial"] and final["error"] == ""
    assert final["ttft_ms"] is not None and final["completion_tokens"] > 0
    saved = await database_sync_to_async(lambda: list(Message.objects.order_by("pk").values_list("role", "text")))()
    assert saved == [("customer", "碎花连衣裙适合什么场合穿？"), ("bot", final["text"])]


async def test_hand_over_to_an_agent_and_back_the_model_uses_what_the_agent_said(store):
    """The whole round trip on the real model: shopper -> handoff -> agent claims -> the bot stays
    silent -> agent replies -> hand back -> the bot answers from what the agent said."""
    from tests.conversations.test_agent_console import agent_connect, until
    from tests.kb.factories import StaffUserFactory

    user = await database_sync_to_async(lambda: StaffUserFactory(username="wang", stores=[store]))()
    agent, _ = await agent_connect(user)
    shopper, _ = await connect()
    try:
        handoff = await ask(shopper, "转人工")
        ticket = (await until(agent, "ticket"))[-1]["ticket"]
        await agent.send_json_to({"type": "claim", "ticket": ticket["id"]})
        assert (await until(shopper, "status"))[-1]["status"] == "human"
        await shopper.send_json_to({"type": "message", "text": "连衣裙的腰带能拆吗？", "client_id": "while-human"})
        await until(shopper, lambda f: f["type"] == "message" and f["message"]["client_id"] == "while-human")
        silent = await shopper.receive_nothing(timeout=3)
        said = "亲，我帮您确认过了：连衣裙的腰带是可以拆下来的。"
        await agent.send_json_to({"type": "reply", "conversation": ticket["conversation"], "text": said})
        await until(shopper, lambda f: f["type"] == "message" and f["message"]["role"] == "agent")
        await agent.send_json_to({"type": "release", "conversation": ticket["conversation"]})
        assert (await until(shopper, "status"))[-1]["status"] == "bot"
        answer = (await ask(shopper, "连衣裙的腰带能拆吗？"))["final"]
    finally:
        await shopper.disconnect()
        await agent.disconnect()
    assert handoff["final"]["handoff"] is True and silent
    # The store's data says nothing about belts: only the agent's turn in the history can tell it.
    assert answer["source"] == "llm" and "可以拆" in answer["text"], answer
    roles = await database_sync_to_async(lambda: list(Message.objects.order_by("pk").values_list("role", flat=True)))()
    assert roles.count("agent") == 1 and roles[-1] == "bot"


async def _question_and_follow_up(between=None) -> tuple[dict, dict]:
    """The final frames of a question and its follow-up in one chat (`between` runs after the first)."""
    communicator, _ = await connect()
    try:
        first = (await ask(communicator, "碎花连衣裙适合什么场合穿？"))["final"]
        if between is not None:
            await between()
        second = (await ask(communicator, "那T恤适合什么场合穿？"))["final"]
    finally:
        await communicator.disconnect()
    return first, second


async def test_follow_up_evaluates_fewer_prompt_tokens_than_a_cold_turn(store):
    await asyncio.to_thread(service.reset_scheduler)  # an empty KV cache: the first turn is cold
    first, second = await _question_and_follow_up()
    assert first["evaluated_tokens"] == first["prompt_tokens"]
    assert second["prompt_tokens"] > first["prompt_tokens"]
    # The follow-up runs only its new tokens (last answer's end and the new question) through the model.
    assert second["evaluated_tokens"] < second["prompt_tokens"] - first["prompt_tokens"] + 8
    assert second["evaluated_tokens"] < first["evaluated_tokens"]


async def test_a_parked_conversation_answers_its_follow_up_from_its_saved_state(store, settings):
    # No idle conversation keeps its cells: each answer's sequence goes to RAM through llama.cpp's state
    # save as it ends, and the follow-up loads it back.
    settings.ENGINE_IDLE_KV_CELLS = 0
    await asyncio.to_thread(service.reset_scheduler)
    left: list[bool] = []

    async def conversation_left_the_cache() -> None:
        for _ in range(100):  # bounded: the engine parks it right after the final frame
            kinds = [entry.kind for entry in list(service.get_scheduler()._kv.entries.values())]
            if "conversation" not in kinds and "prefix" in kinds:
                left.append(True)
                return
            await asyncio.sleep(0.05)

    try:
        first, second = await _question_and_follow_up(between=conversation_left_the_cache)
    finally:
        await asyncio.to_thread(service.reset_scheduler)
    assert left, "the answered conversation should have left the KV cache, its store prefix stayed"
    assert second["source"] in ("llm", "guardrail") and second["text"] and second["error"] == ""
    assert second["evaluated_tokens"] < second["prompt_tokens"] - first["prompt_tokens"] + 8


async def test_cancel_stops_generation(store):
    communicator, _ = await connect()

    async def cancel_once(frames):
        if len(frames["deltas"]) == 2:
            await communicator.send_json_to({"type": "cancel"})

    try:
        frames = await ask(communicator, "请详细介绍一下T恤适合什么场合穿？", on_delta=cancel_once)
    finally:
        await communicator.disconnect()
    final = frames["final"]
    assert final["partial"] is True
    assert "cancelled" in final["flags"]
    assert final["completion_tokens"] < 200
    bot = await database_sync_to_async(lambda: Message.objects.get(role="bot"))()
    assert bot.partial and bot.text == final["text"]


async def test_full_queue_answers_busy_at_once(store, settings):
    settings.ENGINE_PARALLEL = 1
    settings.ENGINE_QUEUE_SIZE = 1
    await asyncio.to_thread(service.reset_scheduler)
    chats = [await connect() for _ in range(3)]
    try:
        first = chats[0][0]
        await first.send_json_to({"type": "message", "text": "请详细介绍一下T恤。", "client_id": "q0"})
        while (await first.receive_json_from(timeout=60))["type"] != "delta":
            pass  # the first answer is being generated: one chat running, the queue empty
        for i, (communicator, _) in enumerate(chats[1:], start=1):
            await communicator.send_json_to({"type": "message", "text": f"介绍一下T恤，第{i}次", "client_id": f"q{i}"})
        results = await asyncio.gather(*(_until_final(c) for c, _ in chats))
    finally:
        for communicator, _ in chats:
            await communicator.disconnect()
        await asyncio.to_thread(service.reset_scheduler)
    busy = [f for f in results if f["error"] == "busy"]
    assert len(busy) == 1
    assert busy[0]["text"] == BUSY_TEXT and busy[0]["source"] == "template"
    assert sum(1 for f in results if f["source"] in ("llm", "guardrail") and not f["error"]) == 2
    # Every shopper message was kept, the refused one included.
    count = await database_sync_to_async(lambda: Message.objects.filter(role="customer").count())()
    assert count == 3


async def _until_final(communicator: WebsocketCommunicator) -> dict:
    while True:
        frame = await communicator.receive_json_from(timeout=120)
        if frame["type"] == "final":
            return frame


async def test_engine_crash_mid_answer_yields_an_error_frame_and_recovers(store, monkeypatch):
    from engine.llm import LlamaRuntime

    real_decode = LlamaRuntime.decode
    communicator, _ = await connect()

    def crash(self, items):
        raise RuntimeError("engine died")

    async def break_engine(frames):
        if len(frames["deltas"]) == 1:
            monkeypatch.setattr(LlamaRuntime, "decode", crash)

    try:
        frames = await ask(communicator, "请详细介绍一下T恤适合什么场合穿？", on_delta=break_engine)
        monkeypatch.setattr(LlamaRuntime, "decode", real_decode)
        again = await ask(communicator, "羊毛连衣裙会起球吗？")
    finally:
        monkeypatch.setattr(LlamaRuntime, "decode", real_decode)
        await communicator.disconnect()
    final = frames["final"]
    assert final["error"] == "engine_error" and final["partial"] is True
    assert final["text"] and final["text"] == "".join(frames["deltas"])
    assert again["final"]["error"] == "" and again["final"]["text"]
    roles = await database_sync_to_async(lambda: list(Message.objects.order_by("pk").values_list("role", "partial")))()
    assert roles == [("customer", False), ("bot", True), ("customer", False), ("bot", False)]


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(prefix: str, database_url: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CHANNELS_PREFIX": prefix,
        "DATABASE_URL": database_url,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "engine"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.redis
async def test_runworker_process_on_redis_streams_and_a_killed_worker_is_reported(store, settings, tmp_path):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0"], "prefix": prefix},
        }
    }
    settings.ENGINE_MODE = "worker"
    settings.ENGINE_STALL_SECONDS = 3.0
    database_url = await database_sync_to_async(_database_url)()
    log = tmp_path / "worker.log"
    worker = _start_worker(prefix, database_url, log)
    communicator, _ = await connect()
    try:
        answered = await ask(communicator, "碎花连衣裙适合什么场合穿？", timeout=120)
        assert len(answered["deltas"]) >= 2, log.read_text()
        assert answered["final"]["source"] in ("llm", "guardrail") and answered["final"]["error"] == ""

        async def kill_worker(frames):
            if len(frames["deltas"]) == 1:
                os.killpg(worker.pid, signal.SIGKILL)

        killed = await ask(communicator, "请详细介绍一下T恤适合什么场合穿？", on_delta=kill_worker)
        final = killed["final"]
        assert final["error"] == "engine_lost" and final["partial"] is True

        # Whoever runs the workers starts a new one; the chat goes on.
        worker.wait(10)
        # A new worker process loads the model with its first job: on a slow machine that is longer than the
        # short stall limit this test uses to see the kill, so the restarted worker gets a normal one.
        settings.ENGINE_STALL_SECONDS = 60.0
        worker = _start_worker(prefix, database_url, log)
        for _ in range(600):  # bounded: a slow machine takes seconds to start a Django process
            if log.read_text().count("Running worker for channels") >= 2:
                break
            await asyncio.sleep(0.1)
        again = await ask(communicator, "小熊印花T恤的印花会掉吗？", timeout=120)
        assert again["final"]["error"] == "" and again["final"]["text"]
    finally:
        await communicator.disconnect()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
    rows = await database_sync_to_async(
        lambda: list(Message.objects.order_by("pk").values_list("role", "partial", "source"))
    )()
    assert [r[0] for r in rows] == ["customer", "bot", "customer", "bot", "customer", "bot"]
    assert rows[3][1] is True  # the answer cut short by the kill is kept, marked partial
