"""A small cache of what is derived from an immutable object (a snapshot, its FAQ tuple), keyed by identity.

Snapshots live in the kb's versioned cache; what the engine derives from one (the keyword index, the
store's vocabulary) is built once per snapshot, not per message. The object itself is kept in the
entry, so its id cannot be reused by another object while the entry exists.
"""

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    def __init__(self, build: Callable[[K], V], *, size: int = 16) -> None:
        self._build = build
        self._size = size
        self._entries: dict[int, tuple[K, V]] = {}
        self._lock = threading.Lock()

    def __call__(self, key: K) -> V:
        cached = self._entries.get(id(key))
        if cached is not None and cached[0] is key:
            return cached[1]
        value = self._build(key)
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.pop(next(iter(self._entries)))  # the oldest
            self._entries[id(key)] = (key, value)
        return value
