"""A knowledge-base edit has the engine evaluate the store's new prompt prefix before the next question needs it."""

import asyncio
import io
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.core.management import call_command
from django.test import override_settings

from conversations.models import Message
from engine import service
from kb import services as kb_services
from kb.models import FaqEntry
from tests.conversations.test_consumers import QUESTION, connect, until
from tests.engine.fake_runtime import FakeRuntime
from tests.kb.factories import FaqEntryFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "亲，这款是纯棉面料，穿着舒适透气。"


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    channel_layers.backends.clear()
    kb_services._warm_sent.clear()
    service.reset_scheduler()
    monkeypatch.setattr(service, "_runtime", lambda: FakeRuntime(answer=ANSWER))
    yield
    service.reset_scheduler()
    channel_layers.backends.clear()


@pytest.fixture
def submitted(monkeypatch) -> list[str]:
    """The ids of the jobs the engine is given, in order (warm-ups start with "warm-")."""
    scheduler = service.get_scheduler()
    ids: list[str] = []
    submit = scheduler.submit

    def recording(request, sink):
        ids.append(request.job_id)
        return submit(request, sink)

    monkeypatch.setattr(scheduler, "submit", recording)
    return ids


def _make_store():
    store = StoreFactory(slug="shop")
    ProductFactory(store=store, sku="TS-1", name="纯棉T恤", description="纯棉面料，柔软透气", price="99.00")
    FaqEntryFactory(store=store, question="什么时候发货?", answer="付款后24小时内发货。", keywords=["发货"])
    return store


def _edit_entries(store) -> None:
    # Several rows saved in one go (as an import does) are one warm-up.
    for n in range(3):
        FaqEntryFactory(store=store, question=f"第{n}个问题?", answer=f"第{n}个回答。", keywords=[f"词{n}"])
    FaqEntry.objects.filter(store=store, question="什么时候发货?").update(answer="付款后48小时内发货。")
    FaqEntry.objects.get(store=store, question="第0个问题?").save()


async def _ask(communicator, client_id: str) -> dict:
    await communicator.send_json_to({"type": "message", "text": QUESTION, "client_id": client_id})
    return (await until(communicator, "final"))[-1]


async def test_after_an_edit_the_next_question_evaluates_only_its_own_turn(submitted):
    store = await database_sync_to_async(_make_store)()
    cold, _ = await connect()
    try:
        first = await _ask(cold, "c1")  # a cold store: this question builds the prefix itself
        with override_settings(ENGINE_WARM_PREFIXES=True, ENGINE_WARM_DELAY_SECONDS=0.05):
            await database_sync_to_async(_edit_entries)(store)
            for _ in range(200):  # bounded: the worker warms once the rows are quiet
                if any(job.startswith(f"warm-{store.pk}") for job in submitted):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # a straggling second warm-up would show up here
        warmed = [job for job in submitted if job.startswith(f"warm-{store.pk}")]
        other, _ = await connect()  # another shopper
        try:
            second = await _ask(other, "c2")
        finally:
            await other.disconnect()
    finally:
        await cold.disconnect()
    assert len(warmed) == 1  # one burst of edits, one warm-up
    assert first["text"] == second["text"] == ANSWER
    # The cold question evaluated its whole prompt; after the edit the new prefix (with the new entries) was
    # ready before the next shopper asked, so that question evaluated only its own turn.
    assert first["evaluated_tokens"] > 3 * second["evaluated_tokens"] > 0


def test_an_edit_asks_the_engine_channel_once_per_burst(store_factory, settings):
    store = store_factory()
    layer = get_channel_layer()
    settings.ENGINE_WARM_PREFIXES = True
    for n in range(5):
        FaqEntryFactory(store=store, question=f"问题{n}?", answer="回答。", keywords=[f"k{n}"])
    received = []
    while True:
        try:
            received.append(async_to_sync(asyncio.wait_for)(layer.receive(settings.ENGINE_CHANNEL), 0.2))
        except TimeoutError:
            break
    assert received == [{"type": "engine.warm", "store_id": store.pk}]


def test_no_engine_channel_message_when_warming_is_off(store_factory, settings):
    store = store_factory()
    settings.ENGINE_WARM_PREFIXES = False
    FaqEntryFactory(store=store, question="问题?", answer="回答。", keywords=["k"])
    with pytest.raises(TimeoutError):
        async_to_sync(asyncio.wait_for)(get_channel_layer().receive(settings.ENGINE_CHANNEL), 0.2)


async def test_a_shopper_opening_the_chat_has_the_store_prefix_evaluated_before_asking(submitted):
    store = await database_sync_to_async(_make_store)()
    with override_settings(ENGINE_WARM_PREFIXES=True, ENGINE_WARM_DELAY_SECONDS=0.05):
        communicator, _ = await connect()
        try:
            for _ in range(200):  # bounded: while the shopper types
                if any(job.startswith(f"warm-{store.pk}") for job in submitted):
                    break
                await asyncio.sleep(0.05)
            final = await _ask(communicator, "c1")
            again, _ = await connect()  # the next shopper within a second: no second warm-up
            await again.disconnect()
        finally:
            await communicator.disconnect()
    answer = await database_sync_to_async(Message.objects.get)(pk=final["message_id"])
    assert final["text"] == ANSWER
    assert len([job for job in submitted if job.startswith("warm-")]) == 1
    # The shopper's first question found the store's prefix evaluated: only its own turn was.
    assert 0 < 3 * final["evaluated_tokens"] < answer.prompt_tokens


def test_the_evaluation_has_each_store_prefix_evaluated_before_its_first_question(submitted, tmp_path, settings):
    settings.ENGINE_WARM_PREFIXES = True
    asked = (("demo", "收到的东西有破损怎么办？"), ("demo", "洗了会变形吗？"), ("tea", "收到的东西有破损怎么办？"))
    rows = [{"store": store, "question": q, "intent": "quality", "facts": [], "forbid": []} for store, q in asked]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps({**r, "handoff": False, "offtopic": False}) for r in rows), encoding="utf-8")
    call_command("eval_answers", "--questions", str(path), "--json", stdout=io.StringIO(), stderr=io.StringIO())
    warmed = [i for i, job in enumerate(submitted) if job.startswith("warm-")]
    # One warm-up per store, each before that store's questions, as a shopper opening the chat has it done.
    assert len(warmed) == 2 and warmed[0] == 0 and warmed[1] > 1  # the demo store's question went between
    assert all(not job.startswith("warm-") for job in submitted[1 : warmed[1]])


async def test_after_an_edit_each_entrys_turn_opening_is_evaluated_once_the_engine_is_idle(monkeypatch):
    scheduler = service.get_scheduler()
    busy_at_submit: list[tuple[str, list[str]]] = []
    submit = scheduler.submit

    def recording(request, sink):
        busy_at_submit.append((request.job_id, scheduler.job_ids()))
        return submit(request, sink)

    monkeypatch.setattr(scheduler, "submit", recording)
    store = await database_sync_to_async(_make_store)()
    shopper, _ = await connect()  # the server with its engine worker
    try:
        with override_settings(ENGINE_WARM_PREFIXES=True, ENGINE_WARM_DELAY_SECONDS=0.05, ENGINE_WARM_OPENINGS=64):
            await database_sync_to_async(_edit_entries)(store)
            for _ in range(200):  # bounded: 4 FAQ entries, 1 product and its copy, one job after another
                if sum(job.startswith(f"opening-{store.pk}-") for job, _ in busy_at_submit) == 6:
                    break
                await asyncio.sleep(0.05)
    finally:
        await shopper.disconnect()
    jobs = [job for job, _ in busy_at_submit]
    assert jobs and jobs[0].startswith(f"warm-{store.pk}")  # the prefix first
    openings = [(job, busy) for job, busy in busy_at_submit if job.startswith(f"opening-{store.pk}-")]
    assert len(openings) == 6
    # Each went in only when the engine had nothing else to do: no shopper's answer ever waited behind one.
    assert all(busy == [] for _, busy in openings)


async def test_no_turn_openings_when_they_are_turned_off(submitted):
    store = await database_sync_to_async(_make_store)()
    shopper, _ = await connect()
    try:
        with override_settings(ENGINE_WARM_PREFIXES=True, ENGINE_WARM_DELAY_SECONDS=0.05, ENGINE_WARM_OPENINGS=0):
            await database_sync_to_async(_edit_entries)(store)
            for _ in range(200):
                if any(job.startswith(f"warm-{store.pk}") for job in submitted):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
    finally:
        await shopper.disconnect()
    assert any(job.startswith(f"warm-{store.pk}") for job in submitted)
    assert not any(job.startswith("opening-") for job in submitted)


async def test_chats_opening_while_the_openings_are_evaluated_do_not_start_them_over(monkeypatch, submitted, settings):
    monkeypatch.setattr(service, "_runtime", lambda: FakeRuntime(answer=ANSWER, delay=0.03))
    service.reset_scheduler()
    scheduler = service.get_scheduler()
    submit = scheduler.submit

    def recording(request, sink):
        submitted.append(request.job_id)
        return submit(request, sink)

    monkeypatch.setattr(scheduler, "submit", recording)
    store = await database_sync_to_async(_make_store)()
    layer = get_channel_layer()
    shopper, _ = await connect()
    try:
        with override_settings(ENGINE_WARM_PREFIXES=True, ENGINE_WARM_DELAY_SECONDS=0.05, ENGINE_WARM_OPENINGS=64):
            await database_sync_to_async(_edit_entries)(store)
            for _ in range(100):  # bounded: shoppers keep opening the store's chat meanwhile
                await layer.send(settings.ENGINE_CHANNEL, {"type": "engine.warm", "store_id": store.pk})
                await asyncio.sleep(0.1)
                if sum(job.startswith(f"opening-{store.pk}-") for job in submitted) == 6:
                    break
    finally:
        await shopper.disconnect()
    openings = [job.rsplit("-", 1)[0] for job in submitted if job.startswith(f"opening-{store.pk}-")]
    # Every opening evaluated once, none started over after an interruption.
    assert sorted(openings) == sorted(f"opening-{store.pk}-{i}" for i in range(6))


def _edit_answer(store) -> None:
    entry = FaqEntry.objects.get(store=store, question="什么时候发货?")
    entry.answer = "付款后72小时内发货。"
    entry.save()


async def test_an_edited_answer_gets_its_openings_evaluated_again_though_the_prefix_is_the_same(submitted):
    store = await database_sync_to_async(_make_store)()
    shopper, _ = await connect()

    async def openings(count: int) -> list[str]:
        for _ in range(200):  # bounded
            found = [job for job in submitted if job.startswith(f"opening-{store.pk}-")]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        return found

    try:
        with override_settings(ENGINE_WARM_PREFIXES=True, ENGINE_WARM_DELAY_SECONDS=0.05, ENGINE_WARM_OPENINGS=64):
            await database_sync_to_async(_edit_entries)(store)
            first = await openings(6)
            await asyncio.sleep(1.1)  # edits more than a second apart: one message each (kb.services)
            await database_sync_to_async(_edit_answer)(store)  # FAQ answers are not in the store prefix
            both = await openings(12)
    finally:
        await shopper.disconnect()
    assert len(first) == 6
    assert len(both) == 12  # the entries' openings again, with the new answer
