import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.exceptions import ApplicationError
from conversations.models import Conversation, HandoffTicket, Message, Visitor
from kb.models import Store

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000


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
    if len(text) > MAX_MESSAGE_CHARS:
        raise ApplicationError(f"The message is too long ({len(text)} characters, at most {MAX_MESSAGE_CHARS}).")
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
