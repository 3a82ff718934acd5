"""Reads of the conversation log: what the services, consumers, views and APIs look up."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from conversations.metrics import EventRow, MessageRow
from conversations.models import AgentPresence, Conversation, ConversationEvent, HandoffTicket, Message
from engine.focus import ChatContext
from engine.prompt import Turn
from kb.hours import hours_text, is_open
from kb.models import Store
from kb.selectors import store_list_for_user


def conversation_list(
    *, user: AbstractBaseUser | AnonymousUser, store_slug: str = "", status: str = ""
) -> QuerySet[Conversation]:
    """Conversations of the stores the user works for, newest first, with their message count."""
    conversations = (
        Conversation.objects.filter(store__in=store_list_for_user(user=user))
        .select_related("store", "visitor")
        .annotate(message_count=Count("messages"))
    )
    if store_slug:
        conversations = conversations.filter(store__slug=store_slug)
    if status:
        conversations = conversations.filter(status=status)
    return conversations


def conversation_list_with_transcript(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Conversation]:
    """As `conversation_list`, each with its messages in the order they were written."""
    messages = Message.objects.select_related("agent").order_by("id")
    return conversation_list(user=user).prefetch_related(Prefetch("messages", queryset=messages))


def ticket_list_for_agent(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[HandoffTicket]:
    """Open and claimed tickets of the stores the user works for, newest first."""
    return (
        HandoffTicket.objects.still_open()
        .filter(conversation__store__in=store_list_for_user(user=user))
        .select_related("conversation__store", "conversation__visitor", "agent")
        .order_by("-created_at")
    )


def ticket_counts_for_agent(*, user: AbstractBaseUser | AnonymousUser) -> dict[str, dict[str, int]]:
    """Open and claimed tickets of the user's stores, counted in the database, by store slug."""
    counts = {slug: {"open": 0, "claimed": 0} for slug in store_list_for_user(user=user).values_list("slug", flat=True)}
    rows = (
        HandoffTicket.objects.still_open()
        .filter(conversation__store__in=store_list_for_user(user=user))
        .order_by()
        .values("conversation__store__slug", "status")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts[row["conversation__store__slug"]][row["status"]] = row["n"]
    return counts


def ticket_list_stale(*, stores: QuerySet[Store], waiting_since: Any) -> QuerySet[HandoffTicket]:
    """Tickets nobody claimed that have waited since before `waiting_since`, longest waiting first."""
    return HandoffTicket.objects.filter(
        status=HandoffTicket.Status.OPEN, created_at__lt=waiting_since, conversation__store__in=stores
    ).order_by("created_at")


def ticket_get_for_agent(*, user: AbstractBaseUser | AnonymousUser, ticket_id: int) -> HandoffTicket | None:
    """One ticket of the user's stores, whatever its status; None for another store's."""
    return (
        HandoffTicket.objects.filter(conversation__store__in=store_list_for_user(user=user), pk=ticket_id)
        .select_related("conversation__store", "conversation__visitor", "agent")
        .first()
    )


def ticket_open_for(*, conversation: Conversation) -> HandoffTicket | None:
    """The conversation's ticket that is not resolved yet (there is at most one)."""
    return conversation.tickets.still_open().first()


def message_list_recent(*, conversation: Conversation, limit: int = 50) -> list[Message]:
    """The conversation's last `limit` messages, oldest first."""
    messages = list(conversation.messages.select_related("agent").order_by("-pk")[:limit])
    messages.reverse()
    return messages


def message_list_after(*, conversation: Conversation, after: int, limit: int = 200) -> list[Message]:
    """Messages written after the one with id `after` (a reconnecting widget catches up)."""
    return list(conversation.messages.filter(pk__gt=after).select_related("agent").order_by("pk")[:limit])


def customer_message_by_client_id(*, conversation: Conversation, client_id: str | None) -> Message | None:
    """The shopper's message sent with this client id (a re-send finds the first copy); None for no id."""
    if not client_id:
        return None
    return conversation.messages.filter(role=Message.Role.CUSTOMER, client_id=client_id).first()


def message_get_for_agent(*, user: Any, message_id: int) -> Message | None:
    """One message of the agent's stores; None for another store's."""
    return (
        Message.objects.filter(pk=message_id, conversation__store__in=store_list_for_user(user=user))
        .select_related("agent")
        .first()
    )


def customer_texts_recent(*, conversation: Conversation, limit: int = 3) -> list[str]:
    """What the shopper said last, newest first."""
    return list(
        conversation.messages.filter(role=Message.Role.CUSTOMER).order_by("-pk").values_list("text", flat=True)[:limit]
    )


def conversation_history(*, conversation: Conversation, before: Message) -> list[Turn]:
    """The turns before `before` as the model sees them (agents' turns are the assistant's), oldest first.

    A shopper's turn is repeated exactly as the model saw it (with its references), so the engine's
    cached state for the conversation stays valid.
    """
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


CONTEXT_TEXTS = 6  # the recent texts a follow-up may lean on (three exchanges)


def _context_role(role: str, source: str) -> str:
    if role == Message.Role.CUSTOMER:
        return "shopper"
    if source in (Message.Source.FAQ, Message.Source.HANDOFF):
        return "entry"  # the store's policy text: names goods in passing, is about none of them
    return "bot"


def conversation_chat_context(*, conversation: Conversation, before: Message | None = None) -> ChatContext:
    """What a question in this conversation may refer to: the product in view and the recent texts
    (as the shopper saw them, not the model's prompts), oldest first. Texts from before the shopper moved to
    another product page are about the page they left, so they do not count."""
    earlier = conversation.messages.filter(
        role__in=[Message.Role.CUSTOMER, Message.Role.BOT, Message.Role.AGENT]
    ).exclude(text="")
    if conversation.product_viewed_at is not None:
        earlier = earlier.filter(created_at__gt=conversation.product_viewed_at)
    if before is not None:
        earlier = earlier.filter(pk__lt=before.pk)
    rows = list(earlier.order_by("-pk").values_list("role", "source", "text")[:CONTEXT_TEXTS])
    recent = tuple((_context_role(role, source), text) for role, source, text in reversed(rows))
    return ChatContext(product_in_view=conversation.product_sku, recent=recent)


def answer_in_flight_key(question_id: int) -> str:
    """Cache key held while an answer to this question is being generated (value: the job id)."""
    return f"chat:answering:{question_id}"


def conversation_jobs_key(conversation_id: int) -> str:
    """Cache key listing the conversation's recent generation jobs (so anyone can cancel them)."""
    return f"chat:jobs:{conversation_id}"


def question_answered_or_in_flight(*, question: Message) -> bool:
    """Whether the bot has answered this question, or an answer to it is being generated right now."""
    if question.conversation.messages.filter(pk__gt=question.pk, role=Message.Role.BOT).exists():
        return True
    return cache.get(answer_in_flight_key(question.pk)) is not None


def agent_is_online(*, user_id: int | None) -> bool:
    """Whether the agent has a console open (a presence row refreshed recently)."""
    fresh = timezone.now() - timedelta(seconds=settings.CHAT_AGENT_PRESENCE_SECONDS)
    return user_id is not None and AgentPresence.objects.filter(user_id=user_id, last_seen_at__gte=fresh).exists()


@dataclass(frozen=True)
class HandoffAvailability:
    agents: Literal["online", "offline", "after_hours"]
    hours: str  # the store's business hours for shoppers, "" when none are set


def handoff_availability(*, store: Store) -> HandoffAvailability:
    """Whether a person can take a chat now: within business hours and with an agent console open."""
    hours = hours_text(store.business_hours)
    if not is_open(store.business_hours):
        return HandoffAvailability(agents="after_hours", hours=hours)
    fresh = timezone.now() - timedelta(seconds=settings.CHAT_AGENT_PRESENCE_SECONDS)
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


MESSAGE_ROW_FIELDS = (
    "id", "conversation_id", "role", "created_at", "source", "flags", "partial", "ttft_ms", "feedback",
    "feedback_comment", "matched",
)  # fmt: skip


def message_row(values: Sequence[Any], *, text: str = "") -> MessageRow:
    """A message as the figures see it, from `values_list(*MESSAGE_ROW_FIELDS)`."""
    pk, conversation_id, role, at, source, flags, partial, ttft_ms, feedback, comment, matched = values
    faq_ids = tuple(
        int(m["id"])
        for m in (matched or [])
        if isinstance(m, dict) and m.get("kind") == "faq" and str(m.get("id", "")).isdigit()
    )
    return MessageRow(
        id=pk,
        conversation_id=conversation_id,
        role=role,
        at=at,
        source=source,
        flags=tuple(f for f in (flags or []) if isinstance(f, str)),
        partial=partial,
        ttft_ms=ttft_ms,
        feedback=feedback,
        feedback_comment=comment,
        faq_ids=faq_ids,
        text=text,
    )


EVENT_ROW_FIELDS = ("conversation_id", "kind", "at", "reason", "outcome", "detail")


def event_row(values: tuple[Any, ...]) -> EventRow:
    conversation_id, kind, at, reason, outcome, detail = values
    return EventRow(conversation_id=conversation_id, kind=kind, at=at, reason=reason, outcome=outcome, detail=detail)


def conversation_log_rows(*, conversation_ids: list[int]) -> tuple[list[MessageRow], list[EventRow]]:
    """The messages and events of these conversations, as the figures see them."""
    messages = Message.objects.filter(conversation_id__in=conversation_ids).order_by("created_at", "id")
    events = ConversationEvent.objects.filter(conversation_id__in=conversation_ids).order_by("at", "id")
    return (
        [message_row(v) for v in messages.values_list(*MESSAGE_ROW_FIELDS)],
        [event_row(v) for v in events.values_list(*EVENT_ROW_FIELDS)],
    )
