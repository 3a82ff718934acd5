import hashlib
import hmac
import logging
import queue
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http.request import split_domain_port, validate_host
from django.utils import timezone

from config.exceptions import ApplicationError
from conversations import realtime
from conversations.models import CSAT, AgentPresence, Conversation, HandoffTicket, Message, Visitor
from engine.generate import AnswerStream, GenerationEvent, GenerationRequest, engine_job_key
from engine.knowledge import StoreSnapshot
from engine.pipeline import DEFAULT_HANDOFF, Decision, decide, related_entries
from engine.prompt import Turn, build_messages, store_prefix
from engine.service import get_scheduler
from kb.hours import hours_text, is_open
from kb.models import FaqEntry, Store
from kb.selectors import store_list_for_user, store_snapshot

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
            message = Message.objects.create(
                conversation=conversation, role=Message.Role.CUSTOMER, text=text, client_id=client_id or None
            )
    except IntegrityError:
        # A concurrent re-send of the same client id won the race: hand back its row.
        return conversation.messages.get(client_id=client_id)
    realtime.push_message(message)
    return message


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
        open_tickets = list(locked.tickets.filter(status__in=[HandoffTicket.Status.OPEN, HandoffTicket.Status.CLAIMED]))
        for ticket in open_tickets:
            ticket.status = HandoffTicket.Status.RESOLVED
            ticket.resolved_at = locked.closed_at
            ticket.save(update_fields=["status", "resolved_at", "updated_at"])
            realtime.push_ticket(ticket, store_id=locked.store_id)
        realtime.push_status(locked)
        _cancel_answers(conversation=locked)
    logger.info("conversation %s closed as %s", locked.pk, outcome)
    return locked


def conversation_hand_off(
    *, conversation: Conversation, reason: HandoffTicket.Reason, matched: list[dict[str, Any]] | None = None
) -> HandoffTicket:
    """Move the conversation to waiting and open a ticket (one open ticket per conversation).

    The ticket carries the knowledge-base entries the shopper's recent messages are about, so the
    agent sees them and gets suggested replies from them; agents' consoles are told at once.
    """
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
        if not matched:
            matched = _recent_entries(conversation=locked)
        ticket = HandoffTicket.objects.create(conversation=locked, reason=reason, matched=matched or [])
        realtime.push_ticket(ticket, store_id=locked.store_id)
        realtime.push_status(locked, **handoff_status_extra(conversation=locked, ticket=ticket))
    logger.info("conversation %s handed off (%s), ticket %s", locked.pk, reason, ticket.pk)
    return ticket


def _recent_entries(*, conversation: Conversation) -> list[dict[str, Any]]:
    texts = list(
        conversation.messages.filter(role=Message.Role.CUSTOMER).order_by("-pk").values_list("text", flat=True)[:3]
    )
    return [dict(e) for e in related_entries(store=store_snapshot(store=conversation.store), texts=texts)]


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
    if conversation.status == Conversation.Status.WAITING:
        left = _contact_from_message(conversation=conversation, question=question, job_id=job_id, started=started)
        if left is not None:
            return left
    snapshot = store_snapshot(store=conversation.store)
    decision = decide(store=snapshot, question=question.text)
    if decision.kind == "direct":
        text = decision.text
        if decision.handoff:
            text = _handoff_text(store=conversation.store, text=text, conversation=conversation)
        elapsed = int((time.monotonic() - started) * 1000)
        reply = message_record_answer(
            conversation_id=conversation.pk,
            job_id=job_id,
            text=text,
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
    request, meta = _generation_job(
        conversation=conversation,
        snapshot=snapshot,
        question=question,
        decision=decision,
        job_id=job_id,
        key=str(conversation.pk),
    )
    # A re-send of this question from another tab or after a reconnect must not start a second answer,
    # and an agent taking over must be able to stop it, whichever connection asked.
    ttl = int(settings.ENGINE_MAX_SECONDS + settings.ENGINE_STALL_SECONDS) + 30
    cache.set(_in_flight_key(question.pk), job_id, timeout=ttl)
    cache.set(_jobs_key(conversation.pk), [*(cache.get(_jobs_key(conversation.pk)) or [])[-4:], job_id], timeout=ttl)
    return PreparedAnswer(decision=decision, request=request, meta={**meta, "question_id": question.pk})


def _generation_job(
    *,
    conversation: Conversation,
    snapshot: StoreSnapshot,
    question: Message,
    decision: Decision,
    job_id: str,
    key: str,
) -> tuple[GenerationRequest, dict[str, Any]]:
    """The engine job that answers `question` (the conversation's turns before it as history), and the
    meta the engine worker needs to guard and record the answer."""
    request = GenerationRequest(
        job_id=job_id,
        conversation_key=key,
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
        "store_id": snapshot.store_id,
        "reference": decision.reference,
        "question": decision.question,
        "matched": list(decision.matched),
    }
    return request, meta


def _in_flight_key(question_id: int) -> str:
    return f"chat:answering:{question_id}"


def _jobs_key(conversation_id: int) -> str:
    return f"chat:jobs:{conversation_id}"


def question_answered_or_in_flight(*, question: Message) -> bool:
    """Whether the bot has answered this question, or an answer to it is being generated right now."""
    if question.conversation.messages.filter(pk__gt=question.pk, role=Message.Role.BOT).exists():
        return True
    return cache.get(_in_flight_key(question.pk)) is not None


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


def answer_record_generated(
    *, meta: dict[str, Any], job_id: str, answer: dict[str, Any], stats: dict[str, Any]
) -> tuple[Message, HandoffTicket | None]:
    """Record a streamed answer; when the guardrail had to replace a claim, a human follows up."""
    conversation_id = int(meta["conversation_id"])
    message = message_record_answer(
        conversation_id=conversation_id,
        job_id=job_id,
        text=answer["text"],
        source=answer["source"],
        partial=answer["partial"],
        flags=answer["flags"],
        matched=meta.get("matched") or [],
        stats=stats,
    )
    ticket = None
    if message.source == Message.Source.GUARDRAIL:
        conversation = Conversation.objects.get(pk=conversation_id)
        if conversation.status in (Conversation.Status.BOT, Conversation.Status.WAITING):
            ticket = conversation_hand_off(
                conversation=conversation, reason=HandoffTicket.Reason.GUARDRAIL, matched=meta.get("matched") or []
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
    guard = StreamGuard(
        store_snapshot(store=store), reference=prepared.meta["reference"], question=prepared.meta.get("question", "")
    )
    stream = AnswerStream(guard)
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
    message, ticket = answer_record_generated(meta=prepared.meta, job_id=job_id, answer=answer, stats=stats)
    return {
        "answer": message.text,
        "source": message.source,
        "handoff": ticket is not None,
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
    text = _handoff_text(store=conversation.store, text=conversation.store.handoff_message.strip() or DEFAULT_HANDOFF)
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


# --- human agents ------------------------------------------------------------------------------------

AGENT_PRESENCE_SECONDS = 60  # a console refreshes its presence every 20 s; a row older than this is gone


@dataclass(frozen=True)
class HandoffAvailability:
    agents: str  # online | offline | after_hours
    hours: str  # the store's business hours for shoppers, "" when none are set


def handoff_availability(*, store: Store) -> HandoffAvailability:
    """Whether a person can take a chat now: within business hours and with an agent console open."""
    hours = hours_text(store.business_hours)
    if not is_open(store.business_hours):
        return HandoffAvailability(agents="after_hours", hours=hours)
    fresh = timezone.now() - timedelta(seconds=AGENT_PRESENCE_SECONDS)
    online = AgentPresence.objects.filter(last_seen_at__gte=fresh, user__is_active=True).filter(
        Q(user__is_superuser=True) | Q(user__stores=store)
    )
    return HandoffAvailability(agents="online" if online.exists() else "offline", hours=hours)


def handoff_status_extra(*, conversation: Conversation, ticket: HandoffTicket | None = None) -> dict[str, Any]:
    """What the widget shows while the shopper waits: whether someone can come, and whether to ask for a contact."""
    if conversation.status != Conversation.Status.WAITING:
        return {}
    if ticket is None:
        ticket = conversation.tickets.filter(status=HandoffTicket.Status.OPEN).first()
    availability = handoff_availability(store=conversation.store)
    contact = ticket.contact if ticket is not None else ""
    return {
        "agents": availability.agents,
        "hours": availability.hours,
        "contact": contact,
        "contact_needed": ticket is not None and availability.agents != "online" and not contact,
    }


def _handoff_text(*, store: Store, text: str, conversation: Conversation | None = None) -> str:
    """The handoff reply; when nobody can come, the store's offline message (asking for a contact) instead.

    Asked again while a request is already open, the shopper hears where it stands, not the same speech.
    """
    availability = handoff_availability(store=store)
    ticket = (
        conversation.tickets.filter(status__in=[HandoffTicket.Status.OPEN, HandoffTicket.Status.CLAIMED]).first()
        if conversation is not None
        else None
    )
    if ticket is not None and availability.agents == "online":
        return ALREADY_WAITING_TEXT
    if ticket is not None and ticket.contact:
        return CONTACT_SAVED_TEXT.format(contact=ticket.contact)
    if availability.agents == "online":
        return text
    offline = store.offline_message.strip() or OFFLINE_FALLBACK
    handoff = store.handoff_message.strip() or DEFAULT_HANDOFF
    if availability.agents == "after_hours" and availability.hours and availability.hours not in offline:
        offline = f"{offline}（人工服务时间：{availability.hours}）"
    # Keep what came before the handoff sentence (an apology for a complaint, "I'm not sure").
    return text.replace(handoff, offline) if handoff in text else offline


ALREADY_WAITING_TEXT = "已经在为您转接人工客服了，请稍候，您也可以先把问题描述一下。"
OFFLINE_FALLBACK = "现在暂时没有人工客服在线。请留下您的手机号、微信号或邮箱，客服上线后会第一时间联系您。"
CONTACT_SAVED_TEXT = "已记下您的联系方式：{contact}。客服上线后会第一时间联系您，您也可以继续留言。"
# Contacts inside what a shopper writes: a mainland mobile (any spacing), a landline with its area
# code, an e-mail address, or a WeChat id / QQ number after a label (a bare word is too easily an
# ordinary one: "微信iPhone版" is no id, so an unlabelled-looking id needs a digit or an underscore).
_MOBILE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[\s.-]?)?1[3-9](?:[\s.-]?\d){9}(?!\d)")
_LANDLINE = re.compile(r"(?<![0-9A-Za-z])\(?0\d{2,3}\)?[\s-]?\d{3,4}[\s-]?\d{4}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}")
_WECHAT_ID = r"[A-Za-z][-_A-Za-z0-9]{5,19}(?![-_A-Za-z0-9])"
_WECHAT_LABEL = r"(?:微信|(?<![A-Za-z])(?:weixin|wechat|wx|vx)(?![A-Za-z]))"
_LABELLED_WECHAT = re.compile(
    rf"{_WECHAT_LABEL}\s*(?:号|id)?\s*(?:是|为|:|：|is\b)\s*({_WECHAT_ID})"
    rf"|{_WECHAT_LABEL}\s*(?:号|id)?\s*((?=[-_A-Za-z0-9]*[\d_])[A-Za-z][-_A-Za-z0-9]{{5,19}}(?![-_A-Za-z0-9]))",
    re.I,
)
_LABELLED_QQ = re.compile(r"(?<![A-Za-z])qq\s*号?\s*(?:是|为|:|：)?\s*([1-9]\d{4,11})(?!\d)", re.I)
_BARE_WECHAT = re.compile(rf"^{_WECHAT_ID}$")
# A message asking something is a question that happens to hold a number, unless it says "my phone is".
_ASKING = re.compile(r"吗|？|\?|怎么|能不能|可不可以|可以.{0,6}吗|为什么|多少|哪")
_MY_CONTACT = re.compile(r"(我的|我)(手机|电话|微信|邮箱|联系方式|qq)|联系方式", re.I)
CONTACT_MESSAGE_MAX_CHARS = 60


def contact_find(text: str, *, form: bool = False) -> str | None:
    """The phone number, e-mail address, WeChat id or QQ number in what the shopper wrote, or None.

    `form`: typed into the contact form, where a bare WeChat id needs no label.
    """
    text = text.strip()
    if not text or len(text) > 200:
        return None
    labelled = _LABELLED_WECHAT.search(text) or _LABELLED_QQ.search(text)
    if labelled:
        return next(group for group in labelled.groups() if group)
    for pattern in (_MOBILE, _EMAIL, _LANDLINE):
        found = pattern.search(text)
        if found:
            return found.group(0).strip()
    if form and _BARE_WECHAT.match(text):
        return text
    return None


def contact_in_message(text: str) -> str | None:
    """A contact a waiting shopper typed as a message; a question that merely holds a number is none."""
    if len(text) > CONTACT_MESSAGE_MAX_CHARS or (_ASKING.search(text) and not _MY_CONTACT.search(text)):
        return None
    return contact_find(text)


def ticket_contact_set(*, conversation: Conversation, value: str, found: bool = False) -> HandoffTicket:
    """The shopper left a phone number, WeChat id or e-mail on their open ticket (`found`: already
    taken out of a message, kept as it is)."""
    if not isinstance(value, str) or len(value) > 200:
        raise ApplicationError("请留下手机号、微信号或邮箱（最多 200 个字符）。")
    contact = value if found else contact_find(value, form=True)
    if contact is None:
        raise ApplicationError("这看起来不像手机号、微信号或邮箱，请再检查一下。")
    with transaction.atomic():
        ticket = (
            HandoffTicket.objects.select_for_update()
            .filter(conversation=conversation, status__in=[HandoffTicket.Status.OPEN, HandoffTicket.Status.CLAIMED])
            .first()
        )
        if ticket is None:
            raise ApplicationError("There is no open request for a human in this conversation.")
        ticket.contact = contact
        ticket.save(update_fields=["contact", "updated_at"])
        realtime.push_ticket(ticket, store_id=conversation.store_id)
        # Every tab of the conversation stops asking for it, however it was left (form or message).
        conversation.refresh_from_db(fields=["status"])
        realtime.push_status(conversation, **handoff_status_extra(conversation=conversation, ticket=ticket))
    return ticket


def _contact_from_message(
    *, conversation: Conversation, question: Message, job_id: str, started: float
) -> PreparedAnswer | None:
    """A shopper asked to leave a contact may just type it: keep it on the ticket (a newer one replaces it)."""
    ticket = conversation.tickets.filter(status=HandoffTicket.Status.OPEN).first()
    contact = contact_in_message(question.text) if ticket is not None else None
    if ticket is None or contact is None or handoff_availability(store=conversation.store).agents == "online":
        return None
    ticket = ticket_contact_set(conversation=conversation, value=contact, found=True)
    elapsed = int((time.monotonic() - started) * 1000)
    reply = message_record_answer(
        conversation_id=conversation.pk,
        job_id=job_id,
        text=CONTACT_SAVED_TEXT.format(contact=contact),
        source=Message.Source.TEMPLATE,
        flags=["contact_saved"],
        stats={"ttft_ms": elapsed, "total_ms": elapsed},
    )
    decision = Decision(kind="direct", route="contact", text=reply.text, source=Message.Source.TEMPLATE)
    return PreparedAnswer(decision=decision, reply=reply)


def _agent_online(*, user_id: int | None) -> bool:
    fresh = timezone.now() - timedelta(seconds=AGENT_PRESENCE_SECONDS)
    return user_id is not None and AgentPresence.objects.filter(user_id=user_id, last_seen_at__gte=fresh).exists()


def _tell_waiting_shoppers(*, stores: Any) -> None:
    """Shoppers waiting for a person in these stores learn whether someone can come now (the contact form)."""
    waiting = Conversation.objects.filter(store__in=stores, status=Conversation.Status.WAITING).select_related("store")
    for conversation in waiting[:500]:
        realtime.push_status(conversation, **handoff_status_extra(conversation=conversation))


def agent_presence_enter(*, user: Any, channel_name: str) -> None:
    with transaction.atomic():
        AgentPresence.objects.update_or_create(
            channel_name=channel_name, defaults={"user": user, "last_seen_at": timezone.now()}
        )
        _tell_waiting_shoppers(stores=store_list_for_user(user=user))


def agent_presence_touch(*, channel_name: str) -> None:
    AgentPresence.objects.filter(channel_name=channel_name).update(last_seen_at=timezone.now())


def agent_presence_leave(*, channel_name: str) -> None:
    AgentPresence.objects.filter(channel_name=channel_name).delete()
    # Rows of servers that died without saying goodbye go too.
    AgentPresence.objects.filter(last_seen_at__lt=timezone.now() - timedelta(seconds=AGENT_PRESENCE_SECONDS)).delete()


def agent_away(*, user_id: int) -> int:
    """An agent closed their last console (and did not come back within the grace period).

    Their conversations go back to waiting (the bot answers again meanwhile, colleagues can claim them)
    and shoppers of stores left without anyone are told so. Returns how many were released.
    """
    if _agent_online(user_id=user_id):
        return 0
    released = 0
    with transaction.atomic():
        claimed = HandoffTicket.objects.filter(agent_id=user_id, status=HandoffTicket.Status.CLAIMED)
        for conversation_id in list(claimed.values_list("conversation_id", flat=True)):
            conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
            ticket = conversation.tickets.select_for_update().filter(status=HandoffTicket.Status.CLAIMED).first()
            if ticket is None or ticket.agent_id != user_id or conversation.status != Conversation.Status.HUMAN:
                continue
            ticket.status = HandoffTicket.Status.OPEN
            ticket.save(update_fields=["status", "updated_at"])
            conversation.status = Conversation.Status.WAITING
            conversation.save(update_fields=["status", "updated_at"])
            _system_message(conversation=conversation, text="人工客服暂时离开了，正在为您重新转接。")
            realtime.push_ticket(ticket, store_id=conversation.store_id)
            released += 1
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is not None:
            _tell_waiting_shoppers(stores=store_list_for_user(user=user))
    if released:
        logger.info("agent %s left: %s conversations back to waiting", user_id, released)
    return released


def _agent_conversation(*, agent: Any, conversation_id: Any, lock: bool = False) -> Conversation:
    """A conversation of one of the agent's stores; any other is "not found", never "forbidden"."""
    if isinstance(conversation_id, bool) or not isinstance(conversation_id, int):
        raise ApplicationError("请用编号（数字）指明对话。")
    conversations = Conversation.objects.filter(store__in=store_list_for_user(user=agent))
    if lock:
        conversations = conversations.select_for_update()
    conversation = conversations.filter(pk=conversation_id).first()
    if conversation is None:
        raise ApplicationError(f"您的店铺里没有对话 {conversation_id}。")
    return conversation


def _claimed_ticket(*, conversation: Conversation, agent: Any) -> HandoffTicket:
    ticket = conversation.tickets.select_for_update().filter(status=HandoffTicket.Status.CLAIMED).first()
    if ticket is None:
        raise ApplicationError("请先认领这个对话的工单。")
    if ticket.agent_id != agent.pk:
        raise ApplicationError(f"这个对话正由{agent_name_of(ticket)}处理。")
    return ticket


def agent_name_of(ticket: HandoffTicket) -> str:
    """The claiming agent as colleagues know them."""
    if not ticket.agent_id or ticket.agent is None:
        return "其他客服"
    return str(ticket.agent.first_name or ticket.agent.get_username())


def _system_message(*, conversation: Conversation, text: str, agent: Any = None) -> Message:
    message = Message.objects.create(conversation=conversation, role=Message.Role.SYSTEM, text=text, agent=agent)
    realtime.push_message(message)
    return message


def ticket_claim(*, ticket_id: Any, agent: Any) -> HandoffTicket:
    """An agent takes the conversation: the bot falls silent (its answer in flight is cancelled).

    A ticket a colleague claimed can be taken over once that colleague has no console open.
    """
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int):
        raise ApplicationError("请用编号（数字）指明工单。")
    mine = HandoffTicket.objects.filter(pk=ticket_id, conversation__store__in=store_list_for_user(user=agent))
    conversation_id = mine.values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        raise ApplicationError(f"您的店铺里没有工单 {ticket_id}。")
    with transaction.atomic():
        # The conversation first, then the ticket: the same order as closing, so the two never deadlock.
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        ticket = HandoffTicket.objects.select_for_update(of=("self",)).select_related("agent").get(pk=ticket_id)
        if ticket.status == HandoffTicket.Status.CLAIMED and ticket.agent_id == agent.pk:
            return ticket
        if ticket.status == HandoffTicket.Status.RESOLVED or conversation.status == Conversation.Status.CLOSED:
            raise ApplicationError("这个工单已经处理完毕。")
        taking_over = ticket.status == HandoffTicket.Status.CLAIMED
        if taking_over and _agent_online(user_id=ticket.agent_id):
            raise ApplicationError(f"这个对话已被{agent_name_of(ticket)}认领。")
        ticket.status = HandoffTicket.Status.CLAIMED
        ticket.agent = agent
        ticket.claimed_at = timezone.now()
        ticket.save(update_fields=["status", "agent", "claimed_at", "updated_at"])
        conversation.status = Conversation.Status.HUMAN
        conversation.save(update_fields=["status", "updated_at"])
        name = realtime.agent_display_name(agent)
        _system_message(
            conversation=conversation,
            text=f"人工客服{name}{'接手' if taking_over else ''}为您服务",
            agent=agent,
        )
        realtime.push_ticket(ticket, store_id=conversation.store_id)
        realtime.push_status(conversation)
        _cancel_answers(conversation=conversation)
    logger.info("ticket %s claimed by %s", ticket.pk, agent.pk)
    return ticket


def _cancel_answers(*, conversation: Conversation) -> None:
    """Stop the bot's answers being generated for this conversation, wherever their engine runs."""
    for job_id in cache.get(_jobs_key(conversation.pk)) or []:
        realtime.cancel_generation(job_id=job_id, engine_channel=cache.get(engine_job_key(job_id)))


def message_create_agent(*, conversation_id: Any, agent: Any, text: Any, client_id: Any = None) -> Message:
    """The agent's reply to the shopper, recorded with role agent; re-sending a client id returns the first copy."""
    if not isinstance(text, str) or (client_id is not None and not isinstance(client_id, str)):
        raise ApplicationError("回复需要文本（以及可选的 client_id），都是字符串。")
    text = text.strip()
    if not text:
        raise ApplicationError("回复是空的。")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ApplicationError(f"回复太长了（{len(text)} 字，最多 {settings.CHAT_MAX_MESSAGE_CHARS} 字）。")
    if client_id is not None and not 0 < len(client_id) <= 56:
        raise ApplicationError("client_id 须为 1 到 56 个字符。")
    # Agents' ids live in their own space: a shopper cannot pick one that swallows an agent's reply.
    key = f"agent:{client_id}" if client_id else None
    with transaction.atomic():
        conversation = _agent_conversation(agent=agent, conversation_id=conversation_id, lock=True)
        if key:
            existing = conversation.messages.filter(client_id=key).first()
            if existing is not None:
                return existing
        if conversation.status != Conversation.Status.HUMAN:
            raise ApplicationError("请先认领对话再回复。")
        _claimed_ticket(conversation=conversation, agent=agent)
        message = Message.objects.create(
            conversation=conversation,
            role=Message.Role.AGENT,
            source=Message.Source.AGENT,
            text=text,
            client_id=key,
            agent=agent,
        )
        realtime.push_message(message)
    return message


def conversation_hand_back(*, conversation_id: Any, agent: Any) -> Conversation:
    """The agent is done: the ticket is resolved and the bot answers again, with the agent's turns in its history."""
    with transaction.atomic():
        conversation = _agent_conversation(agent=agent, conversation_id=conversation_id, lock=True)
        if conversation.status != Conversation.Status.HUMAN:
            raise ApplicationError("只有人工正在处理的对话才能交还机器人。")
        ticket = _claimed_ticket(conversation=conversation, agent=agent)
        ticket.status = HandoffTicket.Status.RESOLVED
        ticket.resolved_at = timezone.now()
        ticket.save(update_fields=["status", "resolved_at", "updated_at"])
        conversation.status = Conversation.Status.BOT
        conversation.save(update_fields=["status", "updated_at"])
        name = conversation.store.assistant_name
        _system_message(conversation=conversation, text=f"已转回智能客服{name}，有需要可随时再找人工客服", agent=agent)
        realtime.push_ticket(ticket, store_id=conversation.store_id)
        realtime.push_status(conversation)
    logger.info("conversation %s handed back to the bot by %s", conversation.pk, agent.pk)
    return conversation


def conversation_close_by_agent(*, conversation_id: Any, agent: Any) -> Conversation:
    """The agent ends the chat: it closes as handed off (a human had it) and the widget asks for a rating."""
    with transaction.atomic():
        conversation = _agent_conversation(agent=agent, conversation_id=conversation_id, lock=True)
        if conversation.status == Conversation.Status.CLOSED:
            return conversation
        claimed = conversation.tickets.filter(status=HandoffTicket.Status.CLAIMED).select_related("agent").first()
        if claimed is not None and claimed.agent_id != agent.pk and _agent_online(user_id=claimed.agent_id):
            raise ApplicationError(f"这个对话正由{agent_name_of(claimed)}处理。")
        handed_off = conversation.tickets.exists()
        outcome = Conversation.Outcome.HANDED_OFF if handed_off else Conversation.Outcome.BOT_RESOLVED
        return conversation_close(conversation=conversation, outcome=outcome)


@dataclass(frozen=True)
class ReplySuggestions:
    conversation_id: int
    items: list[dict[str, Any]]
    draft: GenerationRequest | None = None
    meta: dict[str, Any] = field(default_factory=dict)


SUGGESTION_LIMIT = 4


def reply_suggestions(*, conversation_id: Any, agent: Any, job_id: str) -> ReplySuggestions:
    """Replies an agent can send with one click: the matched FAQ answers, what the bot would say, and a
    model draft to stream (the engine writes it only when it has nothing else to do)."""
    conversation = _agent_conversation(agent=agent, conversation_id=conversation_id)
    snapshot = store_snapshot(store=conversation.store)
    questions = list(conversation.messages.filter(role=Message.Role.CUSTOMER).order_by("-pk")[:3])
    ticket = conversation.tickets.order_by("-pk").first()
    matched = list(ticket.matched) if ticket is not None else []
    matched += [dict(e) for e in related_entries(store=snapshot, texts=[q.text for q in questions])]
    faq_ids = list(
        dict.fromkeys(int(e["id"]) for e in matched if e.get("kind") == "faq" and str(e.get("id")).isdigit())
    )
    faqs = {f.pk: f for f in FaqEntry.objects.filter(store=conversation.store, enabled=True, pk__in=faq_ids)}
    items: list[dict[str, Any]] = [
        {"kind": "faq", "faq_id": pk, "title": faqs[pk].question, "text": faqs[pk].answer}
        for pk in faq_ids
        if pk in faqs
    ]
    draft = None
    meta: dict[str, Any] = {}
    for question in questions:
        decision = decide(store=snapshot, question=question.text)
        if decision.handoff or decision.route in ("greeting", "offtopic"):
            continue
        if decision.kind == "direct":
            if not any(item["text"] == decision.text for item in items):
                items.insert(
                    0,
                    {"kind": decision.source, "faq_id": decision.faq_id, "title": question.text, "text": decision.text},
                )
            break
        # Its own key: a draft must not take the place of the conversation's cached turns.
        draft, meta = _generation_job(
            conversation=conversation,
            snapshot=snapshot,
            question=question,
            decision=decision,
            job_id=job_id,
            key=f"draft-{conversation.pk}",
        )
        meta["draft"] = True
        break
    return ReplySuggestions(conversation_id=conversation.pk, items=items[:SUGGESTION_LIMIT], draft=draft, meta=meta)
