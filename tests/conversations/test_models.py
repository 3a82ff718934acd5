import pytest
from django.db import IntegrityError, transaction

from config.exceptions import ApplicationError
from conversations.models import Conversation, HandoffTicket, Message
from conversations.services import handoff, messages
from tests.conversations.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_closing_records_exactly_one_outcome():
    conversation = ConversationFactory()
    closed = handoff.conversation_close(conversation=conversation, outcome=Conversation.Outcome.BOT_RESOLVED)
    assert (closed.status, closed.outcome) == ("closed", "bot_resolved")
    assert closed.closed_at is not None
    # Closing again the same way changes nothing; a second, different outcome is refused.
    handoff.conversation_close(conversation=conversation, outcome=Conversation.Outcome.BOT_RESOLVED)
    with pytest.raises(ApplicationError, match="already closed as bot_resolved"):
        handoff.conversation_close(conversation=conversation, outcome=Conversation.Outcome.HANDED_OFF)
    conversation.refresh_from_db()
    assert conversation.outcome == "bot_resolved"


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "bot", "outcome": "handed_off"},  # an open conversation has no outcome yet
        {"status": "closed", "outcome": None},  # a closed one has exactly one
        {"status": "closed", "outcome": "resolved_twice"},  # and it is one of the known outcomes
    ],
)
def test_database_refuses_an_invalid_outcome(fields):
    conversation = ConversationFactory()
    Conversation.objects.filter(pk=conversation.pk).update(closed_at=conversation.created_at)
    with pytest.raises(IntegrityError), transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(**fields)


def test_resending_a_client_id_returns_the_same_message():
    conversation = ConversationFactory()
    first = messages.message_create_customer(conversation=conversation, text="有现货吗?", client_id="c-1")
    again = messages.message_create_customer(conversation=conversation, text="有现货吗?", client_id="c-1")
    assert again.pk == first.pk
    assert conversation.messages.count() == 1
    messages.message_create_customer(conversation=conversation, text="什么时候发货?", client_id="c-2")
    assert conversation.messages.count() == 2


def test_database_refuses_a_duplicate_client_id_in_one_conversation_only():
    message = MessageFactory(client_id="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=message.conversation, role="customer", text="x", client_id="same")
    other = ConversationFactory(store=message.conversation.store)
    Message.objects.create(conversation=other, role="customer", text="x", client_id="same")
    # Messages without a client id never collide.
    Message.objects.create(conversation=other, role="bot", text="a")
    Message.objects.create(conversation=other, role="bot", text="b")
    assert other.messages.count() == 3


def test_oversized_and_empty_messages_are_refused_and_nothing_is_written():
    conversation = ConversationFactory()
    with pytest.raises(ApplicationError, match="too long"):
        messages.message_create_customer(conversation=conversation, text="啊" * 5000)
    with pytest.raises(ApplicationError, match="empty"):
        messages.message_create_customer(conversation=conversation, text="   ")
    assert conversation.messages.count() == 0


def test_hand_off_opens_one_ticket_and_waits_for_a_human():
    conversation = ConversationFactory()
    ticket = handoff.conversation_hand_off(conversation=conversation, reason=HandoffTicket.Reason.SHOPPER_ASKED)
    again = handoff.conversation_hand_off(conversation=conversation, reason=HandoffTicket.Reason.COMPLAINT)
    conversation.refresh_from_db()
    assert again.pk == ticket.pk
    assert conversation.status == "waiting"
    handoff.conversation_close(conversation=conversation, outcome=Conversation.Outcome.HANDED_OFF)
    ticket.refresh_from_db()
    assert ticket.status == "resolved"


def test_database_allows_one_open_ticket_per_conversation():
    conversation = ConversationFactory()
    HandoffTicket.objects.create(conversation=conversation, reason="bot_unsure")
    with pytest.raises(IntegrityError), transaction.atomic():
        HandoffTicket.objects.create(conversation=conversation, reason="complaint")


def test_csat_score_is_one_to_five():
    from conversations.models import CSAT

    conversation = ConversationFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CSAT.objects.create(conversation=conversation, score=6)
    CSAT.objects.create(conversation=conversation, score=5)
