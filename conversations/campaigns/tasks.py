"""Celery tasks of the reminders. Both are idempotent (the outbox rows and their locks decide what is sent),
so a task delivered twice (acks_late after a worker died) does no harm. Waits live in the rows'
`next_attempt_at`, never in broker ETAs; the beat schedules (django-celery-beat, editable in the admin)
run both every minute or so.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from config.celery import idempotent_task
from conversations.campaigns.outbox import outbox_relay
from conversations.campaigns.reminders import reminders_plan
from conversations.campaigns.reviews import review_reply_draft, reviews_awaiting_draft
from conversations.campaigns.services import webhook_receipts_prune

logger = logging.getLogger(__name__)

# Hard limits stay far below the Redis broker's visibility timeout (settings: one hour), so a task is never
# redelivered while its first run is still going.
PLAN_TIME_LIMIT = 120
RELAY_TIME_LIMIT = 300  # 50 rows x a 5 s webhook timeout, with room to spare
RELAY_BATCH = 50
# One reply is a few seconds of the model (more while chats come first); a sweep drafts a handful.
DRAFT_TIME_LIMIT = 180
SWEEP_TIME_LIMIT = 600
SWEEP_BATCH = 20
SWEEP_WINDOW = timedelta(days=7)


@idempotent_task(name="campaigns.reminders_plan", time_limit=PLAN_TIME_LIMIT, soft_margin=10)
def reminders_plan_task() -> int:
    now = timezone.now()
    webhook_receipts_prune(now=now)
    report = reminders_plan(now=now)
    if report.decided:
        logger.info("decided %s reminder step(s)", report.decided)
        outbox_relay_task.delay()
    return report.decided


@idempotent_task(name="campaigns.outbox_relay", time_limit=RELAY_TIME_LIMIT, soft_margin=20)
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


@idempotent_task(name="campaigns.review_draft", time_limit=DRAFT_TIME_LIMIT, soft_margin=10)
def review_draft_task(review_id: int) -> bool:
    """Draft the reply to one review (a no-op when it has one); True when a reply was written now."""
    outcome = review_reply_draft(review_id=review_id)
    return outcome.created


@idempotent_task(name="campaigns.reviews_sweep", time_limit=SWEEP_TIME_LIMIT, soft_margin=20)
def reviews_sweep_task() -> int:
    """Draft replies a lost task or a stopped worker left undone (reviews of the last 7 days)."""
    drafted = 0
    now = timezone.now()
    # A review younger than two minutes is still its own task's to draft.
    for review_id in reviews_awaiting_draft(
        since=now - SWEEP_WINDOW, until=now - timedelta(minutes=2), limit=SWEEP_BATCH
    ):
        drafted += review_reply_draft(review_id=review_id).created
    return drafted
