"""The bot's answer to a shopper's question: from the pipeline's decision to the recorded message.

Direct answers (FAQ entries, templates, handoffs) are recorded here at once; a model answer becomes an
`AnswerJob` for an engine worker, and `answer_record_generated` records what it streamed.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from config.exceptions import ApplicationError
from conversations.contacts import contact_in_message
from conversations.models import Conversation, HandoffTicket, Message
from conversations.selectors import conversation_chat_context, conversation_history, handoff_availability
from conversations.services.handoff import CONTACT_SAVED_TEXT, conversation_hand_off, handoff_text, ticket_contact_set
from conversations.services.messages import answer_job_remember, message_create_bot, message_create_customer
from engine.generate import AnswerJob, AnswerResult, GenerationRequest, GenerationStats
from engine.knowledge import StoreSnapshot
from engine.pipeline import Decision, decide
from engine.prompt import build_messages, store_prefix
from engine.worker import answer_blocking
from kb.selectors import store_snapshot
from kb.services import faq_entry_count_hit


@dataclass(frozen=True)
class PreparedAnswer:
    """What to do about a shopper's question: an answer already recorded, or a job for the engine."""

    decision: Decision | None  # None: a human has the conversation, the bot stays silent
    reply: Message | None = None
    job: AnswerJob | None = None
    ticket: HandoffTicket | None = None


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def answer_prepare(*, conversation: Conversation, question: Message, job_id: str) -> PreparedAnswer:
    """Run the pipeline up to generation: record a direct answer, or start a job for the engine."""
    started = time.monotonic()
    conversation.refresh_from_db(fields=["status", "product_sku", "product_viewed_at"])
    if conversation.status in (Conversation.Status.HUMAN, Conversation.Status.CLOSED):
        # A human has the conversation: the bot does not talk over them. While the shopper only
        # waits for one, the bot keeps answering what it can.
        return PreparedAnswer(decision=None)
    if conversation.status == Conversation.Status.WAITING:
        left = _answer_contact_left(conversation=conversation, question=question, job_id=job_id, started=started)
        if left is not None:
            return left
    snapshot = store_snapshot(store=conversation.store)
    context = conversation_chat_context(conversation=conversation, before=question)
    decision = decide(store=snapshot, question=question.text, context=context)
    if decision.kind == "direct":
        return _answer_direct(conversation=conversation, decision=decision, job_id=job_id, started=started)
    question.prompt = decision.user_content
    question.save(update_fields=["prompt", "updated_at"])
    job = answer_job_build(
        conversation=conversation, snapshot=snapshot, question=question, decision=decision, job_id=job_id
    )
    answer_job_remember(conversation_id=conversation.pk, question_id=question.pk, job_id=job_id)
    return PreparedAnswer(decision=decision, job=job)


def _answer_direct(*, conversation: Conversation, decision: Decision, job_id: str, started: float) -> PreparedAnswer:
    """An answer without the model (FAQ entry, template, handoff): recorded now, a ticket opened if needed."""
    text = decision.text
    if decision.handoff:
        text = handoff_text(store=conversation.store, text=text, conversation=conversation)
    elapsed = _elapsed_ms(started)
    reply = message_create_bot(
        conversation_id=conversation.pk,
        job_id=job_id,
        text=text,
        source=decision.source,
        flags=[decision.route],
        matched=decision.matched,
        ttft_ms=elapsed,
        total_ms=elapsed,
    )
    if decision.faq_id is not None:
        faq_entry_count_hit(faq_id=decision.faq_id)
    ticket = None
    if decision.handoff:
        ticket = conversation_hand_off(
            conversation=conversation,
            reason=HandoffTicket.Reason(decision.handoff_reason),
            matched=list(decision.matched),
        )
    return PreparedAnswer(decision=decision, reply=reply, ticket=ticket)


def _answer_contact_left(
    *, conversation: Conversation, question: Message, job_id: str, started: float
) -> PreparedAnswer | None:
    """A shopper asked to leave a contact may just type it: keep it on the ticket (a newer one replaces it)."""
    ticket = conversation.tickets.filter(status=HandoffTicket.Status.OPEN).first()
    contact = contact_in_message(question.text) if ticket is not None else None
    if ticket is None or contact is None or handoff_availability(store=conversation.store).agents == "online":
        return None
    ticket_contact_set(conversation=conversation, value=contact, found=True)
    elapsed = _elapsed_ms(started)
    reply = message_create_bot(
        conversation_id=conversation.pk,
        job_id=job_id,
        text=CONTACT_SAVED_TEXT.format(contact=contact),
        source=Message.Source.TEMPLATE,
        flags=["contact_saved"],
        ttft_ms=elapsed,
        total_ms=elapsed,
    )
    decision = Decision(kind="direct", route="contact", text=reply.text, source=Message.Source.TEMPLATE)
    return PreparedAnswer(decision=decision, reply=reply)


def answer_job_build(
    *,
    conversation: Conversation,
    snapshot: StoreSnapshot,
    question: Message,
    decision: Decision,
    job_id: str,
    draft: bool = False,
) -> AnswerJob:
    """The engine job that answers `question`, with the conversation's turns before it as history.

    A draft for an agent has its own cache key: it must not take the place of the conversation's turns.
    """
    request = GenerationRequest(
        job_id=job_id,
        conversation_key=f"draft-{conversation.pk}" if draft else str(conversation.pk),
        messages=build_messages(
            prefix=store_prefix(snapshot),
            history=conversation_history(conversation=conversation, before=question),
            user_content=decision.user_content,
        ),
        max_tokens=settings.ENGINE_MAX_TOKENS,
        max_seconds=settings.ENGINE_MAX_SECONDS,
    )
    return AnswerJob(
        request=request,
        store_id=snapshot.store_id,
        reference=decision.reference,
        question=decision.question,
        matched=decision.matched,
        conversation_id=conversation.pk,
        question_id=question.pk,
        draft=draft,
        fallback=decision.fallback,
        fallback_source=decision.fallback_source,
    )


def answer_record_generated(
    *, job: AnswerJob, result: AnswerResult, stats: GenerationStats, ttft_ms: int | None, total_ms: int | None
) -> tuple[Message, HandoffTicket | None]:
    """Record a streamed answer; when the guardrail had to replace a claim, a human follows up."""
    assert job.conversation_id is not None
    message = message_create_bot(
        conversation_id=job.conversation_id,
        job_id=job.job_id,
        text=result.text,
        source=result.source,
        partial=result.partial,
        flags=result.flags,
        matched=job.matched,
        ttft_ms=ttft_ms,
        total_ms=total_ms,
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
    )
    ticket = None
    if message.source == Message.Source.GUARDRAIL:
        conversation = Conversation.objects.get(pk=job.conversation_id)
        if conversation.status in (Conversation.Status.BOT, Conversation.Status.WAITING):
            ticket = conversation_hand_off(
                conversation=conversation, reason=HandoffTicket.Reason.GUARDRAIL, matched=list(job.matched)
            )
    return message, ticket


def ask_question(*, conversation: Conversation, text: str) -> dict[str, Any]:
    """Ask the bot synchronously, as the chat would (the `ask` command and the evaluation use this)."""
    started = time.monotonic()
    result: dict[str, Any] = {
        "answer": "",
        "source": "",
        "faq_id": None,
        "handoff": False,
        "flags": [],
        "ttft_ms": None,
        "total_ms": None,
        "conversation": conversation.pk,
    }
    try:
        question = message_create_customer(conversation=conversation, text=text)
    except ApplicationError as exc:
        return {**result, "source": "error", "flags": ["refused"], "answer": exc.message}
    prepared = answer_prepare(conversation=conversation, question=question, job_id=uuid.uuid4().hex)
    if prepared.decision is None:
        conversation.refresh_from_db()
        return {**result, "handoff": True, "flags": [f"status_{conversation.status}"]}
    if prepared.reply is not None:
        reply = prepared.reply
        return {
            **result,
            "answer": reply.text,
            "source": reply.source,
            "faq_id": prepared.decision.faq_id,
            "handoff": prepared.ticket is not None,
            "flags": reply.flags,
            "ttft_ms": reply.ttft_ms,
            "total_ms": reply.total_ms,
        }
    assert prepared.job is not None
    answer = answer_blocking(job=prepared.job, snapshot=store_snapshot(store=conversation.store), started=started)
    message, ticket = answer_record_generated(
        job=prepared.job, result=answer.result, stats=answer.stats, ttft_ms=answer.ttft_ms, total_ms=answer.total_ms
    )
    return {
        **result,
        "answer": message.text,
        "source": message.source,
        "handoff": ticket is not None,
        "flags": message.flags,
        "ttft_ms": answer.ttft_ms,
        "total_ms": answer.total_ms,
    }
