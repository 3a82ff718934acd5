"""The engine scheduler: one thread owns the llama.cpp runtime and advances every chat in one batch.

Speed comes from three things, all measured by `manage.py bench_engine`:
- each store's stable prefix is evaluated once into its own KV sequence and shared (seq_cp) by every
  conversation of that store; a changed prefix has other tokens, so it is simply a new sequence;
- a conversation keeps its KV sequence between turns (or, once evicted or parked beyond the idle-cell
  budget, a saved state in a RAM LRU bounded in MB), so a follow-up turn evaluates only its new tokens;
- concurrent chats decode together in one llama_batch (several sequences), and prompt-lookup drafts
  (tokens copied from the prompt, e.g. a knowledge-base answer) are verified several at a time.

Which sequence holds what is `engine.kv_cache`; how a queued job gets its sequence and warm start is
`engine.admission`; the drafts come from `engine.prompt_lookup`. The batch step and draft
verification stay here: they work on the same active slots in the engine thread, and are read together.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from engine.admission import EventSink, Job, Rejected, Slot, slot_prepare
from engine.generate import LIVE, GenerationEvent, GenerationRequest
from engine.kv_cache import KvCache
from engine.prompt_lookup import lookup_draft

logger = logging.getLogger(__name__)


class Runtime(Protocol):
    """What the scheduler needs of `engine.llm.LlamaRuntime` (unit tests use a fake)."""

    n_ctx: int
    n_seq_max: int

    @property
    def batch_capacity(self) -> int: ...
    def render_chat(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str: ...
    def tokenize(self, text: str, *, special: bool = True) -> list[int]: ...
    def token_bytes(self, token: int) -> bytes: ...
    def is_end(self, token: int) -> bool: ...
    def seq_remove(self, seq: int, start: int = 0, end: int = -1) -> None: ...
    def seq_copy(self, src: int, dst: int, start: int = 0, end: int = -1) -> None: ...
    def seq_state_save(self, seq: int) -> bytes: ...
    def seq_state_load(self, seq: int, data: bytes) -> bool: ...
    def clear(self) -> None: ...
    def decode(self, items: Sequence[tuple[int, int, int, bool]]) -> None: ...
    def logits(self, index: int) -> Any: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class SchedulerConfig:
    parallel: int = 4  # chats decoded together
    queue_size: int = 16  # jobs waiting beyond those; past it callers answer "busy"
    prefill_chunk: int = 128  # prompt tokens per step, so running chats keep streaming
    draft_tokens: int = 6  # prompt-lookup draft length (0 disables)
    # Drafts pay off only while the CPU would otherwise wait on memory: with several chats in one
    # batch, rejected draft tokens take compute from the others (measured: 4 chats got slower).
    draft_max_active: int = 1
    ngram: int = 3  # longest n-gram matched for a draft
    min_ngram: int = 2  # shortest
    draft_backoff: int = 8  # tokens without drafts after a draft was wholly rejected
    repeat_penalty: float = 1.1
    penalty_window: int = 64
    state_cache_mb: int = 256  # saved conversation states kept
    state_dir: str = ""  # they are files in a directory of the process's own under this one ("": bytes in RAM)
    # Cells idle conversations may keep in the KV cache; past it the oldest are saved (kv_cache.park_idle).
    idle_kv_cells: int = 512
    kv_margin: int = 64


class Scheduler:
    def __init__(self, runtime_factory: Callable[[], Runtime], config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        self._runtime_factory = runtime_factory
        self._runtime: Runtime | None = None
        self._lock = threading.Condition()
        self._queue: deque[Job] = deque()
        self._active: dict[str, Slot] = {}
        self._kv = KvCache(self.config.state_cache_mb, state_dir=self.config.state_dir)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.restarts = 0
        self.last_progress = time.monotonic()
        self.load_error = ""

    # --- called from any thread ------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread and self._thread.is_alive():
                return
            if self._thread is not None:
                self.restarts += 1
                logger.warning("engine thread was dead; restarting it (restart %d)", self.restarts)
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="engine-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread:
            self._thread.join(timeout)
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def submit(self, request: GenerationRequest, sink: EventSink) -> bool:
        """Queue a job; False when the queue is full (the caller answers "busy" at once)."""
        with self._lock:
            if len(self._queue) >= self.config.queue_size:
                return False
            job = Job(request=request, sink=sink)
            if request.priority > LIVE:
                if len(self._queue) >= max(1, self.config.queue_size // 2):
                    return False  # background work leaves half the queue to shoppers
                self._queue.append(job)
            else:
                # A live job goes ahead of every waiting background job.
                at = next((i for i, j in enumerate(self._queue) if j.request.priority > LIVE), len(self._queue))
                self._queue.insert(at, job)
            self._lock.notify_all()
        self.start()
        return True

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            for job in self._queue:
                if job.request.job_id == job_id:
                    self._queue.remove(job)
                    break
            else:
                slot = self._active.get(job_id)
                if slot is None:
                    return False
                slot.job.cancelled = True
                return True
        job.sink(GenerationEvent(job_id=job_id, kind="done", finish_reason="cancelled"))
        return True

    def job_ids(self) -> list[str]:
        with self._lock:
            return [j.request.job_id for j in self._queue] + list(self._active)

    def queue_position(self, job_id: str) -> int:
        with self._lock:
            for i, job in enumerate(self._queue):
                if job.request.job_id == job_id:
                    return i + 1
        return 0

    # --- the engine thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
            try:
                if self._runtime is None:
                    self._runtime = self._runtime_factory()
                    self.load_error = ""
                self._loop(self._runtime)
                return
            except Exception as exc:
                logger.exception("engine failed; failing its running answers and starting over")
                self._fail_active(f"{type(exc).__name__}: {exc}")
                if self._runtime is None:
                    self.load_error = str(exc)
                    self._fail_queued(f"the model could not be loaded: {exc}")
                    time.sleep(2.0)
                else:
                    try:
                        self._runtime.clear()
                    except Exception:
                        logger.exception("could not clear the KV cache; reloading the model")
                        self._runtime = None
                self._kv.forget_all()
                self.restarts += 1

    def _fail_active(self, message: str) -> None:
        with self._lock:
            slots = list(self._active.values())
            self._active.clear()
        for slot in slots:
            slot.stats.total_ms = int((time.monotonic() - slot.job.submitted) * 1000)
            slot.job.sink(
                GenerationEvent(
                    job_id=slot.request.job_id,
                    kind="done",
                    finish_reason="error",
                    error=message,
                    text=slot.text,
                    stats=slot.stats,
                )
            )

    def _fail_queued(self, message: str) -> None:
        with self._lock:
            jobs = list(self._queue)
            self._queue.clear()
        for job in jobs:
            job.sink(GenerationEvent(job_id=job.request.job_id, kind="done", finish_reason="error", error=message))

    def _loop(self, rt: Runtime) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                self._admit(rt)
                if not self._active:
                    self._lock.wait(timeout=0.5)
                    self.last_progress = time.monotonic()
                    continue
                slots = list(self._active.values())
            self._step(rt, slots)
            self.last_progress = time.monotonic()

    # --- admission: a queued job gets a sequence and a warm start --------------------------------

    def _admit(self, rt: Runtime) -> None:
        busy_keys = {s.request.conversation_key for s in self._active.values()}
        building = {s.prefix_entry.key for s in self._active.values() if s.prefix_entry is not None}
        index = 0
        while len(self._active) < self.config.parallel and index < len(self._queue):
            job = self._queue[index]
            if job.request.priority > LIVE and 1 < self.config.parallel <= len(self._active) + 1:
                break  # the last slot is kept for a shopper (background jobs wait at the queue's end)
            if job.request.conversation_key in busy_keys:
                index += 1  # one answer at a time per conversation; later jobs may go first
                continue
            try:
                slot = slot_prepare(
                    rt,
                    self._kv,
                    job,
                    building=building,
                    active=self._active.values(),
                    draft_tokens=self.config.draft_tokens,
                    kv_margin=self.config.kv_margin,
                )
            except Rejected as exc:
                del self._queue[index]
                job.sink(GenerationEvent(job_id=job.request.job_id, kind="done", finish_reason="error", error=str(exc)))
                continue
            if slot is None:
                index += 1
                continue
            del self._queue[index]
            self._active[job.request.job_id] = slot
            busy_keys.add(job.request.conversation_key)
            if slot.prefix_entry is not None:
                building.add(slot.prefix_entry.key)
            slot.stats.queued_ms = int((slot.started - job.submitted) * 1000)
            job.sink(GenerationEvent(job_id=job.request.job_id, kind="accepted", stats=slot.stats))

    def _step(self, rt: Runtime, slots: list[Slot]) -> None:
        now = time.monotonic()
        for slot in slots:
            if slot.job.cancelled:
                slot.finished = "cancelled"
            elif now - slot.started > slot.request.max_seconds:
                slot.finished = "time"
        running = [s for s in slots if s.finished is None]

        items: list[tuple[int, int, int, bool]] = []
        owners: list[tuple[Slot, int, int]] = []  # slot, first item index, count
        for slot in running:
            if slot.pending:
                pos = len(slot.entry.tokens)
                owners.append((slot, len(items), len(slot.pending)))
                items.extend((tok, pos + i, slot.entry.seq, True) for i, tok in enumerate(slot.pending))
        budget = rt.batch_capacity - len(items)
        # Small prompt chunks only matter when other chats are streaming; otherwise take it all at once.
        chunk_size = self.config.prefill_chunk if items else rt.batch_capacity
        for slot in running:
            if slot.pending or budget <= 0:
                continue
            if slot.prefix_entry is not None:
                target, done = slot.prefix_entry, len(slot.prefix_entry.tokens)
                chunk = slot.prompt[done : min(slot.prefix_len, done + chunk_size, done + budget)]
                items.extend((tok, done + i, target.seq, False) for i, tok in enumerate(chunk))
                owners.append((slot, -1, len(chunk)))
            else:
                done = slot.n_past
                chunk = slot.prompt[done : min(len(slot.prompt), done + chunk_size, done + budget)]
                last = done + len(chunk) == len(slot.prompt)
                start = len(items)
                items.extend(
                    (tok, done + i, slot.entry.seq, last and i == len(chunk) - 1) for i, tok in enumerate(chunk)
                )
                owners.append((slot, start + len(chunk) - 1 if last else -2, len(chunk)))
            budget -= len(chunk)
            slot.stats.evaluated_tokens += len(chunk)

        if items:
            rt.decode(items)

        for slot, index, count in owners:
            if slot.pending:
                self._accept(rt, slot, index, count)
            elif slot.prefix_entry is not None:
                slot.prefix_entry.tokens.extend(slot.prompt[len(slot.prefix_entry.tokens) :][:count])
                if len(slot.prefix_entry.tokens) >= slot.prefix_len:
                    prefix = slot.prefix_entry
                    rt.seq_copy(prefix.seq, slot.entry.seq)
                    slot.entry.tokens = list(prefix.tokens)
                    slot.entry.shared, slot.entry.shared_with = len(prefix.tokens), prefix.key
                    slot.n_past = len(prefix.tokens)
                    prefix.busy = False
                    prefix.last_used = time.monotonic()
                    slot.prefix_entry = None
            else:
                slot.entry.tokens.extend(slot.prompt[slot.n_past : slot.n_past + count])
                slot.n_past += count
                if index >= 0:
                    self._emit_tokens(rt, slot, [self._pick(rt.logits(index), slot.generated)])

        for slot in slots:
            if slot.finished is not None:
                self._finish(rt, slot)

    def _pick(self, logits: Any, recent: Sequence[int]) -> int:
        penalty = self.config.repeat_penalty
        if penalty != 1.0 and recent:
            ids = np.unique(np.asarray(recent[-self.config.penalty_window :], dtype=np.int64))
            values = logits[ids]
            logits[ids] = np.where(values > 0, values / penalty, values * penalty)
        return int(np.argmax(logits))

    def _accept(self, rt: Runtime, slot: Slot, index: int, count: int) -> None:
        """Verify this step's tokens: the first is the last sampled token, the rest are drafts."""
        evaluated = slot.pending
        slot.pending = []
        drafts = evaluated[1:]
        accepted: list[int] = []
        history = list(slot.generated)
        for i in range(count):
            token = self._pick(rt.logits(index + i), history)
            accepted.append(token)
            history.append(token)
            if i >= len(drafts) or token != drafts[i] or rt.is_end(token):
                break
        # The KV now holds every evaluated token; keep those the model agreed with.
        n_ok = len(accepted)  # evaluated[0] plus the drafts confirmed by the model
        slot.entry.tokens.extend(evaluated[:n_ok])
        slot.stats.drafted_tokens += len(drafts)
        slot.stats.accepted_tokens += n_ok - 1
        if drafts and n_ok == 1:
            # A wholly rejected draft cost a wider batch for nothing: the answer has left the
            # prompt's text, so stop guessing for a while.
            slot.draft_pause = self.config.draft_backoff
        if n_ok < len(evaluated):
            rt.seq_remove(slot.entry.seq, len(slot.entry.tokens))
        self._emit_tokens(rt, slot, accepted)

    def _emit_tokens(self, rt: Runtime, slot: Slot, tokens: list[int]) -> None:
        out = []
        for token in tokens:
            if rt.is_end(token):
                slot.finished = "stop"
                break
            slot.generated.append(token)
            out.append(slot.decoder.decode(rt.token_bytes(token)))
            if len(slot.generated) >= slot.request.max_tokens:
                slot.finished = "length"
                break
        text = "".join(out)
        if text:
            self._delta(slot, text)
        if slot.finished is None:
            last = slot.generated[-1]
            draft = []
            if slot.draft_pause > 0:
                slot.draft_pause -= 1
            elif slot.request.prompt_lookup and len(self._active) <= self.config.draft_max_active:
                room = slot.request.max_tokens - len(slot.generated)
                draft = lookup_draft(
                    slot.prompt,
                    slot.generated,
                    max_draft=min(self.config.draft_tokens, room),
                    ngram=self.config.ngram,
                    min_ngram=self.config.min_ngram,
                )
            slot.pending = [last, *draft]

    def _delta(self, slot: Slot, text: str) -> None:
        if slot.stats.ttft_ms is None:
            slot.stats.ttft_ms = int((time.monotonic() - slot.job.submitted) * 1000)
        slot.text += text
        slot.job.sink(GenerationEvent(job_id=slot.request.job_id, kind="delta", text=text))

    def _finish(self, rt: Runtime, slot: Slot) -> None:
        tail = slot.decoder.decode(b"", final=True)
        if tail:
            self._delta(slot, tail)
        if slot.prefix_entry is not None:
            # Stopped while building a store prefix: a half-built prefix is of no use to anyone.
            rt.seq_remove(slot.prefix_entry.seq)
            self._kv.drop(slot.prefix_entry.seq)
        slot.entry.busy = False
        slot.entry.last_used = time.monotonic()
        slot.stats.completion_tokens = len(slot.generated)
        slot.stats.total_ms = int((time.monotonic() - slot.job.submitted) * 1000)
        with self._lock:
            self._active.pop(slot.request.job_id, None)
        slot.job.sink(
            GenerationEvent(
                job_id=slot.request.job_id,
                kind="done",
                finish_reason=slot.finished,
                text=slot.text,
                stats=slot.stats,
            )
        )
        self._kv.park_idle(rt, budget=self.config.idle_kv_cells)
