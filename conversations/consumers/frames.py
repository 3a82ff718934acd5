"""What both websockets share: reading JSON frames safely, and answering bad ones with an error frame."""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

logger = logging.getLogger(__name__)

# Room for a maximal message even with every character JSON-escaped; anything bigger is not a chat.
MAX_FRAME_CHARS = 64 * 1024
# The largest id a database row can have (a signed 64-bit integer); a bigger number names no row.
MAX_ID = 2**63 - 1


P = ParamSpec("P")
R = TypeVar("R")


def database_call(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`fn` (database work) on one of the event loop's few pool threads, each with its own connection,
    closing stale connections around it as channels' `database_sync_to_async` does.

    Not on asgiref's one thread-sensitive thread, the default, where every database call of every
    socket of the process queued behind the others. None of these calls needs a particular thread:
    each is whole in itself (its own transaction, if any). SQLite still lets one writer in at a time
    (WAL, IMMEDIATE transactions and a 20 s busy timeout: config/settings/base.py); measured with 50
    shoppers asking at once, the pool still answered them sooner (p95 0.9-1.0 s against 2.5-2.9 s
    on the one thread, SQLite, a loaded 2-core machine), with no "database is locked".
    """
    return database_sync_to_async(fn, thread_sensitive=False)


class BadFrame(ValueError):
    """A frame that cannot be read as a chat frame; the message says why."""


def _no_constant(name: str) -> Any:
    raise BadFrame(f"{name} is not a number in JSON; nothing was saved.")


def frame_decode(text: str) -> dict[str, Any]:
    """A frame as an object, or BadFrame: not JSON, NaN or Infinity, nested too deep to read, not an object."""
    try:
        content = json.loads(text, parse_constant=_no_constant)
    except BadFrame:
        raise
    except RecursionError:
        raise BadFrame("That frame is nested too deeply; nothing was saved.") from None
    except ValueError:
        raise BadFrame("That frame is not valid JSON; nothing was saved.") from None
    if not isinstance(content, dict):
        raise BadFrame("Send a JSON object with a type.")
    return content


def frame_id(value: Any) -> int | None:
    """A row id given in a frame (a whole number from 0 to MAX_ID), or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        return None
    return value


def frame_client_id(value: Any) -> bool:
    """Whether a client id is usable: 1 to 64 printable characters (no control character, no lone surrogate)."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable()


class FrameConsumer(AsyncJsonWebsocketConsumer):
    """A JSON websocket that answers an oversized, binary or malformed frame with an error frame and stays open.

    A frame that fails in a way nobody foresaw is logged and answered with a `server_error` frame, so
    one bad frame never closes the socket the shopper (or agent) keeps chatting on.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        """channels' dispatch, without the `aclose_old_connections()` it awaits before every handler.

        That call runs on asgiref's one thread-sensitive thread, so every frame and every event (each
        delta of each answer) of every socket queued there behind all the database work of the
        process: 50 shoppers greeted at once all got their answer at the same moment, after the last
        one's database work. Every database call here goes through `database_call`, which closes stale
        connections itself, in the thread that uses them.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self._error("That frame is too large or not text; nothing was saved.")
            return
        try:
            content = frame_decode(text_data)
        except BadFrame as exc:
            await self._error(str(exc))
            return
        try:
            await self.receive_json(content)
        except Exception:
            logger.exception("frame %.80r failed", text_data)
            await self._error("Something went wrong on our side; please try again.", code="server_error")

    async def _error(self, message: str, *, code: str = "bad_frame") -> None:
        raise NotImplementedError
