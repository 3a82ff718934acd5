"""Flood limits shared by every server: counts per visitor and per client address on the Django cache.

The cache is Redis in the scaled mode, so a visitor with tabs on several servers, or many new visitors
from one address, are counted together. A window is fixed (it starts on a multiple of its length): at
worst twice the count passes across a window's edge, which is plenty against a flood.
"""

import hashlib
import logging
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """At most `count` events of one kind by one party per `window` seconds; a count of 0 is no limit."""

    kind: str
    count: int
    window: float


def limit_hit(*, checks: list[tuple[Limit, str]]) -> Limit | None:
    """Count one event against every (limit, party) and answer the first limit it went over, or None.

    Every limit is counted even when an earlier one is over: a refused flood still counts against the
    address it comes from. If the cache cannot be reached the event passes (the chat matters more than
    the limit) and a warning is logged.
    """
    hit = None
    now = time.time()
    for limit, party in checks:
        if limit.count <= 0:
            continue
        digest = hashlib.blake2b(party.encode("utf-8", "replace"), digest_size=12).hexdigest()
        key = f"limit:{limit.kind}:{digest}:{int(now // limit.window)}"
        try:
            cache.add(key, 0, timeout=int(limit.window) + 1)
            count = cache.incr(key)
        except ValueError:
            count = 1  # expired between add and incr: a new window
            cache.set(key, count, timeout=int(limit.window) + 1)
        except Exception:
            logger.warning("flood limit %s not checked: the cache cannot be reached", limit.kind, exc_info=True)
            continue
        if count > limit.count and hit is None:
            hit = limit
    return hit
