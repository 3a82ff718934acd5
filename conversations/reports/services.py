"""Writes of the reports: the stored daily rows, recomputed while late data can still change them."""

import logging
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from conversations.reports.models import DailyFigures
from conversations.reports.selectors import LATE_DATA_DAYS, ReportPeriod, figures_compute, store_time_zone, store_today
from kb.models import Store

logger = logging.getLogger(__name__)


def daily_figures_compute(*, store: Store, day: date) -> DailyFigures:
    """Compute one past or current day of one store and store it (again); idempotent."""
    period = ReportPeriod(day, day, store_time_zone(store=store))
    start, end = period.bounds(day)
    figures = figures_compute(store=store, start=start, end=end)
    with transaction.atomic():
        row, _created = DailyFigures.objects.update_or_create(
            store=store, day=day, defaults={"figures": figures.to_json(), "computed_at": timezone.now()}
        )
    return row


def daily_figures_refresh(*, now: datetime, days: int = LATE_DATA_DAYS) -> int:
    """Recompute the last `days` days before today of every store (late ratings, thumbs, returns); the
    report computes today itself. Returns the number of rows written."""
    written = 0
    for store in Store.objects.order_by("pk"):
        today = store_today(store=store, now=now)
        for back in range(days, 0, -1):
            daily_figures_compute(store=store, day=today - timedelta(days=back))
            written += 1
    logger.info("recomputed %s daily report rows", written)
    return written
