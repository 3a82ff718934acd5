"""The engine worker: a Channels consumer on the channel `engine`, and the same loop for a blocking caller.

It takes `AnswerJob`s, feeds them to this process's scheduler thread, runs every delta through the
guard and streams the safe text back to the job's reply group, in order. What a finished answer
becomes (a recorded message, a final frame) is the asking side's business: a subclass says how the
store's data is read (`load_snapshot`) and what happens to a finished answer (`finish_answer`).
The engine never imports the apps above it. The same code runs inside the server (embedded) and in
`manage.py runworker engine` processes (scaled); only the channel layer differs.

Events sent to the reply group (handled by the chat and agent consumers):
`conversation.accepted` (job_id, engine_channel), `conversation.delta` (job_id, question_id,
conversation_id, text), `conversation.heartbeat` (job_id, position), then whatever `finish_answer` sends.
"""

import asyncio
import functools
import logging
import queue
import time
from dataclasses import dataclass
from typing import Any

from channels.consumer import AsyncConsumer
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache

from engine.generate import (
    LIVE,
    AnswerJob,
    AnswerResult,
    AnswerStream,
    GenerationEvent,
    GenerationStats,
    engine_job_key,
    warm_request,
)
from engine.guard import StreamGuard
from engine.knowledge import StoreSnapshot
from engine.openings import opening_request, opening_turns
from engine.prompt import store_prefix
from engine.service import get_scheduler

logger = logging.getLogger(__name__)

BUSY_TEXT = AnswerStream.BUSY_TEXT
# A prefix warmed this recently and unchanged is not warmed again for the next shopper who opens the chat.
WARM_AGAIN_SECONDS = 60.0
OPENING_IDLE_POLL_SECONDS = 0.25
OPENING_WAIT_MARGIN_SECONDS = 30.0
FAILED_TEXT = AnswerStream.FAILED_TEXT


@dataclass
class _RunningJob:
    job: AnswerJob
    reply_group: str
    stream: AnswerStream


class EngineWorker(AsyncConsumer):
    """Jobs in (`engine.generate` with an `AnswerJob`, `engine.cancel`), guarded events out."""

    async def load_snapshot(self, store_id: int) -> StoreSnapshot:
        """The store's data the guard checks claims against."""
        raise NotImplementedError

    async def finish_answer(
        self, *, job: AnswerJob, reply_group: str, result: AnswerResult, stats: GenerationStats
    ) -> None:
        """A job ended (also when busy, cancelled or failed): record it and tell the reply group."""
        raise NotImplementedError

    async def engine_generate(self, event: dict[str, Any]) -> None:
        self._setup()
        job = AnswerJob.from_dict(event["job"])
        snapshot = await self.load_snapshot(job.store_id)
        # Off the event loop: building the guard's facts takes milliseconds per question (a few hundred
        # for a store with hundreds of products), and every chat on this loop would stall meanwhile.
        guard = await asyncio.to_thread(StreamGuard, snapshot, reference=job.reference, question=job.question)
        self._jobs[job.job_id] = _RunningJob(
            job=job,
            reply_group=str(event["reply_group"]),
            stream=AnswerStream(
                guard, fallback=job.fallback, fallback_source=job.fallback_source, question=job.question
            ),
        )
        loop = asyncio.get_running_loop()

        def sink(ev: GenerationEvent) -> None:  # called on the engine thread
            try:
                loop.call_soon_threadsafe(self._outbox.put_nowait, ev)
            except RuntimeError:
                # The server's loop is gone (shutting down): nobody is left to tell, and the engine
                # thread must not die of it while it serves other jobs.
                logger.debug("dropped an event of job %s: its event loop is closed", ev.job_id)

        # Whoever stops this answer (an agent taking over, the chat closing) finds this worker by the job.
        await database_sync_to_async(cache.set)(
            engine_job_key(job.job_id), self.channel_name, int(job.request.max_seconds) + 60
        )
        scheduler = get_scheduler()
        if job.draft and job.request.priority == LIVE and scheduler.job_ids():
            # A draft for an agent waits for nobody: shoppers' answers come first. (Background work, such as
            # product copy, queues behind them instead: the scheduler runs it when they are served.)
            self._outbox.put_nowait(GenerationEvent(job_id=job.job_id, kind="done", finish_reason="busy"))
        elif not scheduler.submit(job.request, sink):
            logger.warning("engine queue full: answering job %s busy", job.job_id)
            self._outbox.put_nowait(GenerationEvent(job_id=job.job_id, kind="done", finish_reason="busy"))

    async def engine_cancel(self, event: dict[str, Any]) -> None:
        self._setup()
        get_scheduler().cancel(str(event["job_id"]))

    async def engine_warm(self, event: dict[str, Any]) -> None:
        """Evaluate a store's prefix now, so no shopper waits for it: its knowledge changed, or a shopper opened
        its chat (and is typing).

        The prefix carries the FAQ entries (engine/prompt.py): a couple of thousand tokens, seconds of work
        that the first question after an edit would otherwise wait for. Edits come in bursts (an import saves
        every row), so the prefix is built once the store has been quiet for `ENGINE_WARM_DELAY_SECONDS`.
        """
        self._setup()
        store_id = int(event["store_id"])
        self._warm_due[store_id] = time.monotonic() + settings.ENGINE_WARM_DELAY_SECONDS
        if store_id not in self._warming:
            self._warming[store_id] = asyncio.ensure_future(self._warm(store_id))

    async def _warm(self, store_id: int) -> None:
        try:
            while True:
                while (wait := self._warm_due[store_id] - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                due = self._warm_due[store_id]
                await self._warm_store(store_id, due)
                if self._warm_due[store_id] == due:
                    return  # nobody asked again meanwhile (an edit, a chat opening)
        except Exception:
            logger.exception("could not warm the prefix of store %s", store_id)
        finally:
            self._warming.pop(store_id, None)
            self._warm_due.pop(store_id, None)

    async def _warm_store(self, store_id: int, due: float) -> None:
        snapshot = await self.load_snapshot(store_id)
        prefix = store_prefix(snapshot)
        done = self._warmed.get(store_id)
        if done is None or done[0] != hash(prefix) or time.monotonic() - done[1] >= WARM_AGAIN_SECONDS:
            # (A prefix warmed lately and unchanged is still cached, unless many other chats pushed it out.)
            if not get_scheduler().submit(warm_request(prefix, key=f"warm-{store_id}"), lambda ev: None):
                logger.info("engine busy: store %s's prefix is built by its next question instead", store_id)
                return
            self._warmed[store_id] = (hash(prefix), time.monotonic())
        await self._warm_openings(snapshot, prefix, due)

    async def _warm_openings(self, snapshot: StoreSnapshot, prefix: str, due: float) -> None:
        """The store's turn openings (`engine.openings`), one job at a time, each submitted only when nothing
        else is queued or running (a shopper who asks just after waits for that one opening's prefill). Each
        version of the store's data is warmed once per process: the saved states keep the openings that get
        used and let the others go. When the store is asked to be warmed again meanwhile (an edit, another
        chat opening), this stops; the next warm-up goes on from the same opening if the openings are the
        same, and starts over if they changed."""
        store_id = snapshot.store_id
        turns = await asyncio.to_thread(opening_turns, snapshot, limit=settings.ENGINE_WARM_OPENINGS)
        version = hash((prefix, *turns))
        opened = self._opened.get(store_id)  # (version, openings done)
        start = opened[1] if opened is not None and opened[0] == version else 0
        loop = asyncio.get_running_loop()
        for i in range(start, len(turns)):
            while get_scheduler().job_ids():
                if self._warm_due.get(store_id) != due:
                    return
                await asyncio.sleep(OPENING_IDLE_POLL_SECONDS)
            if self._warm_due.get(store_id) != due:
                return
            done = asyncio.Event()
            request = opening_request(prefix, turns[i], key=f"opening-{store_id}-{i}")
            if not get_scheduler().submit(request, functools.partial(_set_when_done, loop, done)):
                return
            try:
                await asyncio.wait_for(done.wait(), request.max_seconds + OPENING_WAIT_MARGIN_SECONDS)
            except TimeoutError:
                logger.warning(
                    "a turn opening of store %s did not finish; the others wait for the next warm-up", store_id
                )
                return
            self._opened[store_id] = (version, i + 1)

    def _setup(self) -> None:
        if getattr(self, "_outbox", None) is not None:
            return
        self._outbox: asyncio.Queue[GenerationEvent] = asyncio.Queue()
        self._jobs: dict[str, _RunningJob] = {}
        self._warm_due: dict[int, float] = {}
        self._warming: dict[int, asyncio.Future[None]] = {}
        self._warmed: dict[int, tuple[int, float]] = {}  # store: (hash of the prefix warmed, when)
        self._opened: dict[int, tuple[int, int]] = {}
        self._tasks = [
            asyncio.ensure_future(self._forward()),
            asyncio.ensure_future(self._heartbeat()),
        ]

    async def _forward(self) -> None:
        """One sender keeps each job's events in order, whatever the channel layer."""
        while True:
            ev = await self._outbox.get()
            try:
                await self._forward_one(ev)
            except Exception:
                logger.exception("could not forward engine event for job %s", ev.job_id)

    async def _forward_one(self, ev: GenerationEvent) -> None:
        running = self._jobs.get(ev.job_id)
        if running is None:
            return
        job, reply = running.job, running.reply_group
        base = {"job_id": ev.job_id, "question_id": job.question_id, "conversation_id": job.conversation_id}
        if ev.kind == "accepted":
            await self.channel_layer.group_send(
                reply, {"type": "conversation.accepted", **base, "engine_channel": self.channel_name}
            )
        elif ev.kind == "delta":
            safe = running.stream.feed(ev.text)
            if running.stream.stop_requested:
                get_scheduler().cancel(ev.job_id)
            if safe:
                await self.channel_layer.group_send(reply, {"type": "conversation.delta", **base, "text": safe})
            else:
                # The guard is holding a claim back; tell the watchdog the engine is alive.
                await self.channel_layer.group_send(reply, {"type": "conversation.heartbeat", "job_id": ev.job_id})
        else:
            del self._jobs[ev.job_id]
            tail, result = running.stream.finish(ev)
            if tail:
                await self.channel_layer.group_send(reply, {"type": "conversation.delta", **base, "text": tail})
            await self.finish_answer(job=job, reply_group=reply, result=result, stats=ev.stats)

    async def _heartbeat(self) -> None:
        """Tell each waiting conversation the engine still has its job (the watchdog listens)."""
        while True:
            await asyncio.sleep(settings.ENGINE_HEARTBEAT_SECONDS)
            if not self._jobs:
                continue
            scheduler = get_scheduler()  # restarts a dead engine thread
            alive = set(scheduler.job_ids())
            for job_id, running in list(self._jobs.items()):
                if job_id in alive:
                    await self.channel_layer.group_send(
                        running.reply_group,
                        {
                            "type": "conversation.heartbeat",
                            "job_id": job_id,
                            "position": scheduler.queue_position(job_id),
                        },
                    )


@dataclass(frozen=True)
class BlockingAnswer:
    result: AnswerResult
    stats: GenerationStats
    ttft_ms: int | None  # first safe text, counted from `started`
    total_ms: int


def answer_blocking(*, job: AnswerJob, snapshot: StoreSnapshot, started: float) -> BlockingAnswer:
    """Generate and guard one answer in this thread, the way the worker does (`manage.py ask`, evaluation)."""
    stream = AnswerStream.for_job(job, StreamGuard(snapshot, reference=job.reference, question=job.question))
    events: queue.Queue[GenerationEvent] = queue.Queue()
    if not get_scheduler().submit(job.request, events.put):
        events.put(GenerationEvent(job_id=job.job_id, kind="done", finish_reason="busy"))
    ttft_ms = None
    while True:
        event = events.get(timeout=job.request.max_seconds + 60)
        if event.kind == "delta" and stream.feed(event.text) and ttft_ms is None:
            ttft_ms = int((time.monotonic() - started) * 1000)
        if event.kind == "delta" and stream.stop_requested:
            get_scheduler().cancel(job.job_id)
        elif event.kind == "done":
            tail, result = stream.finish(event)
            if tail and ttft_ms is None:
                ttft_ms = int((time.monotonic() - started) * 1000)
            total_ms = int((time.monotonic() - started) * 1000)
            return BlockingAnswer(result=result, stats=event.stats, ttft_ms=ttft_ms, total_ms=total_ms)


def _set_when_done(loop: asyncio.AbstractEventLoop, done: asyncio.Event, ev: GenerationEvent) -> None:
    if ev.kind == "done":
        try:
            loop.call_soon_threadsafe(done.set)
        except RuntimeError:
            logger.debug("an opening finished after its event loop closed")


def _put_when_done(finished: "queue.Queue[GenerationEvent]", ev: GenerationEvent) -> None:
    if ev.kind == "done":
        finished.put(ev)


def prefix_warm_blocking(*, snapshot: StoreSnapshot, timeout: float = 300.0, openings: int | None = None) -> bool:
    """Evaluate a store's prefix into the KV cache now, then its turn openings (`ENGINE_WARM_OPENINGS` unless
    `openings` says), and wait for them (`eval_answers`), as a shopper opening the chat has the worker do;
    False when the engine was too busy or the model failed."""
    prefix = store_prefix(snapshot)
    limit = settings.ENGINE_WARM_OPENINGS if openings is None else openings
    requests = [warm_request(prefix, key=f"warm-{snapshot.store_id}")]
    requests += [
        opening_request(prefix, turn, key=f"opening-{snapshot.store_id}-{i}")
        for i, turn in enumerate(opening_turns(snapshot, limit=limit))
    ]
    deadline = time.monotonic() + timeout
    for request in requests:
        finished: queue.Queue[GenerationEvent] = queue.Queue()
        if not get_scheduler().submit(request, functools.partial(_put_when_done, finished)):
            return False
        try:
            if finished.get(timeout=max(0.0, deadline - time.monotonic())).finish_reason == "error":
                return False
        except queue.Empty:
            return False
    return True
