"""The embedded mode: the engine worker runs inside the server process, on its event loop."""

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from channels.worker import Worker
from django.conf import settings

logger = logging.getLogger(__name__)

_workers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


async def ensure_embedded_worker(application: Callable[[], Any]) -> None:
    """Start (or restart) this process's engine worker on the running loop; a no-op when scaled.

    `application` builds the ASGI application serving the engine channel (the asking app provides it,
    with an `engine.worker.EngineWorker` subclass that knows how answers are recorded).
    """
    if settings.ENGINE_MODE != "embedded":
        return
    loop = asyncio.get_running_loop()
    task = _workers.get(loop)
    if task is not None and not task.done():
        return
    if task is not None and task.done() and not task.cancelled() and task.exception():
        logger.error("embedded engine worker stopped: %r; starting it again", task.exception())
    worker = Worker(application=application(), channels=[settings.ENGINE_CHANNEL], channel_layer=get_channel_layer())
    # A fresh context: the worker outlives the request or connection that started it, and must not run its
    # database calls on that request's (finished) thread executor.
    _workers[loop] = loop.create_task(worker.arun(), context=contextvars.Context())
