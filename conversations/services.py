import hashlib
import hmac
import logging
import queue
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http.request import split_domain_port, validate_host
from django.utils import timezone

from config.exceptions import ApplicationError
from conversations.models import CSAT, Conversation, HandoffTicket, Message, Visitor
from engine.generate import AnswerStream, GenerationEvent, GenerationRequest
from engine.pipeline import Decision, decide
from engine.prompt import Turn, build_messages, store_prefix
from engine.service import get_scheduler
from kb.models import FaqEntry, Store
from kb.selectors import store_snapshot

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


def conversation_hand_off(
    *, conversation: Conversation, reason: HandoffTicket.Reason, matched: list[dict[str, Any]] | None = None
) -> HandoffTicket:
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
        return HandoffTicket.objects.create(conversation=locked, reason=reason, matched=matched or [])


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


@dataclass(frozen=True)
class PreparedAnswer:
    """What to do about a shopper's question: an answer already recorded, or a job for the engine."""

    decision: Decision | None  # None: a human has the conversation, the bot stays silent
    reply: Message | None = None
    request: GenerationRequest | None = None
    ticket: HandoffTicket | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _history(*, conversation: Conversation, before: Message) -> list[Turn]:
    earlier = (
        conversation.messages.filter(
            pk__lt=before.pk, role__in=[Message.Role.CUSTOMER, Message.Role.BOT, Message.Role.AGENT]
        )
        .exclude(text="")
        .order_by("-pk")[: settings.CHAT_HISTORY_TURNS * 2]
    )
    turns = [
        Turn(role="user", text=m.prompt or m.text) if m.role == Message.Role.CUSTOMER else Turn("assistant", m.text)
        for m in earlier
    ]
    turns.reverse()
    return turns


def answer_prepare(*, conversation: Conversation, question: Message, job_id: str) -> PreparedAnswer:
    """Run the pipeline up to generation. Direct answers (FAQ, templates, handoffs) are recorded here."""
    started = time.monotonic()
    conversation.refresh_from_db(fields=["status"])
    if conversation.status in (Conversation.Status.HUMAN, Conversation.Status.CLOSED):
        # A human has the conversation: the bot does not talk over them. While the shopper only
        # waits for one, the bot keeps answering what it can.
        return PreparedAnswer(decision=None)
    snapshot = store_snapshot(store=conversation.store)
    decision = decide(store=snapshot, question=question.text)
    if decision.kind == "direct":
        elapsed = int((time.monotonic() - started) * 1000)
        reply = message_record_answer(
            conversation_id=conversation.pk,
            job_id=job_id,
            text=decision.text,
            source=decision.source,
            flags=[decision.route],
            matched=list(decision.matched),
            stats={"ttft_ms": elapsed, "total_ms": elapsed},
        )
        if decision.faq_id is not None:
            FaqEntry.objects.filter(pk=decision.faq_id).update(hit_count=F("hit_count") + 1)
        ticket = None
        if decision.handoff:
            ticket = conversation_hand_off(
                conversation=conversation,
                reason=HandoffTicket.Reason(decision.handoff_reason),
                matched=list(decision.matched),
            )
        return PreparedAnswer(decision=decision, reply=reply, ticket=ticket)
    question.prompt = decision.user_content
    question.save(update_fields=["prompt", "updated_at"])
    request = GenerationRequest(
        job_id=job_id,
        conversation_key=str(conversation.pk),
        messages=build_messages(
            prefix=store_prefix(snapshot),
            history=_history(conversation=conversation, before=question),
            user_content=decision.user_content,
        ),
        max_tokens=settings.ENGINE_MAX_TOKENS,
        max_seconds=settings.ENGINE_MAX_SECONDS,
    )
    meta = {
        "conversation_id": conversation.pk,
        "question_id": question.pk,
        "store_id": snapshot.store_id,
        "reference": decision.reference,
        "matched": list(decision.matched),
    }
    return PreparedAnswer(decision=decision, request=request, meta=meta)


def message_record_answer(
    *,
    conversation_id: int,
    job_id: str,
    text: str,
    source: str,
    partial: bool = False,
    flags: list[str] | None = None,
    matched: list[dict[str, Any]] | None = None,
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
                matched=matched or [],
                ttft_ms=stats.get("ttft_ms"),
                total_ms=stats.get("total_ms"),
                prompt_tokens=stats.get("prompt_tokens"),
                completion_tokens=stats.get("completion_tokens"),
            )
    except IntegrityError:
        return Message.objects.get(conversation_id=conversation_id, client_id=key)


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
    job_id = uuid.uuid4().hex
    prepared = answer_prepare(conversation=conversation, question=question, job_id=job_id)
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
    return {**result, **_generate_now(store=conversation.store, prepared=prepared, started=started)}


def _generate_now(*, store: Store, prepared: PreparedAnswer, started: float) -> dict[str, Any]:
    from engine.guard import StreamGuard

    assert prepared.request is not None
    stream = AnswerStream(StreamGuard(store_snapshot(store=store), reference=prepared.meta["reference"]))
    events: queue.Queue[GenerationEvent] = queue.Queue()
    job_id = prepared.request.job_id
    if not get_scheduler().submit(prepared.request, events.put):
        events.put(GenerationEvent(job_id=job_id, kind="done", finish_reason="busy"))
    ttft_ms = None
    while True:
        event = events.get(timeout=prepared.request.max_seconds + 60)
        if event.kind == "delta" and stream.feed(event.text) and ttft_ms is None:
            ttft_ms = int((time.monotonic() - started) * 1000)
        elif event.kind == "done":
            tail, answer = stream.finish(event)
            if tail and ttft_ms is None:
                ttft_ms = int((time.monotonic() - started) * 1000)
            break
    total_ms = int((time.monotonic() - started) * 1000)
    stats = {**event.stats.to_dict(), "ttft_ms": ttft_ms, "total_ms": total_ms}
    message = message_record_answer(
        conversation_id=prepared.meta["conversation_id"],
        job_id=job_id,
        text=answer["text"],
        source=answer["source"],
        partial=answer["partial"],
        flags=answer["flags"],
        matched=prepared.meta["matched"],
        stats=stats,
    )
    return {
        "answer": message.text,
        "source": message.source,
        "flags": message.flags,
        "ttft_ms": ttft_ms,
        "total_ms": total_ms,
    }


# --- the chat widget ---------------------------------------------------------------------------------


def visitor_verify(*, store: Store, customer_id: str, signature: str) -> bool:
    """Whether `signature` is the hex HMAC-SHA256 of `customer_id` under the store's widget secret."""
    if not customer_id or not signature or len(customer_id) > 128:
        return False
    expected = hmac.new(store.widget_secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


@dataclass(frozen=True)
class WidgetSession:
    store: Store
    visitor: Visitor
    conversation: Conversation
    verified: bool
    identity_refused: bool  # a customer id came with a signature that does not match


def widget_session_open(
    *,
    store_slug: str,
    visitor_token: str = "",
    customer_id: str = "",
    signature: str = "",
    conversation_id: int | None = None,
) -> WidgetSession:
    """Open the widget's chat: a verified customer by (store, customer id), else an anonymous visitor.

    An anonymous token never opens a verified customer's visitor, so a stolen or left-over token
    does not reveal a signed-in customer's history; a bad signature falls back to anonymous.
    """
    store = Store.objects.filter(slug=store_slug).first()
    if store is None:
        raise ApplicationError(f"Unknown store {store_slug!r}.")
    verified = visitor_verify(store=store, customer_id=customer_id, signature=signature)
    if verified:
        visitor = Visitor.objects.filter(store=store, customer_id=customer_id).first()
        if visitor is None:
            try:
                with transaction.atomic():
                    visitor = visitor_create(store=store, customer_id=customer_id)
            except IntegrityError:
                visitor = Visitor.objects.get(store=store, customer_id=customer_id)
        token = visitor.token
    else:
        anonymous = Visitor.objects.filter(store=store, token=visitor_token, customer_id="").exists()
        token = visitor_token if visitor_token and anonymous else ""
    store, visitor, conversation = chat_session_open(
        store_slug=store_slug, visitor_token=token, conversation_id=conversation_id
    )
    return WidgetSession(
        store=store,
        visitor=visitor,
        conversation=conversation,
        verified=verified,
        identity_refused=bool(customer_id) and not verified,
    )


def message_feedback_set(*, conversation: Conversation, message_id: int, value: str, comment: str = "") -> Message:
    """Thumbs up or down on one of the bot's answers in this conversation; a later vote replaces it."""
    if value not in Message.Feedback.values:
        raise ApplicationError('Feedback is "up" or "down".')
    if len(comment) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ApplicationError(f"The comment is too long (at most {settings.CHAT_MAX_MESSAGE_CHARS} characters).")
    message = conversation.messages.filter(pk=message_id, role=Message.Role.BOT).first()
    if message is None:
        raise ApplicationError("Only the bot's answers in this conversation can be rated.")
    message.feedback = value
    message.feedback_comment = comment.strip()
    message.save(update_fields=["feedback", "feedback_comment", "updated_at"])
    return message


def csat_submit(*, conversation: Conversation, score: int, comment: str = "") -> CSAT:
    """The shopper's 1-5 satisfaction rating; one per conversation."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ApplicationError("The rating is a whole number from 1 to 5.")
    if len(comment) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ApplicationError(f"The comment is too long (at most {settings.CHAT_MAX_MESSAGE_CHARS} characters).")
    try:
        with transaction.atomic():
            return CSAT.objects.create(conversation=conversation, score=score, comment=comment.strip())
    except IntegrityError:
        raise ApplicationError("This conversation has already been rated.") from None


def conversation_request_human(*, conversation: Conversation) -> tuple[HandoffTicket, Message | None]:
    """The shopper pressed 转人工: open a ticket and say the store's handoff message (once per ticket)."""
    already = conversation.tickets.filter(status__in=[HandoffTicket.Status.OPEN, HandoffTicket.Status.CLAIMED]).first()
    ticket = conversation_hand_off(conversation=conversation, reason=HandoffTicket.Reason.SHOPPER_ASKED)
    if already is not None:
        return ticket, None
    text = conversation.store.handoff_message or "正在为您转接人工客服，请稍候。"
    reply = message_record_answer(
        conversation_id=conversation.pk,
        job_id=uuid.uuid4().hex,
        text=text,
        source=Message.Source.HANDOFF,
        flags=["shopper_asked"],
    )
    return ticket, reply


def conversation_close_by_shopper(*, conversation: Conversation) -> Conversation:
    """The shopper ended the chat: bot_resolved unless it was ever handed off."""
    handed_off = conversation.tickets.exists()
    outcome = Conversation.Outcome.HANDED_OFF if handed_off else Conversation.Outcome.BOT_RESOLVED
    return conversation_close(conversation=conversation, outcome=outcome)


def store_origin_allowed(*, store: Store, origin: str, host: str) -> bool:
    """The page's origin is one of the store's, or this server's own (the chat page, the demo page).

    Own means: the origin names the host the request came to, and that host is one Django serves,
    so a foreign name pointed at this server (DNS rebinding) is still refused.
    """
    origin = origin.strip().rstrip("/").lower()
    if not origin or origin == "null":
        return False
    if origin in {o.strip().rstrip("/").lower() for o in store.allowed_origins if isinstance(o, str)}:
        return True
    host = host.strip().lower()
    parts = urlsplit(origin)
    domain, _port = split_domain_port(host)
    return bool(
        parts.scheme in ("http", "https")
        and host
        and parts.netloc == host
        and validate_host(domain, settings.ALLOWED_HOSTS)
    )
