import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.exceptions import ApplicationError
from conversations.models import Conversation, HandoffTicket, Message, Visitor
from engine.generate import GenerationRequest
from engine.prompt import StorePersona, Turn, build_messages, store_prefix
from kb.models import Store

logger = logging.getLogger(__name__)


def visitor_create(*, store: Store, customer_id: str = "") -> Visitor:
    return Visitor.objects.create(store=store, customer_id=customer_id)


def conversation_start(*, store: Store, visitor: Visitor) -> Conversation:
    if visitor.store_id != store.pk:
        raise ApplicationError("This visitor belongs to another store.")
    return Conversation.objects.create(store=store, visitor=visitor)


def message_create_customer(*, conversation: Conversation, text: str, client_id: str | None = None) -> Message:
    """Record a shopper's message; re-sending the same client id returns the first copy."""
    text = text.strip()
    if not text:
        raise ApplicationError("The message is empty.")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ApplicationError(
            f"The message is too long ({len(text)} characters, at most {settings.CHAT_MAX_MESSAGE_CHARS})."
        )
    if conversation.status == Conversation.Status.CLOSED:
        raise ApplicationError("This conversation is closed.")
    if client_id:
        existing = conversation.messages.filter(client_id=client_id).first()
        if existing:
            return existing
    try:
        with transaction.atomic():
            return Message.objects.create(
                conversation=conversation, role=Message.Role.CUSTOMER, text=text, client_id=client_id or None
            )
    except IntegrityError:
        # A concurrent re-send of the same client id won the race: hand back its row.
        return conversation.messages.get(client_id=client_id)


def conversation_close(*, conversation: Conversation, outcome: Conversation.Outcome) -> Conversation:
    """Close with exactly one outcome; closing again with the same outcome is a no-op."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.status == Conversation.Status.CLOSED:
            if locked.outcome != outcome:
                raise ApplicationError(f"Conversation {locked.pk} is already closed as {locked.outcome}.")
            return locked
        locked.status = Conversation.Status.CLOSED
        locked.outcome = outcome
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "outcome", "closed_at", "updated_at"])
        locked.tickets.filter(status__in=[HandoffTicket.Status.OPEN, HandoffTicket.Status.CLAIMED]).update(
            status=HandoffTicket.Status.RESOLVED, resolved_at=locked.closed_at
        )
    logger.info("conversation %s closed as %s", locked.pk, outcome)
    return locked


def conversation_hand_off(*, conversation: Conversation, reason: HandoffTicket.Reason) -> HandoffTicket:
    """Move the conversation to waiting and open a ticket (one open ticket per conversation)."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.status == Conversation.Status.CLOSED:
            raise ApplicationError("This conversation is closed.")
        open_ticket = locked.tickets.filter(
            status__in=[HandoffTicket.Status.OPEN, HandoffTicket.Status.CLAIMED]
        ).first()
        if open_ticket:
            return open_ticket
        if locked.status == Conversation.Status.BOT:
            locked.status = Conversation.Status.WAITING
            locked.save(update_fields=["status", "updated_at"])
        return HandoffTicket.objects.create(conversation=locked, reason=reason)


def chat_session_open(
    *, store_slug: str, visitor_token: str = "", conversation_id: int | None = None
) -> tuple[Store, Visitor, Conversation]:
    """The visitor (new when the token is unknown) and their open conversation (new when none)."""
    store = Store.objects.filter(slug=store_slug).first()
    if store is None:
        raise ApplicationError(f"Unknown store {store_slug!r}.")
    visitor = Visitor.objects.filter(store=store, token=visitor_token).first() if visitor_token else None
    if visitor is None:
        visitor = visitor_create(store=store)
    visitor.last_seen_at = timezone.now()
    visitor.save(update_fields=["last_seen_at", "updated_at"])
    open_conversations = visitor.conversations.exclude(status=Conversation.Status.CLOSED).order_by("-created_at")
    conversation = None
    if conversation_id is not None:
        conversation = open_conversations.filter(pk=conversation_id).first()
    conversation = conversation or open_conversations.first() or conversation_start(store=store, visitor=visitor)
    return store, visitor, conversation


def answer_request_build(*, conversation: Conversation, question: Message, job_id: str) -> GenerationRequest:
    """The generation job for a shopper's question: store prefix, recent turns, the question."""
    store = conversation.store
    persona = StorePersona(
        name=store.name, assistant_name=store.assistant_name, persona=store.persona, boundaries=store.boundaries
    )
    earlier = (
        conversation.messages.filter(
            pk__lt=question.pk, role__in=[Message.Role.CUSTOMER, Message.Role.BOT, Message.Role.AGENT]
        )
        .exclude(text="")
        .order_by("-pk")[: settings.CHAT_HISTORY_TURNS * 2]
    )
    history = [Turn(role="user" if m.role == Message.Role.CUSTOMER else "assistant", text=m.text) for m in earlier]
    history.reverse()
    return GenerationRequest(
        job_id=job_id,
        conversation_key=str(conversation.pk),
        messages=build_messages(prefix=store_prefix(persona), history=history, question=question.text),
        max_tokens=settings.ENGINE_MAX_TOKENS,
        max_seconds=settings.ENGINE_MAX_SECONDS,
    )


def message_record_answer(
    *,
    conversation_id: int,
    job_id: str,
    text: str,
    source: str,
    partial: bool = False,
    flags: list[str] | None = None,
    stats: dict[str, Any] | None = None,
) -> Message:
    """Record the bot's answer to a job once; whoever records first (engine or watchdog) wins."""
    stats = stats or {}
    key = f"job:{job_id}"
    existing = Message.objects.filter(conversation_id=conversation_id, client_id=key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Message.objects.create(
                conversation_id=conversation_id,
                role=Message.Role.BOT,
                text=text,
                client_id=key,
                source=source,
                partial=partial,
                flags=flags or [],
                ttft_ms=stats.get("ttft_ms"),
                total_ms=stats.get("total_ms"),
                prompt_tokens=stats.get("prompt_tokens"),
                completion_tokens=stats.get("completion_tokens"),
            )
    except IntegrityError:
        return Message.objects.get(conversation_id=conversation_id, client_id=key)
