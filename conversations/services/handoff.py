"""A person is asked for: tickets open, shoppers hear where things stand, contacts are left, chats close."""

import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from conversations import realtime
from conversations.contacts import contact_find
from conversations.metrics import IDLE_CLOSE_AFTER, Ending, episode_ending
from conversations.models import Conversation, ConversationEvent, HandoffTicket, Message
from conversations.selectors import (
    conversation_log_rows,
    customer_texts_recent,
    handoff_availability,
    handoff_status_extra,
    ticket_open_for,
)
from conversations.services.events import conversation_event_record
from conversations.services.messages import conversation_answers_cancel, message_create_bot
from engine.pipeline import DEFAULT_HANDOFF, related_entries
from kb.models import Store
from kb.selectors import store_snapshot
from kb.validation import text_clean

logger = logging.getLogger(__name__)

ALREADY_WAITING_TEXT = "已经在为您转接人工客服了，请稍候，您也可以先把问题描述一下。"
OFFLINE_FALLBACK = "现在暂时没有人工客服在线。请留下您的手机号、微信号或邮箱，客服上线后会第一时间联系您。"
CONTACT_SAVED_TEXT = "已记下您的联系方式：{contact}。客服上线后会第一时间联系您，您也可以继续留言。"


def conversation_hand_off(
    *, conversation: Conversation, reason: HandoffTicket.Reason, matched: list[dict[str, object]] | None = None
) -> HandoffTicket:
    """Move the conversation to waiting and open a ticket (one open ticket per conversation).

    The ticket carries the knowledge-base entries the shopper's recent messages are about, so the
    agent sees them and gets suggested replies from them; agents' consoles are told at once.
    """
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.status == Conversation.Status.CLOSED:
            raise ApplicationError(_("This conversation has ended; start a new chat."))
        open_ticket = ticket_open_for(conversation=locked)
        if open_ticket:
            return open_ticket
        if locked.status == Conversation.Status.BOT:
            locked.status = Conversation.Status.WAITING
            locked.save(update_fields=["status", "updated_at"])
        if not matched:
            texts = customer_texts_recent(conversation=locked)
            matched = [dict(e) for e in related_entries(store=store_snapshot(store=locked.store), texts=texts)]
        ticket = HandoffTicket.objects.create(conversation=locked, reason=reason, matched=matched or [])
        conversation_event_record(conversation=locked, kind=ConversationEvent.Kind.HANDOFF, reason=reason)
        realtime.push_ticket(ticket, store_id=locked.store_id)
        realtime.push_status(locked, **handoff_status_extra(conversation=locked, ticket=ticket))
    logger.info("conversation %s handed off (%s), ticket %s", locked.pk, reason, ticket.pk)
    return ticket


def conversation_close(
    *, conversation: Conversation, outcome: Conversation.Outcome | None = None, actor: Any = None
) -> Conversation:
    """Close with exactly one outcome (by default the one the log gives, `conversation_ending`) and record
    the close event; closing a closed conversation again changes nothing (with another outcome: an error)."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.status == Conversation.Status.CLOSED:
            if outcome is not None and locked.outcome != outcome:
                raise ApplicationError(f"Conversation {locked.pk} is already closed as {locked.outcome}.")
            return locked
        ending = conversation_ending(conversation=locked)
        if outcome is not None and outcome != ending.outcome:
            ending = Ending(outcome, "before_answer" if outcome == Conversation.Outcome.ABANDONED else "")
        locked.status = Conversation.Status.CLOSED
        locked.outcome = ending.outcome
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "outcome", "closed_at", "updated_at"])
        conversation_event_record(
            conversation=locked,
            kind=ConversationEvent.Kind.CLOSE,
            actor=actor,
            outcome=ending.outcome,
            detail=ending.detail,
            at=locked.closed_at,
        )
        for ticket in list(locked.tickets.still_open()):
            ticket.status = HandoffTicket.Status.RESOLVED
            ticket.resolved_at = locked.closed_at
            ticket.save(update_fields=["status", "resolved_at", "updated_at"])
            realtime.push_ticket(ticket, store_id=locked.store_id)
        realtime.push_status(locked)
        conversation_answers_cancel(conversation=locked)
    logger.info("conversation %s closed as %s", locked.pk, locked.outcome)
    return locked


def conversation_ending(*, conversation: Conversation) -> Ending:
    """How the conversation ends if it ends now (the rule is `metrics.episode_ending`)."""
    messages, events = conversation_log_rows(conversation_ids=[conversation.pk])
    contact_left = conversation.tickets.exclude(contact="").exists()
    return episode_ending(messages=messages, events=events, contact_left=contact_left)


def conversations_close_idle(*, now: datetime, limit: int = 500) -> int:
    """The sweep: ends the conversations nobody wrote in for `IDLE_CLOSE_AFTER` (the shopper left), each
    with the outcome its log gives. Returns how many it closed; at most `limit` per call."""
    idle = (
        Conversation.objects.exclude(status=Conversation.Status.CLOSED)
        .annotate(last_at=Coalesce(Max("messages__created_at"), "created_at"))
        .filter(last_at__lt=now - IDLE_CLOSE_AFTER)
        .order_by("last_at")
    )
    closed = 0
    for conversation in idle[:limit]:
        conversation_close(conversation=conversation)
        closed += 1
    if closed:
        logger.info("closed %s idle conversations", closed)
    return closed


def handoff_text(*, store: Store, text: str, conversation: Conversation | None = None) -> str:
    """The handoff reply; when nobody can come, the store's offline message (asking for a contact) instead.

    Asked again while a request is already open, the shopper hears where it stands, not the same speech.
    """
    availability = handoff_availability(store=store)
    ticket = ticket_open_for(conversation=conversation) if conversation is not None else None
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


def conversation_request_human(*, conversation: Conversation) -> tuple[HandoffTicket, Message | None]:
    """The shopper pressed 转人工: open a ticket and say the store's handoff message (once per ticket)."""
    already = ticket_open_for(conversation=conversation)
    ticket = conversation_hand_off(conversation=conversation, reason=HandoffTicket.Reason.SHOPPER_ASKED)
    if already is not None:
        return ticket, None
    text = handoff_text(store=conversation.store, text=conversation.store.handoff_message.strip() or DEFAULT_HANDOFF)
    reply = message_create_bot(
        conversation_id=conversation.pk,
        job_id=uuid.uuid4().hex,
        text=text,
        source=Message.Source.HANDOFF,
        flags=["shopper_asked"],
    )
    return ticket, reply


def ticket_contact_set(*, conversation: Conversation, value: str, found: bool = False) -> HandoffTicket:
    """The shopper left a phone number, WeChat id or e-mail on their open ticket (`found`: already
    taken out of a message, kept as it is)."""
    if not isinstance(value, str) or len(value) > 200:
        raise ApplicationError("请留下手机号、微信号或邮箱（最多 200 个字符）。")
    contact = value if found else contact_find(text_clean(value), form=True)
    if contact is None:
        raise ApplicationError("这看起来不像手机号、微信号或邮箱，请再检查一下。")
    with transaction.atomic():
        ticket = HandoffTicket.objects.select_for_update().still_open().filter(conversation=conversation).first()
        if ticket is None:
            raise ApplicationError(_("There is no open request for an agent in this conversation."))
        ticket.contact = contact
        ticket.save(update_fields=["contact", "updated_at"])
        realtime.push_ticket(ticket, store_id=conversation.store_id)
        # Every tab of the conversation stops asking for it, however it was left (form or message).
        conversation.refresh_from_db(fields=["status"])
        realtime.push_status(conversation, **handoff_status_extra(conversation=conversation, ticket=ticket))
    return ticket
