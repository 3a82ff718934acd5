"""Celery tasks of the reports: closing conversations the shopper left, and the daily rows.

Both are idempotent: a conversation is closed once (the lock and its status decide), a day's row is
recomputed from the log as a whole.
"""

import logging

from django.utils import timezone

from config.celery import idempotent_task
from conversations.reports.services import daily_figures_refresh
from conversations.services.handoff import conversations_close_idle

logger = logging.getLogger(__name__)

SWEEP_TIME_LIMIT = 300
REFRESH_TIME_LIMIT = 900


@idempotent_task(name="reports.conversations_sweep", time_limit=SWEEP_TIME_LIMIT, soft_margin=20)
def conversations_sweep_task() -> int:
    return conversations_close_idle(now=timezone.now())


@idempotent_task(name="reports.daily_figures_refresh", time_limit=REFRESH_TIME_LIMIT, soft_margin=30)
def daily_figures_refresh_task() -> int:
    return daily_figures_refresh(now=timezone.now())
