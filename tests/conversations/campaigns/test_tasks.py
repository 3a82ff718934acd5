from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app
from conversations.campaigns import tasks
from conversations.campaigns.models import OutboxMessage
from conversations.campaigns.services import reminder_settings_for
from tests.conversations.campaigns.factories import CartFactory, CartItemFactory
from tests.kb.factories import StoreFactory


def test_task_names_are_stable():
    assert tasks.reminders_plan_task.name == "campaigns.reminders_plan"
    assert tasks.outbox_relay_task.name == "campaigns.outbox_relay"
    assert tasks.review_draft_task.name == "campaigns.review_draft"
    assert tasks.reviews_sweep_task.name == "campaigns.reviews_sweep"
    for task in (tasks.reminders_plan_task, tasks.outbox_relay_task, tasks.review_draft_task, tasks.reviews_sweep_task):
        assert task.acks_late is True
        assert task.time_limit < 3600 and task.soft_time_limit < task.time_limit


@pytest.mark.django_db
def test_every_beat_schedule_names_a_registered_task():
    scheduled = list(PeriodicTask.objects.values_list("task", flat=True))
    assert {"campaigns.reminders_plan", "campaigns.outbox_relay", "campaigns.reviews_sweep"} <= set(scheduled)
    app.loader.import_default_modules()
    assert all(name in app.tasks for name in scheduled)


@pytest.mark.django_db
def test_the_plan_task_decides_and_the_relay_sends_once_even_when_run_twice(settings):
    store = StoreFactory(slug="shop-a")
    row = reminder_settings_for(store=store)
    row.quiet_start = row.quiet_end  # no quiet hours: the test runs at any time of day
    row.save()
    cart = CartFactory(store=store, changed_at=timezone.now() - timedelta(hours=2))
    CartItemFactory(cart=cart)
    assert tasks.reminders_plan_task.delay().get() == 1
    assert tasks.reminders_plan_task.delay().get() == 0
    assert tasks.outbox_relay_task.delay().get() == 0  # the plan task's own relay already sent it
    assert OutboxMessage.objects.get().status == "sent"
    assert len(mail.outbox) == 1
