"""The agent console: presence, claiming a chat, replying, handing back to the bot, closing, suggestions."""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.exceptions import ApplicationError
from conversations import realtime
from conversations.models import AgentPresence, Conversation, ConversationEvent, HandoffTicket, Message
from conversations.selectors import (
    agent_is_online,
    conversation_chat_context,
    handoff_status_extra,
    ticket_list_stale,
)
from conversations.services.answers import answer_job_build
from conversations.services.events import conversation_event_record
from conversations.services.handoff import conversation_close
from conversations.services.messages import conversation_answers_cancel, message_create_system
from engine.generate import AnswerJob
from engine.knowledge import StoreSnapshot
from engine.pipeline import decide, related_entries
from kb.models import FaqEntry, Store
from kb.selectors import store_list_for_user, store_snapshot
from kb.validation import text_clean

logger = logging.getLogger(__name__)

SUGGESTION_LIMIT = 4


def _tell_waiting_shoppers(*, stores: QuerySet[Store]) -> None:
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
    stale = timezone.now() - timedelta(seconds=settings.CHAT_AGENT_PRESENCE_SECONDS)
    AgentPresence.objects.filter(last_seen_at__lt=stale).delete()


def agent_away(*, user_id: int) -> int:
    """An agent closed their last console (and did not come back within the grace period).

    Their conversations go back to waiting (the bot answers again meanwhile, colleagues can claim them)
    and shoppers of stores left without anyone are told so. Returns how many were released.
    """
    if agent_is_online(user_id=user_id):
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
            message_create_system(conversation=conversation, text="人工客服暂时离开了，正在为您重新转接。")
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
        if taking_over and agent_is_online(user_id=ticket.agent_id):
            raise ApplicationError(f"这个对话已被{agent_name_of(ticket)}认领。")
        ticket.status = HandoffTicket.Status.CLAIMED
        ticket.agent = agent
        ticket.claimed_at = timezone.now()
        ticket.save(update_fields=["status", "agent", "claimed_at", "updated_at"])
        conversation_event_record(
            conversation=conversation, kind=ConversationEvent.Kind.CLAIM, actor=agent, at=ticket.claimed_at
        )
        conversation.status = Conversation.Status.HUMAN
        conversation.save(update_fields=["status", "updated_at"])
        name = realtime.agent_display_name(agent)
        message_create_system(
            conversation=conversation,
            text=f"人工客服{name}{'接手' if taking_over else ''}为您服务",
            agent=agent,
        )
        realtime.push_ticket(ticket, store_id=conversation.store_id)
        realtime.push_status(conversation)
        conversation_answers_cancel(conversation=conversation)
    logger.info("ticket %s claimed by %s", ticket.pk, agent.pk)
    return ticket


def message_create_agent(*, conversation_id: Any, agent: Any, text: Any, client_id: Any = None) -> Message:
    """The agent's reply to the shopper, recorded with role agent; re-sending a client id returns the first copy."""
    if not isinstance(text, str) or (client_id is not None and not isinstance(client_id, str)):
        raise ApplicationError("回复需要文本（以及可选的 client_id），都是字符串。")
    text = text_clean(text).strip()
    if not text:
        raise ApplicationError("回复是空的。")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ApplicationError(f"回复太长了（{len(text)} 字，最多 {settings.CHAT_MAX_MESSAGE_CHARS} 字）。")
    if client_id is not None and not (0 < len(client_id) <= 64 and client_id.isprintable()):
        raise ApplicationError("client_id 须为 1 到 64 个可打印字符。")
    with transaction.atomic():
        conversation = _agent_conversation(agent=agent, conversation_id=conversation_id, lock=True)
        if client_id:
            existing = conversation.messages.filter(role=Message.Role.AGENT, client_id=client_id).first()
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
            client_id=client_id or None,
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
        conversation_event_record(
            conversation=conversation, kind=ConversationEvent.Kind.HAND_BACK, actor=agent, at=ticket.resolved_at
        )
        conversation.status = Conversation.Status.BOT
        conversation.save(update_fields=["status", "updated_at"])
        name = conversation.store.assistant_name
        message_create_system(
            conversation=conversation, text=f"已转回智能客服{name}，有需要可随时再找人工客服", agent=agent
        )
        realtime.push_ticket(ticket, store_id=conversation.store_id)
        realtime.push_status(conversation)
    logger.info("conversation %s handed back to the bot by %s", conversation.pk, agent.pk)
    return conversation


def conversation_close_by_agent(*, conversation_id: Any, agent: Any) -> Conversation:
    """The agent ends the chat (with the outcome its log gives) and the widget asks for a rating."""
    with transaction.atomic():
        conversation = _agent_conversation(agent=agent, conversation_id=conversation_id, lock=True)
        if conversation.status == Conversation.Status.CLOSED:
            return conversation
        claimed = conversation.tickets.filter(status=HandoffTicket.Status.CLAIMED).select_related("agent").first()
        if claimed is not None and claimed.agent_id != agent.pk and agent_is_online(user_id=claimed.agent_id):
            raise ApplicationError(f"这个对话正由{agent_name_of(claimed)}处理。")
        return conversation_close(conversation=conversation, actor=agent)


def conversations_close_for_tickets(*, tickets: QuerySet[HandoffTicket], limit: int = 500) -> int:
    """Ends the chats of these still-open tickets (as an agent's 结束对话 would, with one outcome each) and
    returns how many were closed; at most `limit` per call. Consoles see the tickets leave at once."""
    conversation_ids = list(
        tickets.filter(status__in=HandoffTicket.OPEN_STATUSES).values_list("conversation_id", flat=True)[:limit]
    )
    closed = 0
    for conversation in Conversation.objects.filter(pk__in=conversation_ids).exclude(status=Conversation.Status.CLOSED):
        conversation_close(conversation=conversation)
        closed += 1
    if closed:
        logger.info("closed %s conversations of open tickets", closed)
    return closed


def tickets_close_stale(*, stores: QuerySet[Store], waiting_longer_than: timedelta | None = None) -> int:
    """Ends the chats whose tickets waited unclaimed longer than `waiting_longer_than` (default: the
    CHAT_TICKET_STALE_HOURS setting): the shopper is long gone, and the queue keeps only live requests."""
    if waiting_longer_than is None:
        waiting_longer_than = timedelta(hours=settings.CHAT_TICKET_STALE_HOURS)
    stale = ticket_list_stale(stores=stores, waiting_since=timezone.now() - waiting_longer_than)
    return conversations_close_for_tickets(tickets=stale)


@dataclass(frozen=True)
class ReplySuggestion:
    kind: str  # faq | template | handoff | llm
    faq_id: int | None
    title: str
    text: str


@dataclass(frozen=True)
class ReplySuggestions:
    conversation_id: int
    items: list[ReplySuggestion]
    draft: AnswerJob | None = None  # a model draft to stream, when the bot would ask the model


def reply_suggestions(*, conversation_id: Any, agent: Any, job_id: str) -> ReplySuggestions:
    """Replies an agent can send with one click: the matched FAQ answers, what the bot would say, and a
    model draft to stream (the engine writes it only when it has nothing else to do)."""
    conversation = _agent_conversation(agent=agent, conversation_id=conversation_id)
    snapshot = store_snapshot(store=conversation.store)
    questions = list(conversation.messages.filter(role=Message.Role.CUSTOMER).order_by("-pk")[:3])
    items = _faq_suggestions(conversation=conversation, snapshot=snapshot, texts=[q.text for q in questions])
    draft = None
    for question in questions:
        context = conversation_chat_context(conversation=conversation, before=question)
        decision = decide(store=snapshot, question=question.text, context=context)
        if decision.handoff or decision.route in ("greeting", "offtopic"):
            continue
        if decision.kind == "direct":
            if not any(item.text == decision.text for item in items):
                items.insert(0, ReplySuggestion(decision.source, decision.faq_id, question.text, decision.text))
            break
        draft = answer_job_build(
            conversation=conversation,
            snapshot=snapshot,
            question=question,
            decision=decision,
            job_id=job_id,
            draft=True,
        )
        break
    # A person is answering: a reply that sends the shopper to "转人工" (a person) makes no sense from them.
    items = [item for item in items if not HANDOFF_HINT.search(item.text)]
    return ReplySuggestions(conversation_id=conversation.pk, items=items[:SUGGESTION_LIMIT], draft=draft)


HANDOFF_HINT = re.compile(r"转人工|talk to a person", re.IGNORECASE)


def _faq_suggestions(*, conversation: Conversation, snapshot: StoreSnapshot, texts: list[str]) -> list[ReplySuggestion]:
    """The FAQ entries the ticket carries and the shopper's last messages are about, as replies."""
    ticket = conversation.tickets.order_by("-pk").first()
    matched = list(ticket.matched) if ticket is not None else []
    matched += [dict(e) for e in related_entries(store=snapshot, texts=texts)]
    faq_ids = list(
        dict.fromkeys(int(e["id"]) for e in matched if e.get("kind") == "faq" and str(e.get("id")).isdigit())
    )
    faqs = {f.pk: f for f in FaqEntry.objects.filter(store=conversation.store, enabled=True, pk__in=faq_ids)}
    return [ReplySuggestion("faq", pk, faqs[pk].question, faqs[pk].answer) for pk in faq_ids if pk in faqs]
