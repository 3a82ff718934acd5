"""A chat that ended comes back as it ended when the shopper's page reloads: its last messages and the rating
prompt, until the shopper starts a new one; an old or someone else's chat never does."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation
from conversations.services.handoff import conversation_close
from conversations.services.messages import message_create_customer
from conversations.services.widget import chat_session_open, conversation_start, visitor_create
from tests.kb.factories import StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return StoreFactory(slug="shop")


def _ended_chat(store, *, hours_ago: float = 0):
    visitor = visitor_create(store=store)
    conversation = conversation_start(store=store, visitor=visitor)
    message_create_customer(conversation=conversation, text="这件有M码吗？")
    conversation_close(conversation=conversation, outcome=Conversation.Outcome.HANDED_OFF)
    Conversation.objects.filter(pk=conversation.pk).update(closed_at=timezone.now() - timedelta(hours=hours_ago))
    return visitor, conversation


def test_a_reload_shows_the_chat_that_just_ended(store):
    visitor, ended = _ended_chat(store)

    again, conversation = chat_session_open(store=store, visitor_token=visitor.token, conversation_id=ended.pk)

    assert (again, conversation) == (visitor, ended)
    assert conversation.status == "closed"
    assert [m.text for m in conversation.messages.all()] == ["这件有M码吗？"]


def test_without_its_id_or_long_after_it_ended_a_new_chat_opens(store):
    visitor, ended = _ended_chat(store)
    _, fresh = chat_session_open(store=store, visitor_token=visitor.token)
    assert fresh != ended and fresh.status == "bot"

    old_visitor, old = _ended_chat(store, hours_ago=30)
    _, conversation = chat_session_open(store=store, visitor_token=old_visitor.token, conversation_id=old.pk)
    assert conversation != old and conversation.status == "bot"


def test_another_visitors_ended_chat_is_never_shown(store):
    _, theirs = _ended_chat(store)
    stranger = visitor_create(store=store)

    _, conversation = chat_session_open(store=store, visitor_token=stranger.token, conversation_id=theirs.pk)

    assert conversation != theirs and conversation.visitor == stranger
