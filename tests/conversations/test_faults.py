"""Faults in the scaled mode, with the real services: PostgreSQL, Redis, daphne processes.

Each test runs its own daphne and its own redis-server (a free port, nothing saved to disk), so it
can kill and restart them without touching anything else; the client speaks the widget's protocol
(`conversations.load.WebSocket`): keep the visitor token, re-sync after a reconnect, re-send what was
not acknowledged. `make test` runs them in its PostgreSQL pass (`-m fault` alone picks them).
"""

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from conversations.load import WebSocket
from conversations.models import Message
from tests.browser.conftest import ROOT, Server, _database_url, _free_port

pytestmark = [
    pytest.mark.fault,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


class Redis:
    """A private redis-server: stop() kills it (-9), start() brings it back empty on the same port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def scaled(tmp_path) -> Iterator[tuple[Server, Redis]]:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the scaled mode runs on PostgreSQL: set DATABASE_URL")
    call_command("load_demo", stdout=io.StringIO())
    redis = Redis()
    redis.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
    }
    server = Server(env, tmp_path / "daphne.log")
    server.start()
    try:
        yield server, redis
    finally:
        server.stop()
        redis.stop()


class Shopper:
    """What the widget does: one visitor token, an outbox of unacknowledged messages, sync on reconnect."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.visitor = ""
        self.socket: WebSocket | None = None
        self.outbox: dict[str, str] = {}
        self.acked: set[str] = set()

    async def connect(self) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            try:
                path = f"/ws/chat/demo/?visitor={self.visitor}"
                self.socket = await WebSocket.connect(
                    "127.0.0.1", self.port, path, origin=f"http://127.0.0.1:{self.port}", source=None
                )
                hello = await asyncio.wait_for(self.socket.receive_json(), 10)
                if hello is not None and hello["type"] == "hello":
                    break
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                pass
            assert time.monotonic() < deadline, "could not reconnect"
            await asyncio.sleep(0.5)
        self.visitor = hello["visitor"]
        self.socket.send_json({"type": "sync", "after": 0})
        for client_id, text in self.outbox.items():
            self.socket.send_json({"type": "message", "text": text, "client_id": client_id})
        return hello

    def send(self, client_id: str, text: str) -> None:
        self.outbox[client_id] = text
        assert self.socket is not None
        self.socket.send_json({"type": "message", "text": text, "client_id": client_id})

    async def until_answered(self, client_id: str) -> None:
        """Read frames until this message is acknowledged and answered: a final frame to it, or (answered
        before the fault, its final frame lost with the old connection) a bot message after it in the sync."""
        question = None
        history: list[dict[str, Any]] = []
        assert self.socket is not None
        while True:
            frame = await asyncio.wait_for(self.socket.receive_json(), 30)
            assert frame is not None, "the server closed the connection"
            if frame["type"] == "ack":
                self.acked.add(frame["client_id"])
                self.outbox.pop(frame["client_id"], None)
                if frame["client_id"] == client_id:
                    question = frame["message_id"]
            history += frame.get("messages", []) if frame["type"] == "sync" else []
            if question is not None and frame["type"] == "final" and frame["answer_to"] == question:
                return
            if question is not None and any(m["role"] == "bot" and m["id"] > question for m in history):
                return

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


def customer_messages() -> list[str]:
    return list(Message.objects.filter(role="customer").order_by("pk").values_list("client_id", flat=True))


async def _chat_through(fault, server: Server) -> list[str]:
    shopper = Shopper(server.port)
    try:
        first = await shopper.connect()
        shopper.send("c1", "你好")
        await shopper.until_answered("c1")
        shopper.send("c2", "什么时候发货？")
        await asyncio.sleep(0.05)
        await asyncio.get_running_loop().run_in_executor(None, fault)
        again = await shopper.connect()
        await shopper.until_answered("c2")
        shopper.send("c3", "有什么优惠活动？")
        await shopper.until_answered("c3")
    finally:
        await shopper.close()
    assert again["conversation"] == first["conversation"]
    assert shopper.acked == {"c1", "c2", "c3"} and shopper.outbox == {}
    return shopper.acked


async def test_daphne_killed_mid_chat_loses_and_doubles_nothing(scaled):
    """kill -9 of the server while a message is on its way: the shopper reconnects to the restarted
    server, re-syncs from the database and re-sends; every message is stored once and answered."""
    server, _redis = scaled

    def restart_server() -> None:
        server.stop()
        server.start()

    await _chat_through(restart_server, server)
    assert await asyncio.to_thread(customer_messages) == ["c1", "c2", "c3"]


async def test_redis_restarted_mid_chat_loses_and_doubles_nothing(scaled):
    """Redis (channel layer, cache) killed and started again empty while the shopper chats: the
    socket drops or carries on, the shopper reconnects and re-sends; nothing acknowledged is lost or
    stored twice, and the chat goes on."""
    server, redis = scaled

    def restart_redis() -> None:
        redis.stop()
        redis.start()

    await _chat_through(restart_redis, server)
    assert await asyncio.to_thread(customer_messages) == ["c1", "c2", "c3"]


class EngineWorker:
    """`manage.py runworker engine` in its own process group, on the test's Redis and database."""

    def __init__(self, env: dict[str, str], log) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "engine"],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def listening(self, timeout: float = 120) -> None:
        """Wait until the worker takes jobs from the channel (it loads its model with the first one)."""
        deadline = time.monotonic() + timeout
        while "Running worker for channels" not in self.log.read_text():
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()[-3000:]
            await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


class Inbox:
    """Every frame a shopper's socket receives, read as it comes (so the server's pings are answered
    while the test waits on the other shopper)."""

    def __init__(self, shopper: Shopper) -> None:
        assert shopper.socket is not None
        self.socket = shopper.socket
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            while (frame := await self.socket.receive_json()) is not None:
                self.queue.put_nowait(frame)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        self.queue.put_nowait(None)

    async def next(self, wanted, *, timeout: float) -> dict[str, Any]:
        """The first frame `wanted` accepts; fails after `timeout` seconds or when the server closes."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await asyncio.wait_for(self.queue.get(), max(deadline - time.monotonic(), 0.01))
            assert frame is not None, "the server closed the connection"
            self.seen.append(frame)
            if wanted(frame):
                return frame


def _bot_answers() -> list[tuple[int, str, bool, list[str]]]:
    return list(
        Message.objects.filter(role="bot").order_by("pk").values_list("conversation_id", "text", "partial", "flags")
    )


@pytest.mark.model
async def test_engine_worker_killed_with_a_job_queued_behind_its_answer(scaled, settings, tmp_path):
    """kill -9 of an engine worker (one answer at a time) while it streams one shopper's answer and holds
    another shopper's question in its queue: the first shopper gets a final `engine_lost` frame within
    the stall limit, keeping what was streamed; the queued question is sent again and answered by the
    other worker."""
    server, _redis = scaled
    # Long answers, so the first one is still streaming when the worker is killed.
    server.stop()
    server.env.update({"ENGINE_MAX_TOKENS": "400", "ENGINE_MAX_SECONDS": "60"})
    server.start()
    env = {**server.env, "ENGINE_MODEL_PATH": str(settings.ENGINE_MODEL_PATH), "ENGINE_PARALLEL": "1"}
    first = EngineWorker(env, tmp_path / "engine-1.log")
    second: EngineWorker | None = None
    streaming, waiting = Shopper(server.port), Shopper(server.port)
    try:
        one = await streaming.connect()
        two = await waiting.connect()
        first_inbox, second_inbox = Inbox(streaming), Inbox(waiting)
        streaming.send("long", "请详细介绍一下T恤适合什么场合穿？")
        ack = await first_inbox.next(lambda f: f["type"] == "ack", timeout=30)
        waiting.send("queued", "碎花连衣裙适合什么场合穿？")
        queued_ack = await second_inbox.next(lambda f: f["type"] == "ack", timeout=30)
        # The worker loads its model, then streams the first answer while the second waits in its queue.
        await second_inbox.next(lambda f: f["type"] == "queued", timeout=180)
        # Another worker, idle, takes jobs from the channel from now on (as the others of a deployment do).
        second = EngineWorker(env, tmp_path / "engine-2.log")
        await second.listening()
        await first_inbox.next(lambda f: f["type"] == "delta", timeout=180)

        first.kill()
        lost = await first_inbox.next(
            lambda f: f["type"] == "final",
            timeout=settings.ENGINE_STALL_SECONDS + 10,  # the watchdog's limit, and room for a busy machine
        )
        answered = await second_inbox.next(lambda f: f["type"] == "final", timeout=180)
    finally:
        await streaming.close()
        await waiting.close()
        first.kill()
        if second is not None:
            second.kill()

    streamed = "".join(f["text"] for f in first_inbox.seen if f["type"] == "delta")
    assert lost["answer_to"] == ack["message_id"]
    assert lost["error"] == "engine_lost" and lost["partial"] is True
    assert streamed and lost["text"] == streamed  # what the shopper saw is what is kept
    assert answered["answer_to"] == queued_ack["message_id"]
    # Answered by the model on the second worker (within the answer's own limits, which a slow machine may reach).
    assert answered["error"] == "" and answered["text"], (tmp_path / "engine-2.log").read_text()[-3000:]
    assert answered["source"] in ("llm", "guardrail") and "engine_lost" not in answered["flags"]

    # One answer each, stored once: the partial one as streamed, the other whole.
    answers = await asyncio.to_thread(_bot_answers)
    rows = {conversation: rest for conversation, *rest in answers}
    assert len(answers) == len(rows) == 2
    assert rows[one["conversation"]] == [streamed, True, ["engine_lost"]]
    assert rows[two["conversation"]][0] == answered["text"]
    assert await asyncio.to_thread(customer_messages) == ["long", "queued"]
