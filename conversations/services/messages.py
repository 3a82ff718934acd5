"""Recording messages: each shopper message, bot answer and system line once; stopping the bot's answers."""

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from conversations import realtime
from conversations.models import Conversation, Message
from conversations.selectors import answer_in_flight_key, conversation_jobs_key, customer_message_by_client_id
from engine.generate import engine_job_key
from kb.validation import text_clean


def message_create_customer(*, conversation: Conversation, text: str, client_id: str | None = None) -> Message:
    """Record a shopper's message (cleaned, see `text_clean`); re-sending the same client id returns the first copy."""
    return message_receive_customer(conversation=conversation, text=text, client_id=client_id)[0]


def message_receive_customer(
    *, conversation: Conversation, text: str, client_id: str | None = None
) -> tuple[Message, bool]:
    """`message_create_customer`, also saying whether the message is new (False: a re-send of its client id)."""
    text = text_clean(text).strip()
    if not text:
        raise ApplicationError(_("The message is empty."))
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ApplicationError(
            _("The message is too long (%(count)s characters, at most %(max)s).")
            % {"count": len(text), "max": settings.CHAT_MAX_MESSAGE_CHARS}
        )
    if conversation.status == Conversation.Status.CLOSED:
        raise ApplicationError(_("This conversation has ended; start a new chat."))
    # Insert first, look only when the client id is taken: a re-send is rare, and every shopper's message
    # paid for the look-up.
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation, role=Message.Role.CUSTOMER, text=text, client_id=client_id or None
            )
    except IntegrityError:
        # A re-send of the same client id (or a concurrent one that won the race): hand back its row.
        existing = customer_message_by_client_id(conversation=conversation, client_id=client_id)
        if existing is None:
            raise
        return existing, False
    realtime.push_message(message)
    return message, True


def message_create_bot(
    *,
    conversation_id: int,
    job_id: str,
    text: str,
    source: str,
    partial: bool = False,
    flags: list[str] | tuple[str, ...] = (),
    matched: list[dict[str, object]] | tuple[dict[str, object], ...] = (),
    ttft_ms: int | None = None,
    total_ms: int | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> Message:
    """Record the bot's answer to a job once; whoever records first (engine or watchdog) wins."""
    try:
        with transaction.atomic():
            return Message.objects.create(
                conversation_id=conversation_id,
                role=Message.Role.BOT,
                text=text,
                job_id=job_id,
                source=source,
                partial=partial,
                flags=list(flags),
                matched=[dict(m) for m in matched],
                ttft_ms=ttft_ms,
                total_ms=total_ms,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
    except IntegrityError:
        return Message.objects.get(conversation_id=conversation_id, job_id=job_id)


def message_create_system(*, conversation: Conversation, text: str, agent: Any = None) -> Message:
    """A line from the desk itself ("人工客服X为您服务"), shown to both sides."""
    message = Message.objects.create(conversation=conversation, role=Message.Role.SYSTEM, text=text, agent=agent)
    realtime.push_message(message)
    return message


def answer_job_remember(*, conversation_id: int, question_id: int, job_id: str) -> None:
    """A generation started: a re-send of its question (another tab, a reconnect) must not start a second
    answer, and an agent taking over must be able to stop it, whichever connection asked."""
    ttl = int(settings.ENGINE_MAX_SECONDS + settings.ENGINE_STALL_SECONDS) + 30
    cache.set(answer_in_flight_key(question_id), job_id, timeout=ttl)
    key = conversation_jobs_key(conversation_id)
    cache.set(key, [*(cache.get(key) or [])[-4:], job_id], timeout=ttl)


def conversation_answers_cancel(*, conversation: Conversation) -> None:
    """Stop the bot's answers being generated for this conversation, wherever their engine runs."""
    for job_id in cache.get(conversation_jobs_key(conversation.pk)) or []:
        realtime.cancel_generation(job_id=job_id, engine_channel=cache.get(engine_job_key(job_id)))
