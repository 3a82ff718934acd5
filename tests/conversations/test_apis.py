import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from tests.conversations.factories import ConversationFactory, MessageFactory
from tests.kb.factories import StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.force_login(StaffUserFactory(stores=[StoreFactory(slug="shop-a")]))
    return client


def test_list_shows_only_own_stores_conversations_and_filters(api: APIClient) -> None:
    shop_a = StoreFactory(slug="shop-a")
    waiting = ConversationFactory(store=shop_a, status=Conversation.Status.WAITING)
    MessageFactory(conversation=waiting)
    MessageFactory(conversation=waiting, role=Message.Role.BOT, text="有的")
    bot = ConversationFactory(store=shop_a)
    ConversationFactory(store=StoreFactory(slug="shop-b"))

    response = api.get("/api/conversations/")
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["results"]}
    assert set(rows) == {waiting.pk, bot.pk}
    assert rows[waiting.pk]["message_count"] == 2
    assert rows[waiting.pk]["store"] == "shop-a"

    by_status = api.get("/api/conversations/?status=waiting").json()["results"]
    assert [row["id"] for row in by_status] == [waiting.pk]
    assert api.get("/api/conversations/?store=shop-b").json()["results"] == []


def test_an_unknown_status_filter_is_a_400_not_an_empty_list(api: APIClient) -> None:
    response = api.get("/api/conversations/?status=lost")
    assert response.status_code == 400
    assert response.json()["message"].startswith("status:")


def test_retrieve_gives_the_transcript_in_order(api: APIClient) -> None:
    conversation = ConversationFactory(
        store=StoreFactory(slug="shop-a"),
        status=Conversation.Status.CLOSED,
        outcome=Conversation.Outcome.BOT_RESOLVED,
        closed_at=timezone.now(),
    )
    MessageFactory(conversation=conversation, text="什么时候发货?")
    MessageFactory(conversation=conversation, role=Message.Role.BOT, text="48小时内发货。", source="faq")

    response = api.get(f"/api/conversations/{conversation.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "bot_resolved"
    assert [(m["role"], m["text"]) for m in body["messages"]] == [
        ("customer", "什么时候发货?"),
        ("bot", "48小时内发货。"),
    ]
    assert body["messages"][1]["source"] == "faq"


def test_another_stores_conversation_is_a_404(api: APIClient) -> None:
    foreign = ConversationFactory(store=StoreFactory(slug="shop-b"))
    MessageFactory(conversation=foreign, text="我的手机号是13800000000")

    response = api.get(f"/api/conversations/{foreign.pk}/")
    assert response.status_code == 404
    assert "13800000000" not in response.content.decode()
    assert response.json()["message"]


def test_conversations_are_read_only(api: APIClient) -> None:
    conversation = ConversationFactory(store=StoreFactory(slug="shop-a"))
    assert api.delete(f"/api/conversations/{conversation.pk}/").status_code == 405
    assert api.post("/api/conversations/", {}, format="json").status_code == 405
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_anonymous_gets_json_refusal() -> None:
    conversation = ConversationFactory()
    for url in ("/api/conversations/", f"/api/conversations/{conversation.pk}/"):
        response = APIClient().get(url)
        assert response.status_code in (401, 403)
        assert response.json()["message"]


@pytest.mark.parametrize("query", ["limit=9223372036854775808", "limit=1000", "limit=x", "offset=-3"])
def test_a_bad_or_huge_page_of_conversations_is_a_clear_400(api: APIClient, query: str) -> None:
    response = api.get(f"/api/conversations/?{query}")
    assert response.status_code == 400
    assert "must be a whole number from" in response.json()["message"]


def test_no_page_of_conversations_is_larger_than_the_largest_page_size(api: APIClient) -> None:
    shop_a = StoreFactory(slug="shop-a")
    ConversationFactory.create_batch(105, store=shop_a)
    body = api.get("/api/conversations/?limit=100").json()
    assert len(body["results"]) == 100 and body["count"] == 105 and body["next"]
    assert len(api.get("/api/conversations/").json()["results"]) == 50
