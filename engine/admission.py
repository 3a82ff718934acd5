"""Admission: a queued job gets a KV sequence and the warmest start the cache allows.

The warmest start, best first: the conversation's own sequence (a follow-up evaluates only its new
turn), its saved state from the RAM LRU, a copy of the store's prefix sequence (`llama_memory_seq_cp`,
no cells copied), or nothing, in which case this job evaluates the store's prefix into a sequence of
its own that later conversations share. Only the engine thread calls this.
"""

import codecs
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.generate import FinishReason, GenerationEvent, GenerationRequest, GenerationStats
from engine.kv_cache import KvCache, KvEntry, SavedState

EventSink = Callable[[GenerationEvent], None]


class AdmissionRuntime(Protocol):
    """The part of `engine.scheduler.Runtime` admission touches."""

    n_ctx: int
    n_seq_max: int

    def render_chat(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str: ...
    def tokenize(self, text: str, *, special: bool = True) -> list[int]: ...
    def seq_remove(self, seq: int, start: int = 0, end: int = -1) -> None: ...
    def seq_copy(self, src: int, dst: int, start: int = 0, end: int = -1) -> None: ...
    def seq_state_save(self, seq: int) -> bytes: ...
    def seq_state_load(self, seq: int, data: bytes) -> bool: ...


@dataclass
class Job:
    request: GenerationRequest
    sink: EventSink
    submitted: float = field(default_factory=time.monotonic)
    cancelled: bool = False


@dataclass
class Slot:
    """A running answer: its sequence, its prompt and what it has written so far."""

    job: Job
    entry: KvEntry
    prompt: list[int]
    prefix_len: int
    prefix_entry: KvEntry | None  # set while this slot builds its store prefix
    n_past: int  # prompt tokens already in this slot's sequence
    stats: GenerationStats
    started: float
    generated: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)  # tokens to evaluate next step (last + drafts)
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))
    text: str = ""
    finished: FinishReason | None = None
    draft_pause: int = 0

    @property
    def request(self) -> GenerationRequest:
        return self.job.request


class Rejected(Exception):
    """A job that can never run (its prompt does not fit): answered with an error at once."""


def slot_prepare(
    rt: AdmissionRuntime,
    kv: KvCache,
    job: Job,
    *,
    building: set[str],
    active: Iterable[Slot],
    draft_tokens: int,
    kv_margin: int,
) -> Slot | None:
    """A slot for `job`, or None when it must wait (no room, or its store prefix is being built)."""
    request = job.request
    prompt = rt.tokenize(rt.render_chat(request.messages))
    prefix = rt.tokenize(rt.render_chat(request.messages[:1], add_generation_prompt=False))
    if prompt[: len(prefix)] != prefix:
        prefix = []
    prefix_key = f"prefix:{hash(tuple(prefix))}"
    max_tokens = max(1, min(request.max_tokens, rt.n_ctx // 4))
    if len(prompt) + max_tokens + draft_tokens > rt.n_ctx // 2:
        raise Rejected(f"the prompt is too long ({len(prompt)} tokens)")
    if prefix and prefix_key in building:
        return None  # another chat is evaluating this store's prefix right now; wait for it
    conv_key = f"conv:{request.conversation_key}"
    need = len(prompt) + max_tokens + draft_tokens + len(prefix)
    # What the running answers will still write is reserved, not yet in any cell.
    running = list(active)
    reserved = sum(_still_to_write(slot, draft_tokens) for slot in running)
    if not kv.make_room(rt, reserved + need, limit=rt.n_ctx - kv_margin, keep={conv_key, prefix_key}):
        return None
    if prefix and kv.find(prefix_key) is None and not running:
        kv.park_all(rt, keep=(prefix_key, conv_key))  # its prefix goes to the lowest cells, not above others
    entry = kv.find(conv_key)
    prefix_entry = kv.find(prefix_key) if prefix else None
    if prefix and prefix_entry is None:
        prefix_entry = _parked_prefix(rt, kv, prefix_key, prefix, avoid={entry.seq} if entry else set())
    stats = GenerationStats(prompt_tokens=len(prompt))
    now = time.monotonic()

    kept = 0
    if entry is None:
        seq = kv.free_seq(rt, avoid={prefix_entry.seq} if prefix_entry else None)
        if seq is None:
            return None
        entry = KvEntry(seq=seq, kind="conversation", key=conv_key)
        kv.add(entry)
        saved = kv.take_saved(conv_key)
        if saved is not None and _loads(rt, seq, saved, prompt, prefix, prefix_entry):
            entry.tokens = list(saved.tokens)
            if prefix_entry is not None and entry.tokens[: len(prefix)] == prefix:
                # Share the cached store prefix: a state saved whole holds its own copy of it, one saved from
                # its end (`SavedState.start`) none. The conversation's cells are then only its turns.
                rt.seq_remove(seq, 0, len(prefix))
                rt.seq_copy(prefix_entry.seq, seq, 0, len(prefix))
                entry.shared, entry.shared_with = len(prefix), prefix_key
    if prefix_entry is not None:
        prefix_entry.last_used = now  # its store is chatting: not the prefix to park next
    if entry.tokens:
        kept = min(common_prefix(entry.tokens, prompt), len(prompt) - 1)
        if kept <= len(prefix) and prefix_entry is not None and entry.shared_with != prefix_key:
            kept = 0  # the cached turns sit on an old store prefix: start from the current one
    entry.busy = True
    entry.last_used = now
    building_prefix: KvEntry | None = None
    if kept == 0:
        rt.seq_remove(entry.seq)
        entry.tokens, entry.shared, entry.shared_with = [], 0, ""
        if prefix_entry is not None:
            rt.seq_copy(prefix_entry.seq, entry.seq)
            entry.tokens, entry.shared, entry.shared_with = list(prefix), len(prefix), prefix_key
            kept = _borrow(rt, kv, entry, prompt, prefix_entry)
        elif prefix:
            seq = kv.free_seq(rt, avoid={entry.seq})  # may be None: then no shared prefix this time
            if seq is not None:
                building_prefix = KvEntry(seq=seq, kind="prefix", key=prefix_key, busy=True)
                kv.add(building_prefix)
    else:
        rt.seq_remove(entry.seq, kept)
        entry.tokens = entry.tokens[:kept]
        entry.shared = min(entry.shared, kept)
    return Slot(
        job=job,
        entry=entry,
        prompt=prompt,
        prefix_len=len(prefix),
        prefix_entry=building_prefix,
        n_past=kept,
        stats=stats,
        started=now,
    )


BORROW_MIN_TOKENS = 8


def _borrow(rt: AdmissionRuntime, kv: KvCache, entry: KvEntry, prompt: list[int], prefix_entry: KvEntry) -> int:
    """Share the cells another chat over the same store prefix holds for how this prompt goes on, or load them
    from a saved state that goes on the same way; how many tokens `entry` then holds.

    Every first turn opens the same way after the store prefix (the reference header, often the same entry
    first): a chat whose cells already hold those tokens at those positions holds exactly what evaluating them
    again would give (a cell depends only on the tokens before it), so they are shared, not evaluated. A saved
    state (a parked chat, or an opening evaluated ahead, `engine.openings`) is loaded and cut where the prompt
    leaves it.
    """
    start = len(entry.tokens)
    last = len(prompt) - 1  # the last token is evaluated: its logits start the answer
    source, best = None, start
    for other in kv.entries.values():
        if other is not entry and other.kind == "conversation" and other.shared_with == entry.shared_with:
            n = common_prefix(other.tokens, prompt)
            if n > best:
                source, best = other, n
    best = min(best, last)
    saved_key, saved_best, saved_size = None, best, 0
    for key, saved in kv.saved_over(entry.shared_with, entry.tokens):
        n = min(common_prefix(saved.tokens, prompt, start), last)  # both begin with the store prefix
        if n > saved_best or (n == saved_best and saved_key is not None and saved.size < saved_size):
            saved_key, saved_best, saved_size = key, n, saved.size  # the same tokens: the smaller state to read
    if (
        saved_key is not None
        and saved_best - best >= BORROW_MIN_TOKENS
        and _load_opening(rt, kv, entry, saved_key, prompt, saved_best, prefix_entry)
    ):
        return saved_best
    if source is None or best - start < BORROW_MIN_TOKENS:
        return start
    rt.seq_copy(source.seq, entry.seq, start, best)
    entry.tokens.extend(prompt[start:best])
    return best


def _load_opening(
    rt: AdmissionRuntime, kv: KvCache, entry: KvEntry, key: str, prompt: list[int], n: int, prefix_entry: KvEntry
) -> bool:
    """Load a saved state into `entry`'s sequence and keep its cells for `prompt[:n]` over the cached store
    prefix; False when it could not be loaded (the sequence holds the prefix again)."""
    data = kv.read_saved(key)
    prefix_len = len(entry.tokens)
    rt.seq_remove(entry.seq)
    loaded = bool(data) and rt.seq_state_load(entry.seq, data)
    if loaded:
        rt.seq_remove(entry.seq, 0, prefix_len)  # a state saved whole brought its own copy of the prefix
        rt.seq_remove(entry.seq, n)  # and the rest of its own turn
    else:
        rt.seq_remove(entry.seq)
        kv.forget_saved(key)  # or every new chat would try it again
    rt.seq_copy(prefix_entry.seq, entry.seq, 0, prefix_len)
    if loaded:
        entry.tokens = list(prompt[:n])
    return loaded


def _parked_prefix(
    rt: AdmissionRuntime, kv: KvCache, key: str, prefix: list[int], *, avoid: set[int]
) -> KvEntry | None:
    """A store prefix parked in RAM (`KvCache.park_idle`), loaded back into a sequence of its own."""
    if not kv.has_saved(key):
        return None
    seq = kv.free_seq(rt, avoid=avoid)
    if seq is None:
        return None  # kept for a later chat
    saved = kv.take_saved(key)
    if saved is None or saved.tokens != prefix or not rt.seq_state_load(seq, saved.data):
        return None
    entry = KvEntry(seq=seq, kind="prefix", key=key, tokens=list(prefix))
    kv.add(entry)
    return entry


def _loads(
    rt: AdmissionRuntime,
    seq: int,
    saved: SavedState,
    prompt: list[int],
    prefix: list[int],
    prefix_entry: KvEntry | None,
) -> bool:
    """Load a saved conversation into `seq` when it is a warmer start than the store prefix alone.

    A state saved without its store prefix is of use only over that same prefix, still cached.
    """
    if common_prefix(saved.tokens, prompt) <= (len(prefix) if prefix_entry is not None else 0):
        return False
    if saved.start and (prefix_entry is None or prefix_entry.key != saved.prefix_key or saved.start != len(prefix)):
        return False
    return rt.seq_state_load(seq, saved.data)


def _still_to_write(slot: Slot, draft_tokens: int) -> int:
    cells = slot.request.max_tokens - len(slot.generated) + draft_tokens
    if slot.n_past < len(slot.prompt):
        cells += len(slot.prompt) - slot.n_past
    return cells


def common_prefix(a: Sequence[int], b: Sequence[int], start: int = 0) -> int:
    """How many tokens `a` and `b` share from the start (the first `start` known to be the same)."""
    n = min(len(a), len(b))
    i = min(start, n)
    while i < n and a[i] == b[i]:
        i += 1
    return i
