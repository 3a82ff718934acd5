"""Celery tasks of the reports: closing conversations the shopper left, and the daily rows.

Both are idempotent: a conversation is closed once (the lock and its status decide), a day's row is
recomputed from the log as a whole.
"""

import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from conversations.reports.services import daily_figures_refresh
from conversations.services.handoff import conversations_close_idle

logger = logging.getLogger(__name__)

SWEEP_TIME_LIMIT = 300
REFRESH_TIME_LIMIT = 900


@shared_task(
    name="reports.conversations_sweep",
    acks_late=True,
    soft_time_limit=SWEEP_TIME_LIMIT - 20,
    time_limit=SWEEP_TIME_LIMIT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def conversations_sweep_task() -> int:
    return conversations_close_idle(now=timezone.now())


@shared_task(
    name="reports.daily_figures_refresh",
    acks_late=True,
    soft_time_limit=REFRESH_TIME_LIMIT - 30,
    time_limit=REFRESH_TIME_LIMIT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def daily_figures_refresh_task() -> int:
    return daily_figures_refresh(now=timezone.now())
