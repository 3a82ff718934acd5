import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from conversations.models import CSAT, Conversation, HandoffTicket, Message
from kb.models import Store
from tests.conversations.factories import ConversationFactory, MessageFactory, VisitorFactory
from tests.kb.factories import StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha() -> Store:
    return StoreFactory(slug="alpha", name="阿尔法小店")


@pytest.fixture
def beta() -> Store:
    return StoreFactory(slug="beta", name="贝塔小店")


@pytest.fixture
def alpha_client(client, alpha):
    client.force_login(StaffUserFactory(stores=[alpha]))
    return client


def _conversation(store: Store, customer_id: str) -> Conversation:
    conversation = ConversationFactory(store=store, visitor=VisitorFactory(store=store, customer_id=customer_id))
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, text=f"{customer_id} 问:有现货吗?")
    MessageFactory(
        conversation=conversation,
        role=Message.Role.BOT,
        text=f"{customer_id} 答:有的,今天下单明天发。",
        source=Message.Source.FAQ,
        flags=["price_checked"],
        ttft_ms=420,
    )
    return conversation


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("conversation", "{}"),
        ("visitor", "{}"),
        ("handoffticket", "{}@example.com"),
        ("csat", "{} 很满意"),
    ],
)
def test_staff_see_only_their_stores_conversation_log(alpha_client, alpha, beta, model, shown):
    for store, customer_id in ((alpha, "alice-001"), (beta, "bob-002")):
        conversation = _conversation(store, customer_id)
        HandoffTicket.objects.create(
            conversation=conversation, reason=HandoffTicket.Reason.COMPLAINT, contact=f"{customer_id}@example.com"
        )
        CSAT.objects.create(conversation=conversation, score=4, comment=f"{customer_id} 很满意")

    html = alpha_client.get(reverse(f"admin:conversations_{model}_changelist")).content.decode()

    assert shown.format("alice-001") in html
    assert "bob-002" not in html
    assert "贝塔" not in html, "store B shows up (rows or the store filter)"


def test_conversation_changelist_columns_and_filters(alpha_client, alpha):
    _conversation(alpha, "alice-001")

    html = alpha_client.get(reverse("admin:conversations_conversation_changelist")).content.decode()

    for column in (
        "column-id",
        "column-store",
        "column-visitor",
        "column-status",
        "column-outcome",
        "column-created_at",
    ):
        assert column in html
    assert "阿尔法小店" in html
    assert "alice-001" in html


def test_staff_cannot_open_another_stores_conversation_or_ticket(alpha_client, beta):
    conversation = _conversation(beta, "bob-002")
    ticket = HandoffTicket.objects.create(conversation=conversation, reason=HandoffTicket.Reason.BOT_UNSURE)

    for url in (
        reverse("admin:conversations_conversation_change", args=[conversation.pk]),
        reverse("admin:conversations_visitor_change", args=[conversation.visitor.pk]),
        reverse("admin:conversations_handoffticket_change", args=[ticket.pk]),
    ):
        response = alpha_client.get(url)
        assert response.status_code == 302
        assert response.url == reverse("admin:index")


def test_superuser_sees_every_stores_conversations(client, alpha, beta):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))
    _conversation(alpha, "alice-001")
    other = _conversation(beta, "bob-002")

    html = client.get(reverse("admin:conversations_conversation_changelist")).content.decode()

    assert "alice-001" in html
    assert "bob-002" in html
    assert client.get(reverse("admin:conversations_conversation_change", args=[other.pk])).status_code == 200


def test_conversation_page_shows_the_transcript_read_only(alpha_client, alpha):
    conversation = _conversation(alpha, "alice-001")
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])

    response = alpha_client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "alice-001 问:有现货吗?" in html
    assert "alice-001 答:有的,今天下单明天发。" in html
    assert "price_checked" in html
    assert "420" in html
    # No message form fields, no "add another", no delete boxes: the transcript cannot be edited.
    assert 'name="messages-0-text"' not in html
    assert "messages-0-DELETE" not in html
    assert "add-row" not in html

    tampered = alpha_client.post(
        url,
        {
            "status": Conversation.Status.CLOSED,
            "messages-TOTAL_FORMS": "1",
            "messages-INITIAL_FORMS": "0",
            "messages-0-text": "injected",
            "messages-0-role": "bot",
        },
    )
    assert tampered.status_code == 403
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.BOT
    assert conversation.messages.count() == 2
    assert not Message.objects.filter(text="injected").exists()


def test_conversation_log_cannot_be_added_through_the_admin(alpha_client):
    for model in ("conversation", "visitor", "handoffticket", "csat"):
        assert alpha_client.get(reverse(f"admin:conversations_{model}_add")).status_code == 403
