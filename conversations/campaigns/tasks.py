"""Celery tasks of the reminders. Both are idempotent (the outbox rows and their locks decide what is sent),
so a task delivered twice (acks_late after a worker died) does no harm. Waits live in the rows'
`next_attempt_at`, never in broker ETAs; the beat schedules (django-celery-beat, editable in the admin)
run both every minute or so.
"""

import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from conversations.campaigns.outbox import outbox_relay
from conversations.campaigns.reminders import reminders_plan
from conversations.campaigns.services import webhook_receipts_prune

logger = logging.getLogger(__name__)

# Hard limits stay far below the Redis broker's visibility timeout (settings: one hour), so a task is never
# redelivered while its first run is still going.
PLAN_TIME_LIMIT = 120
RELAY_TIME_LIMIT = 300  # 50 rows x a 5 s webhook timeout, with room to spare
RELAY_BATCH = 50


@shared_task(
    name="campaigns.reminders_plan",
    acks_late=True,
    soft_time_limit=PLAN_TIME_LIMIT - 10,
    time_limit=PLAN_TIME_LIMIT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def reminders_plan_task() -> int:
    now = timezone.now()
    webhook_receipts_prune(now=now)
    report = reminders_plan(now=now)
    if report.decided:
        logger.info("decided %s reminder step(s)", report.decided)
        outbox_relay_task.delay()
    return report.decided


@shared_task(
    name="campaigns.outbox_relay",
    acks_late=True,
    soft_time_limit=RELAY_TIME_LIMIT - 20,
    time_limit=RELAY_TIME_LIMIT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def outbox_relay_task() -> int:
    report = outbox_relay(limit=RELAY_BATCH)
    if report.sent or report.failed or report.dead:
        logger.info(
            "outbox: %s sent, %s failed, %s dead, %s cancelled",
            report.sent,
            report.failed,
            report.dead,
            report.cancelled,
        )
    return report.sent
