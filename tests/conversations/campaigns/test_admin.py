from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from conversations.campaigns.models import OutboxMessage, ReminderSequence
from conversations.campaigns.services import reminder_settings_for
from tests.conversations.campaigns.factories import CartFactory
from tests.kb.factories import StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-not-used-123"))
    return client


def test_the_webhook_secret_and_figures_are_shown_on_the_store_reminder_settings(admin_client):
    row = reminder_settings_for(store=StoreFactory(slug="shop-a"))
    page = admin_client.get(f"/admin/campaigns/remindersettings/{row.pk}/change/")
    assert page.status_code == 200
    assert row.webhook_secret in page.content.decode()
    assert "Figures" in page.content.decode()


def test_the_retry_action_puts_a_dead_letter_back_in_the_queue(admin_client):
    store = StoreFactory(slug="shop-a")
    cart = CartFactory(store=store)
    sequence = ReminderSequence.objects.create(
        store=store, customer=cart.customer, kind="cart", cart=cart, started_at=timezone.now()
    )
    dead = OutboxMessage.objects.create(
        store=store,
        sequence=sequence,
        step=0,
        idempotency_key=f"cart:{cart.pk}:step:0",
        channel="webhook",
        text="hi",
        status="dead",
        attempts=8,
        next_attempt_at=timezone.now() - timedelta(hours=3),
    )
    response = admin_client.post(
        "/admin/campaigns/outboxmessage/", {"action": "retry", "_selected_action": [dead.pk]}, follow=True
    )
    assert response.status_code == 200 and "1 dead letter" in response.content.decode()
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == ("pending", 0)
    assert dead.next_attempt_at > timezone.now() - timedelta(minutes=1)
