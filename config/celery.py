import os
from collections.abc import Callable
from typing import Any

from celery import Celery, shared_task
from django.db import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("shopdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def idempotent_task(*, name: str, time_limit: int, soft_margin: int) -> Callable[[Callable[..., Any]], Any]:
    """`shared_task` with what every task of this project shares.

    Each task is safe to run twice (its rows decide what is left to do), so it is acknowledged only
    once it ends (`acks_late`: a worker killed mid-task leaves it to another) and retried with backoff
    when the database is briefly unavailable. `soft_margin` seconds before `time_limit` the task gets
    SoftTimeLimitExceeded and can stop cleanly.
    """
    return shared_task(
        name=name,
        acks_late=True,
        soft_time_limit=time_limit - soft_margin,
        time_limit=time_limit,
        autoretry_for=(OperationalError,),
        retry_backoff=True,
        max_retries=3,
    )
