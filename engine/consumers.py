"""The engine worker: a Channels consumer on the channel `engine`.

It takes generation jobs, feeds them to this process's scheduler thread and streams the events
back to the asking conversation's group, in order. It records every answer it was asked for, so an
answer survives the shopper closing the page. The same code runs inside the server (embedded) and
in `manage.py runworker engine` processes (scaled); only the channel layer differs.
"""

import asyncio
import logging
from typing import Any

from channels.consumer import AsyncConsumer
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache

from engine.generate import AnswerStream, GenerationEvent, GenerationRequest, engine_job_key
from engine.service import get_scheduler

logger = logging.getLogger(__name__)

BUSY_TEXT = AnswerStream.BUSY_TEXT
FAILED_TEXT = AnswerStream.FAILED_TEXT


def _guard_for(store_id: int, reference: str, question: str) -> Any:
    from engine.guard import StreamGuard
    from kb.selectors import store_snapshot_for_id

    return StreamGuard(store_snapshot_for_id(store_id=store_id), reference=reference, question=question)


def _record(meta: dict[str, Any], job_id: str, answer: dict[str, Any], stats: dict[str, Any]) -> tuple[Any, bool]:
    from conversations.services import answer_record_generated

    message, ticket = answer_record_generated(meta=meta, job_id=job_id, answer=answer, stats=stats)
    return message, ticket is not None


class EngineConsumer(AsyncConsumer):
    async def engine_generate(self, event: dict[str, Any]) -> None:
        self._setup()
        request = GenerationRequest.from_dict(event["request"])
        meta = event.get("meta", {})
        guard = await database_sync_to_async(_guard_for)(
            int(meta["store_id"]), str(meta.get("reference", "")), str(meta.get("question", ""))
        )
        self._jobs[request.job_id] = {"reply": event["reply_group"], "meta": meta, "stream": AnswerStream(guard)}
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
            engine_job_key(request.job_id), self.channel_name, int(request.max_seconds) + 60
        )
        scheduler = get_scheduler()
        if meta.get("draft") and scheduler.job_ids():
            # A draft for an agent waits for nobody: shoppers' answers come first.
            self._outbox.put_nowait(GenerationEvent(job_id=request.job_id, kind="done", finish_reason="busy"))
        elif not scheduler.submit(request, sink):
            logger.warning("engine queue full: answering job %s busy", request.job_id)
            self._outbox.put_nowait(GenerationEvent(job_id=request.job_id, kind="done", finish_reason="busy"))

    async def engine_cancel(self, event: dict[str, Any]) -> None:
        self._setup()
        get_scheduler().cancel(str(event["job_id"]))

    def _setup(self) -> None:
        if getattr(self, "_outbox", None) is not None:
            return
        self._outbox: asyncio.Queue[GenerationEvent] = asyncio.Queue()
        self._jobs: dict[str, dict[str, Any]] = {}
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
        job = self._jobs.get(ev.job_id)
        if job is None:
            return
        reply, meta, stream = job["reply"], job["meta"], job["stream"]
        base = {
            "job_id": ev.job_id,
            "question_id": meta.get("question_id"),
            "conversation_id": meta.get("conversation_id"),
        }
        if ev.kind == "accepted":
            await self.channel_layer.group_send(
                reply, {"type": "conversation.accepted", **base, "engine_channel": self.channel_name}
            )
        elif ev.kind == "delta":
            safe = stream.feed(ev.text)
            if safe:
                await self.channel_layer.group_send(reply, {"type": "conversation.delta", **base, "text": safe})
            else:
                # The guard is holding a claim back; tell the watchdog the engine is alive.
                await self.channel_layer.group_send(reply, {"type": "conversation.heartbeat", "job_id": ev.job_id})
        else:
            del self._jobs[ev.job_id]
            tail, answer = stream.finish(ev)
            if tail:
                await self.channel_layer.group_send(reply, {"type": "conversation.delta", **base, "text": tail})
            stats = ev.stats.to_dict()
            if meta.get("draft"):
                # A suggestion for an agent: nothing is recorded, nothing reaches the shopper.
                final = {"type": "conversation.final", **base, "message_id": None, "draft": True, **answer}
                await self.channel_layer.group_send(reply, final)
                return
            message, handed_off = await database_sync_to_async(_record)(meta, ev.job_id, answer, stats)
            await self.channel_layer.group_send(
                reply,
                {
                    "type": "conversation.final",
                    **base,
                    "message_id": message.pk,
                    "text": message.text,
                    "source": message.source,
                    "partial": message.partial,
                    "flags": message.flags,
                    "handoff": handed_off,
                    "status": "waiting" if handed_off else None,
                    "error": answer["error"],
                    "ttft_ms": stats.get("ttft_ms"),
                    "total_ms": stats.get("total_ms"),
                    "prompt_tokens": stats.get("prompt_tokens"),
                    "evaluated_tokens": stats.get("evaluated_tokens"),
                    "completion_tokens": stats.get("completion_tokens"),
                },
            )

    async def _heartbeat(self) -> None:
        """Tell each waiting conversation the engine still has its job (the watchdog listens)."""
        while True:
            await asyncio.sleep(settings.ENGINE_HEARTBEAT_SECONDS)
            if not self._jobs:
                continue
            scheduler = get_scheduler()  # restarts a dead engine thread
            alive = set(scheduler.job_ids())
            for job_id, job in list(self._jobs.items()):
                if job_id in alive:
                    await self.channel_layer.group_send(
                        job["reply"],
                        {
                            "type": "conversation.heartbeat",
                            "job_id": job_id,
                            "position": scheduler.queue_position(job_id),
                        },
                    )
