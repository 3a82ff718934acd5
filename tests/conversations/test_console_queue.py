"""The agent console's queue: counts that match the database, and stale tickets closed in bulk (the console's
关闭超时工单, the admin action, the command), each only in the stores of whoever asks."""

import io
from datetime import timedelta

import pytest
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from conversations import selectors
from conversations.models import Conversation, HandoffTicket
from conversations.services import handoff
from conversations.services.agents import tickets_close_stale
from conversations.services.widget import conversation_start, visitor_create
from tests.conversations.test_agent_console import _cookie, db
from tests.kb.factories import StaffUserFactory, StoreFactory


@pytest.fixture(autouse=True)
def _fresh_layers():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _ticket(store, *, hours_ago: float = 0, status: str = HandoffTicket.Status.OPEN, agent=None) -> HandoffTicket:
    conversation = conversation_start(store=store, visitor=visitor_create(store=store))
    ticket, _message = handoff.conversation_request_human(conversation=conversation)
    created = timezone.now() - timedelta(hours=hours_ago)
    HandoffTicket.objects.filter(pk=ticket.pk).update(created_at=created, status=status, agent=agent)
    ticket.refresh_from_db()
    return ticket


@pytest.mark.django_db
def test_ticket_counts_are_the_databases_by_store_and_only_the_agents_stores():
    shop, other = StoreFactory(slug="shop"), StoreFactory(slug="other")
    agent = StaffUserFactory(stores=[shop])
    for _ in range(3):
        _ticket(shop)
    _ticket(shop, status=HandoffTicket.Status.CLAIMED, agent=agent)
    _ticket(other)
    resolved = _ticket(shop)
    HandoffTicket.objects.filter(pk=resolved.pk).update(status=HandoffTicket.Status.RESOLVED)

    assert selectors.ticket_counts_for_agent(user=agent) == {"shop": {"open": 3, "claimed": 1}}


@pytest.mark.django_db(transaction=True)
async def test_the_hello_counts_every_open_ticket_even_beyond_the_ones_it_carries():
    def setup():
        shop = StoreFactory(slug="shop")
        for n in range(205):
            _ticket(shop, hours_ago=48 + n)
        _ticket(shop)  # the newest: it must be among those the console lists
        return StaffUserFactory(stores=[shop]), HandoffTicket.objects.order_by("-created_at").first().pk

    agent, newest = await db(setup)
    from config.asgi import application

    cookie = await db(_cookie, agent)
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
    console = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    assert (await console.connect(timeout=30))[0]
    hello = await console.receive_json_from(timeout=120)  # 200 tickets with their transcripts
    try:
        assert hello["counts"] == {"shop": {"open": 206, "claimed": 0}}
        assert len(hello["tickets"]) == 200
        assert newest in {ticket["id"] for ticket in hello["tickets"]}
    finally:
        await console.disconnect()


@pytest.mark.django_db
def test_only_tickets_that_waited_too_long_unclaimed_are_closed():
    shop, other = StoreFactory(slug="shop"), StoreFactory(slug="other")
    agent = StaffUserFactory(stores=[shop])
    stale = _ticket(shop, hours_ago=30)
    fresh = _ticket(shop, hours_ago=1)
    claimed = _ticket(shop, hours_ago=30, status=HandoffTicket.Status.CLAIMED, agent=agent)
    elsewhere = _ticket(other, hours_ago=30)

    closed = tickets_close_stale(
        stores=shop.__class__.objects.filter(pk=shop.pk), waiting_longer_than=timedelta(hours=24)
    )

    assert closed == 1
    statuses = {t.pk: (t.status, t.conversation.status) for t in HandoffTicket.objects.select_related("conversation")}
    assert statuses[stale.pk] == ("resolved", "closed")
    # Nobody came and the shopper left no contact: they left while waiting for a person.
    assert Conversation.objects.get(pk=stale.conversation_id).outcome == "abandoned"
    assert statuses[fresh.pk] == ("open", "waiting")
    assert statuses[claimed.pk][0] == "claimed"
    assert statuses[elsewhere.pk] == ("open", "waiting")


@pytest.mark.django_db
def test_the_consoles_close_stale_button_closes_only_the_agents_stores(client, settings):
    settings.CHAT_TICKET_STALE_HOURS = 24
    shop, other = StoreFactory(slug="shop"), StoreFactory(slug="other")
    client.force_login(StaffUserFactory(stores=[shop]))
    mine, theirs = _ticket(shop, hours_ago=30), _ticket(other, hours_ago=30)

    assert client.post(reverse("agent-close-stale"), {"store": "other"}).status_code == 404
    response = client.post(reverse("agent-close-stale"))

    assert response.json() == {"closed": 1}
    assert HandoffTicket.objects.get(pk=mine.pk).status == "resolved"
    assert HandoffTicket.objects.get(pk=theirs.pk).status == "open"
    assert client.get(reverse("agent-close-stale")).status_code == 405


@pytest.mark.django_db
def test_the_admin_closes_the_chats_of_selected_tickets(client):
    shop = StoreFactory(slug="shop")
    client.force_login(StaffUserFactory(stores=[shop]))
    first, second, kept = _ticket(shop), _ticket(shop), _ticket(shop)

    response = client.post(
        reverse("admin:conversations_handoffticket_changelist"),
        {"action": "close_chats", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == ["已结束 2 个对话。"]
    assert sorted(HandoffTicket.objects.filter(status="resolved").values_list("pk", flat=True)) == sorted(
        [first.pk, second.pk]
    )
    assert HandoffTicket.objects.get(pk=kept.pk).status == "open"


@pytest.mark.django_db
def test_the_command_closes_stale_tickets():
    shop = StoreFactory(slug="shop")
    stale, fresh = _ticket(shop, hours_ago=3), _ticket(shop)
    out = io.StringIO()

    call_command("close_stale_tickets", "--hours", "2", "--store", "shop", stdout=out)

    assert out.getvalue().strip() == "closed 1 chats whose tickets waited longer than 2 hours"
    assert HandoffTicket.objects.get(pk=stale.pk).status == "resolved"
    assert HandoffTicket.objects.get(pk=fresh.pk).status == "open"
