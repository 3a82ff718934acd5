"""The embedded mode: the engine worker runs inside the server process, on its event loop."""

import asyncio
import logging

from channels.layers import get_channel_layer
from channels.routing import ChannelNameRouter
from channels.worker import Worker
from django.conf import settings

logger = logging.getLogger(__name__)

_workers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def engine_application() -> ChannelNameRouter:
    from engine.consumers import EngineConsumer

    return ChannelNameRouter({settings.ENGINE_CHANNEL: EngineConsumer.as_asgi()})


async def ensure_embedded_worker() -> None:
    """Start (or restart) this process's engine worker on the running loop; a no-op when scaled."""
    if settings.ENGINE_MODE != "embedded":
        return
    loop = asyncio.get_running_loop()
    task = _workers.get(loop)
    if task is not None and not task.done():
        return
    if task is not None and task.done() and not task.cancelled() and task.exception():
        logger.error("embedded engine worker stopped: %r; starting it again", task.exception())
    worker = Worker(
        application=engine_application(), channels=[settings.ENGINE_CHANNEL], channel_layer=get_channel_layer()
    )
    _workers[loop] = loop.create_task(worker.arun())
