"""What the llama.cpp KV cache holds, sequence by sequence, for the scheduler.

A sequence holds either a store's prompt prefix (shared by copy with that store's conversations) or
one conversation. When cells run short, idle conversations go first and store prefixes last, and idle
conversations beyond a cell budget, then other stores' idle prefixes, are parked as soon as an answer
ends (`park_idle`), and everything when a store whose prefix is not cached starts while nothing runs
(`park_all`). An evicted or parked sequence's state is saved in an LRU bounded in MB (a
conversation's without the store prefix it shares), so its next turn does not evaluate it again. Only
the engine thread calls this: there is no lock.

The saved states are files in a directory of this process's own when one is given (`state_dir`), else
bytes in RAM. As files they sit in the kernel's page cache while memory is free and come back as fast
(2 MB: 0.2 ms to read, ~5 ms to write after an answer ends); under memory pressure the kernel drops them
before it would swap or kill the engine, and the next turn reads them from disk. In RAM they counted in
the engine's RSS as they filled: 1.06 -> 1.27 GB over the benchmark's 73 chats.
"""

import fcntl
import itertools
import logging
import os
import shutil
import tempfile
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

logger = logging.getLogger(__name__)

PARK_MIN_CELLS = 64
STATE_DIR_LOCK = "in-use.lock"
LOST_STATE_LOG_SECONDS = 300.0  # a full disk loses every state: one warning per this many seconds


class KvRuntime(Protocol):
    """The part of `engine.scheduler.Runtime` the bookkeeping touches."""

    n_seq_max: int

    def seq_remove(self, seq: int, start: int = 0, end: int = -1) -> None: ...
    def seq_state_save(self, seq: int) -> bytes: ...


@dataclass(frozen=True)
class SavedState:
    """An evicted conversation's cells, saved.

    `tokens` are all of its tokens; the state holds the cells from position `start` on. The first `start`
    (a store prefix, `prefix_key`) were shared with the cached prefix and stayed there: saving them with every
    conversation made each state several times larger than the turns it keeps (a 600-token store prompt
    under a 150-token chat).
    """

    data: bytes
    tokens: list[int]
    start: int = 0
    prefix_key: str = ""
    size: int = 0  # of the data, also while it is in a file (`path`, and `data` empty)
    path: Path | None = None

    def __post_init__(self) -> None:
        if not self.size:
            object.__setattr__(self, "size", len(self.data))


@dataclass
class KvEntry:
    """What one KV-cache sequence holds."""

    seq: int
    kind: Literal["prefix", "conversation"]
    key: str
    tokens: list[int] = field(default_factory=list)
    shared_with: str = ""  # prefix key whose cells the first `shared` tokens share
    shared: int = 0
    busy: bool = False
    last_used: float = field(default_factory=time.monotonic)


class KvCache:
    def __init__(self, state_cache_mb: int, *, state_dir: str | Path = "") -> None:
        self.state_cache_mb = state_cache_mb
        self.entries: dict[int, KvEntry] = {}
        self._states: OrderedDict[str, SavedState] = OrderedDict()
        self._states_bytes = 0
        self._bytes_per_cell = 0.0  # of the last state saved: what parking the cache would take
        self._dir: Path | None = None
        self._names = itertools.count()
        self._lost_logged = 0.0
        if state_dir and state_cache_mb > 0:
            try:
                self._dir, lock = _own_state_dir(Path(state_dir))
            except OSError as exc:
                logger.warning("saved states stay in RAM: %s", exc)
            else:
                weakref.finalize(self, _remove_own_state_dir, self._dir, lock, os.getpid())

    def add(self, entry: KvEntry) -> None:
        self.entries[entry.seq] = entry

    def drop(self, seq: int) -> None:
        """Forget a sequence whose cells the caller has removed."""
        self.entries.pop(seq, None)

    def forget_all(self) -> None:
        """After the runtime was cleared or reloaded (the saved states are kept)."""
        self.entries.clear()

    def find(self, key: str) -> KvEntry | None:
        for entry in self.entries.values():
            if entry.key == key:
                return entry
        return None

    def take_saved(self, key: str) -> SavedState | None:
        """The saved state of an evicted conversation, removed from the cache, its data read."""
        saved = self._states.pop(key, None)
        if saved is None:
            return None
        self._states_bytes -= saved.size
        if saved.path is None:
            return saved
        try:
            data = saved.path.read_bytes()
        except OSError:
            data = b""  # loading it fails: the turn evaluates its tokens instead
        saved.path.unlink(missing_ok=True)
        return replace(saved, data=data, path=None)

    def has_saved(self, key: str) -> bool:
        return key in self._states

    def saved_over(self, prefix_key: str, prefix: Sequence[int]) -> Iterator[tuple[str, SavedState]]:
        """The saved states that go on from this store prefix: loaded, they fit over its cached cells."""
        n = len(prefix)
        for key, saved in self._states.items():
            over_it = saved.start == n and saved.prefix_key == prefix_key  # saved from the prefix's end
            whole = saved.start == 0 and len(saved.tokens) > n and saved.tokens[:n] == prefix
            if n and (over_it or whole):
                yield key, saved

    def forget_saved(self, key: str) -> None:
        """Drop a saved state that could not be loaded (its file gone, or no room for its cells)."""
        self._drop_saved(key)

    def read_saved(self, key: str) -> bytes:
        """A saved state's data, left saved and made the newest (another chat shares how it opens); empty
        when it is gone."""
        saved = self._states.get(key)
        if saved is None:
            return b""
        self._states.move_to_end(key)
        if saved.path is None:
            return saved.data
        try:
            return saved.path.read_bytes()
        except OSError:
            return b""

    def free_seq(self, rt: KvRuntime, avoid: set[int] | None = None) -> int | None:
        avoid = avoid or set()
        for seq in range(rt.n_seq_max):
            if seq not in self.entries and seq not in avoid:
                return seq
        victim = self._lru_idle(avoid=avoid)
        if victim is None:
            return None
        self._evict(rt, victim)
        return victim.seq

    def cells_used(self) -> int:
        """Cells the cached sequences take; a prefix's cells count once, however many share them."""
        own = self._own_cells()
        return sum(own(e) for e in self.entries.values())

    def _own_cells(self) -> Callable[[KvEntry], int]:
        """Cells an entry holds alone: its tokens less those shared with a cached store prefix."""
        prefixes = {e.key for e in self.entries.values() if e.kind == "prefix"}
        return lambda e: len(e.tokens) - (e.shared if e.shared_with in prefixes else 0)

    def make_room(self, rt: KvRuntime, need: int, *, limit: int, keep: set[str]) -> bool:
        """Evict idle sequences (not those in `keep`) until `need` more cells fit under `limit`.

        `need` includes what the running answers will still take: the caller knows them.
        """
        while self.cells_used() + need > limit:
            victim = self._lru_idle(avoid=set(), keep=keep)
            if victim is None:
                return False
            self._evict(rt, victim)
        return True

    def park_idle(self, rt: KvRuntime, *, budget: int) -> int:
        """Save idle conversations, oldest first, until their own cells fit `budget`; how many went.

        llama.cpp attends over every cell up to the highest one in use, whichever sequence holds it: with
        a cache full of idle conversations a turn's prefill ran at a third of its speed (70 against 200
        prompt tokens a second on the 0.5B model). A parked conversation's next turn loads its state
        (~13 ms for 1,000 tokens) and evaluates only its new tokens, as it would have in place.
        """
        if self.state_cache_mb <= 0:
            return 0  # nowhere to save them: an idle conversation in the cache beats one thrown away
        own = self._own_cells()
        idle = sorted(
            (e for e in self.entries.values() if e.kind == "conversation" and not e.busy), key=lambda e: e.last_used
        )
        held = sum(own(e) for e in idle)
        parked = 0
        for entry in idle:
            if held <= budget:
                break
            if own(entry) < PARK_MIN_CELLS:
                continue  # a prefix warm-up's stub: its whole saved state would cost more than its cells
            held -= own(entry)
            self._evict(rt, entry)
            parked += 1
        return parked + self._park_prefixes(rt, held, budget)

    def _park_prefixes(self, rt: KvRuntime, held: int, budget: int) -> int:
        """Save other stores' idle prompt prefixes while the idle cells exceed `budget`.

        The most recently used prefix stays, and so does one that a busy or a real idle conversation shares;
        warm-up stubs on it go with it. Its store's next chat loads it back (~8 ms for 600 tokens) instead
        of every other chat attending over its cells.
        """
        prefixes = sorted((e for e in self.entries.values() if e.kind == "prefix"), key=lambda e: e.last_used)
        own = self._own_cells()
        parked = 0
        for prefix in prefixes[:-1]:
            sharing = [e for e in self.entries.values() if e.kind == "conversation" and e.shared_with == prefix.key]
            if prefix.busy or any(e.busy or own(e) >= PARK_MIN_CELLS for e in sharing):
                continue
            held += len(prefix.tokens)
            if held <= budget:
                continue
            for stub in sharing:
                self._evict(rt, stub)
            self._evict(rt, prefix)
            held -= len(prefix.tokens)
            parked += 1
        return parked

    def park_all(self, rt: KvRuntime, *, keep: tuple[str, ...] = ()) -> int:
        """Save every sequence (conversations first, over their prefixes): the cache is left empty.

        For a store whose prefix is not cached, while nothing runs. llama.cpp places new cells from the lowest
        free one and attends over every cell up to the highest in use: a prefix built or loaded above the
        cells of another store's chats made each of its turns attend over both (a 100-token turn on a
        747-token prefix: 253 ms alone, 343 ms above 700 cells of another store, 418 above 1,500). Saving and
        loading cost milliseconds. The saved states of `keep` (the job's own prefix and conversation) are made
        the newest first, so the states saved now do not push them out; nothing is parked when the states
        would take more than half the budget (by the size of the states saved so far).
        """
        if self.state_cache_mb <= 0 or any(e.busy for e in self.entries.values()):
            return 0
        own = self._own_cells()
        cells = sum(own(e) for e in self.entries.values())
        if self._bytes_per_cell and cells * self._bytes_per_cell > self.state_cache_mb * 1024 * 1024 // 2:
            return 0
        for key in keep:
            if key in self._states:
                self._states.move_to_end(key)
        entries = sorted(self.entries.values(), key=lambda e: (e.kind == "prefix", e.last_used))
        for entry in entries:
            if entry.kind == "conversation" and own(entry) < PARK_MIN_CELLS:
                self._evict(rt, entry, save=False)  # a warm-up's stub: no one comes back to it
            else:
                self._evict(rt, entry)
        return len(entries)

    def _lru_idle(self, avoid: set[int], keep: set[str] | None = None) -> KvEntry | None:
        keep = keep or set()
        idle = [e for e in self.entries.values() if not e.busy and e.seq not in avoid and e.key not in keep]
        # Conversations go before store prefixes: a prefix serves every new chat of its store.
        idle.sort(key=lambda e: (e.kind == "prefix", e.last_used))
        return idle[0] if idle else None

    def _evict(self, rt: KvRuntime, entry: KvEntry, *, save: bool = True) -> None:
        if save and entry.tokens and self.state_cache_mb > 0:
            self._save(rt, entry)
        rt.seq_remove(entry.seq)
        del self.entries[entry.seq]
        for other in self.entries.values():
            if other.shared_with == entry.key:
                # It keeps the prefix's cells on its own now: they are its to count (and to save), even once
                # the prefix is cached again in other cells.
                other.shared, other.shared_with = 0, ""

    def _save(self, rt: KvRuntime, entry: KvEntry) -> None:
        start = entry.shared if entry.shared and self.find(entry.shared_with) is not None else 0
        if start >= len(entry.tokens):
            return  # nothing of its own: a copy of the cached prefix starts it as warm
        if start:
            rt.seq_remove(entry.seq, 0, start)  # the cached prefix keeps those cells
        data = rt.seq_state_save(entry.seq)
        self._bytes_per_cell = len(data) / max(1, len(entry.tokens) - start)
        budget = self.state_cache_mb * 1024 * 1024
        if len(data) > budget:
            return
        self._drop_saved(entry.key)  # an older state of the same conversation is replaced, not counted twice
        saved = SavedState(data, list(entry.tokens), start, entry.shared_with if start else "", size=len(data))
        if self._dir is not None:
            path = self._dir / f"{next(self._names)}.kv"
            try:
                path.write_bytes(data)
            except OSError as exc:
                path.unlink(missing_ok=True)
                if time.monotonic() - self._lost_logged > LOST_STATE_LOG_SECONDS:
                    self._lost_logged = time.monotonic()
                    logger.warning("a saved conversation state was lost (%s): its next turn evaluates it again", exc)
                return  # a full disk loses the state, not the answer
            saved = replace(saved, data=b"", path=path)
        self._states[entry.key] = saved
        self._states_bytes += saved.size
        while self._states_bytes > budget:
            self._drop_saved(next(iter(self._states)))

    def _drop_saved(self, key: str) -> None:
        saved = self._states.pop(key, None)
        if saved is not None:
            self._states_bytes -= saved.size
            if saved.path is not None:
                saved.path.unlink(missing_ok=True)


def _own_state_dir(base: Path) -> tuple[Path, int]:
    """A new directory for this process's saved states under `base`, and the descriptor of the lock that marks
    it as in use; directories whose owner is gone (their lock is free) are removed.

    A lock, not a process id: engine processes in containers sharing `base` see each other's ids as free or
    as their own, and a restarted container often gets its crashed predecessor's id."""
    base.mkdir(parents=True, exist_ok=True)
    own = Path(tempfile.mkdtemp(prefix="states-", dir=base))
    lock = os.open(own / STATE_DIR_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    for old in base.glob("states-*"):
        if old != own and _abandoned(old):
            shutil.rmtree(old, ignore_errors=True)
    return own, lock


def _abandoned(directory: Path) -> bool:
    try:
        fd = os.open(directory / STATE_DIR_LOCK, os.O_RDWR)
    except FileNotFoundError:
        # One being made this instant has no lock yet; one older than a minute without it never will.
        try:
            return time.time() - directory.stat().st_mtime > 60
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its process holds it
    finally:
        os.close(fd)  # also lets go of the lock if it was taken
    return True


def _remove_own_state_dir(directory: Path, lock: int, owner: int) -> None:
    if os.getpid() == owner:  # not a forked child's exit: the directory is its parent's
        shutil.rmtree(directory, ignore_errors=True)
        os.close(lock)
