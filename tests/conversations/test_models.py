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


def test_a_shopper_and_an_agent_may_pick_the_same_client_id_without_swallowing_each_other():
    question = messages.message_create_customer(conversation=ConversationFactory(), text="在吗", client_id="x1")
    reply = Message.objects.create(
        conversation=question.conversation, role=Message.Role.AGENT, text="在的", client_id="x1"
    )
    again = messages.message_create_customer(conversation=question.conversation, text="在吗", client_id="x1")
    assert again.pk == question.pk and reply.pk != question.pk
    assert question.conversation.messages.count() == 2


def test_a_bot_answer_is_recorded_once_per_job_and_shoppers_ids_never_collide_with_jobs():
    conversation = ConversationFactory()
    first = messages.message_create_bot(conversation_id=conversation.pk, job_id="j1", text="亲，有的", source="llm")
    again = messages.message_create_bot(conversation_id=conversation.pk, job_id="j1", text="别的", source="template")
    assert again.pk == first.pk and again.text == "亲，有的"
    # A shopper whose client id happens to equal a job id is a different message.
    question = messages.message_create_customer(conversation=conversation, text="有吗", client_id="j1")
    assert question.pk != first.pk and conversation.messages.count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, role="bot", text="x", job_id="j1")


def test_the_migration_moves_prefixed_client_ids_to_their_own_places():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("conversations.migrations.0004_message_job_id")
    conversation = ConversationFactory()

    def write(role, client_id):
        return Message.objects.create(conversation=conversation, role=role, text="x", client_id=client_id)

    # Rows as the desk wrote them before: the job in the client id ("job:"), agents' ids prefixed ("agent:").
    # A shopper's id is whatever the shopper sent, prefix-like or not: it stays as it is.
    bot, agent = write("bot", "job:abc"), write("agent", "agent:r1")
    shopper, shopper_job, shopper_agent = write("customer", "s1"), write("customer", "job:zz"), write("customer", "r1")
    migration.unprefix_client_ids(apps, None)
    rows = [bot, agent, shopper, shopper_job, shopper_agent]
    for message in rows:
        message.refresh_from_db()
    assert [(m.job_id, m.client_id) for m in rows] == [
        ("abc", None),
        (None, "r1"),
        (None, "s1"),
        (None, "job:zz"),
        (None, "r1"),
    ]
    # Back again: a restored id that would collide in the single id space of old is dropped, never doubled.
    write("customer", "agent:r2")
    clashing = write("agent", "r2")
    migration.prefix_client_ids(apps, None)
    for message in [bot, agent, clashing]:
        message.refresh_from_db()
    assert (bot.client_id, bot.job_id, agent.client_id, clashing.client_id) == ("job:abc", None, "agent:r1", None)


def test_oversized_and_empty_messages_are_refused_and_nothing_is_written():
    conversation = ConversationFactory()
    # The shopper reads why, in Chinese unless their widget speaks English.
    with pytest.raises(ApplicationError, match="消息太长了（5000 字，最多 2000 字）"):
        messages.message_create_customer(conversation=conversation, text="啊" * 5000)
    with pytest.raises(ApplicationError, match="消息是空的"):
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
