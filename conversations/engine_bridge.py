"""Where the engine meets the conversation log: the engine worker of this project.

`engine.worker.EngineWorker` streams guarded answers and knows nothing of stores or conversations;
this subclass reads the store's snapshot for the guard and records each finished answer (drafts for
agents excepted), then sends the final frame to whoever asked.
"""

from channels.routing import ChannelNameRouter
from django.conf import settings

from conversations.consumers.frames import database_call
from conversations.realtime import final_frame
from conversations.services.answers import answer_record_generated
from engine.generate import AnswerJob, AnswerResult, GenerationStats
from engine.knowledge import StoreSnapshot
from engine.worker import EngineWorker
from kb.selectors import store_snapshot_for_id


class AnswerWorker(EngineWorker):
    async def load_snapshot(self, store_id: int) -> StoreSnapshot:
        return await database_call(store_snapshot_for_id)(store_id=store_id)

    async def finish_answer(
        self, *, job: AnswerJob, reply_group: str, result: AnswerResult, stats: GenerationStats
    ) -> None:
        event = {"type": "conversation.final", "job_id": job.job_id, "conversation_id": job.conversation_id}
        if job.draft:
            # A suggestion for an agent: nothing is recorded, nothing reaches the shopper.
            draft = {
                "text": "" if result.error == "busy" else result.text,
                "error": result.error,
                "flags": list(result.flags),
            }
            await self.channel_layer.group_send(reply_group, {**event, "draft": draft})
            return
        message, ticket = await database_call(answer_record_generated)(
            job=job, result=result, stats=stats, ttft_ms=stats.ttft_ms, total_ms=stats.total_ms
        )
        frame = final_frame(
            message,
            job_id=job.job_id,
            answer_to=job.question_id,
            handoff=ticket is not None,
            error=result.error,
            evaluated_tokens=stats.evaluated_tokens,
        )
        await self.channel_layer.group_send(reply_group, {**event, "frame": frame})


def engine_application() -> ChannelNameRouter:
    """The ASGI application of the engine channel: served in-process (embedded) or by `runworker engine`."""
    return ChannelNameRouter({settings.ENGINE_CHANNEL: AnswerWorker.as_asgi()})
