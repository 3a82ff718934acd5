"""The generation benchmark: our scheduler against a naive baseline, same model, same workload, same run.

The naive baseline is what a straightforward integration does: rebuild and evaluate the whole prompt
for every turn, one request at a time, no KV reuse, no batching, no drafts.
"""

import codecs
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.bench import DEMO_FILE, demo_snapshot, pct
from engine.generate import GenerationEvent, GenerationRequest, GenerationStats
from engine.pipeline import decide
from engine.prompt import store_prefix
from engine.scheduler import Runtime, Scheduler, SchedulerConfig

FIRST_TURNS = [
    "T恤有哪些尺码？",
    "连衣裙是什么面料的？",
    "现在有什么优惠活动？",
    "下单后多久发货？",
    "可以七天无理由退货吗？",
    "身高165体重55公斤穿什么码？",
    "会员有折扣吗？",
    "买两件包邮吗？",
]
FOLLOW_UPS = ["那L码呢？", "有白色的吗？", "能便宜点吗？", "用什么快递？", "运费谁出？", "M码还有货吗？"]
# Questions whose answer is in a retrieved FAQ entry: the model mostly copies the reference text.
COPY_QUESTIONS = ["寄到新疆要几天能收到？", "衣服洗了会缩水吗？烘干可以吗", "收到的衣服有破洞怎么办？"]


def copy_turns(path: Path = DEMO_FILE) -> list[str]:
    """The shopper turns the pipeline builds for COPY_QUESTIONS: question plus reference snippets."""
    store = demo_snapshot(path)
    turns = []
    for question in COPY_QUESTIONS:
        decision = decide(store=store, question=question)
        if decision.kind != "generate":
            raise RuntimeError(f"{question!r} no longer goes to the model ({decision.route})")
        turns.append(decision.user_content)
    return turns


def demo_prefix(path: Path = DEMO_FILE) -> str:
    """The demo store's real prompt prefix: persona, rules, products and active promotions."""
    return store_prefix(demo_snapshot(path))


@dataclass
class Result:
    ttft: float
    total: float
    tokens: int
    prompt_tokens: int = 0
    evaluated_tokens: int = 0
    text: str = ""


@dataclass
class Report:
    name: str
    first_turn_ttft: list[float] = field(default_factory=list)
    follow_up_ttft: list[float] = field(default_factory=list)
    single_tps: float = 0.0
    copy_tps: float = 0.0
    concurrent: dict[int, dict[str, float]] = field(default_factory=dict)
    evaluated_first: list[int] = field(default_factory=list)
    evaluated_follow: list[int] = field(default_factory=list)


Ask = Callable[[list[GenerationRequest]], list[Result]]
ClosedLoop = Callable[[list[GenerationRequest], int], tuple[list[Result], float]]


class OurEngine:
    def __init__(self, runtime: Runtime, config: SchedulerConfig) -> None:
        self.scheduler = Scheduler(lambda: runtime, config)
        self.scheduler.start()

    def ask(self, requests: list[GenerationRequest]) -> list[Result]:
        """Submit all at once (concurrent chats); wait for every answer."""
        done = {r.job_id: threading.Event() for r in requests}
        results: dict[str, Result] = {}
        started = time.perf_counter()
        first: dict[str, float] = {}
        text: dict[str, list[str]] = {r.job_id: [] for r in requests}

        def sink(ev: GenerationEvent) -> None:
            if ev.kind == "delta":
                first.setdefault(ev.job_id, time.perf_counter() - started)
                text[ev.job_id].append(ev.text)
            elif ev.kind == "done":
                results[ev.job_id] = Result(
                    ttft=first.get(ev.job_id, time.perf_counter() - started),
                    total=time.perf_counter() - started,
                    tokens=ev.stats.completion_tokens,
                    prompt_tokens=ev.stats.prompt_tokens,
                    evaluated_tokens=ev.stats.evaluated_tokens,
                    text="".join(text[ev.job_id]),
                )
                done[ev.job_id].set()

        for r in requests:
            if not self.scheduler.submit(r, sink):
                raise RuntimeError("benchmark overflowed the engine queue")
        for event in done.values():
            event.wait(300)
        return [results[r.job_id] for r in requests]

    def closed_loop(self, requests: list[GenerationRequest], in_flight: int) -> tuple[list[Result], float]:
        """Keep `in_flight` chats running: each finished answer lets the next chat in."""
        pending = list(requests)
        results: list[Result] = []
        lock = threading.Lock()
        all_done = threading.Event()
        submitted: dict[str, float] = {}
        first: dict[str, float] = {}

        def submit_next() -> None:
            with lock:
                if not pending:
                    return
                request = pending.pop(0)
                submitted[request.job_id] = time.perf_counter()
            self.scheduler.submit(request, sink)

        def sink(ev: GenerationEvent) -> None:
            now = time.perf_counter()
            if ev.kind == "delta":
                first.setdefault(ev.job_id, now)
            elif ev.kind == "done":
                start = submitted[ev.job_id]
                results.append(
                    Result(ttft=first.get(ev.job_id, now) - start, total=now - start, tokens=ev.stats.completion_tokens)
                )
                if len(results) == len(requests):
                    all_done.set()
                submit_next()

        started = time.perf_counter()
        for _ in range(min(in_flight, len(requests))):
            submit_next()
        all_done.wait(600)
        return results, time.perf_counter() - started

    def close(self) -> None:
        self.scheduler.stop()


class NaiveEngine:
    """One request at a time; every prompt evaluated from scratch; plain greedy decoding."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def ask(self, requests: list[GenerationRequest]) -> list[Result]:
        started = time.perf_counter()
        out = []
        for request in requests:  # queued behind each other, as a single-context server would
            out.append(self._one(request, started))
        return out

    def closed_loop(self, requests: list[GenerationRequest], in_flight: int) -> tuple[list[Result], float]:
        """The same offered load; this server answers one request at a time, the rest wait their turn."""
        started = time.perf_counter()
        waiting = [(request, started) for request in requests[:in_flight]]
        later = list(requests[in_flight:])
        results = []
        while waiting:
            request, submitted = waiting.pop(0)
            result = self._one(request, submitted)
            results.append(result)
            if later:
                waiting.append((later.pop(0), time.perf_counter()))
        return results, time.perf_counter() - started

    def submit(self, request: GenerationRequest, sink: Callable[[GenerationEvent], None]) -> None:
        """Answer one request now, streaming its pieces to `sink` like the scheduler does."""
        result = self._one(
            request, time.perf_counter(), on_piece=lambda text: sink(GenerationEvent(request.job_id, "delta", text))
        )
        stats = GenerationStats(prompt_tokens=result.prompt_tokens, evaluated_tokens=result.evaluated_tokens)
        sink(GenerationEvent(request.job_id, "done", finish_reason="stop", stats=stats))

    def _one(self, request: GenerationRequest, started: float, on_piece: Callable[[str], None] | None = None) -> Result:
        rt = self.rt
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        rt.clear()
        prompt = rt.tokenize(rt.render_chat(request.messages))
        cap = rt.batch_capacity
        for i in range(0, len(prompt), cap):
            chunk = prompt[i : i + cap]
            rt.decode([(tok, i + j, 0, i + j == len(prompt) - 1) for j, tok in enumerate(chunk)])
        last_index = (len(prompt) - 1) % cap
        token = int(np.argmax(rt.logits(last_index)))
        ttft = None
        pieces: list[bytes] = []
        pos = len(prompt)
        n = 0
        while not rt.is_end(token) and n < request.max_tokens:
            pieces.append(rt.token_bytes(token))
            if on_piece is not None and (piece := decoder.decode(pieces[-1])):
                on_piece(piece)
            n += 1
            if ttft is None:
                ttft = time.perf_counter() - started
            rt.decode([(token, pos, 0, True)])
            pos += 1
            token = int(np.argmax(rt.logits(0)))
        total = time.perf_counter() - started
        return Result(
            ttft=ttft if ttft is not None else total,
            total=total,
            tokens=n,
            prompt_tokens=len(prompt),
            evaluated_tokens=len(prompt),
            text=b"".join(pieces).decode("utf-8", errors="replace"),
        )

    def close(self) -> None:
        pass


def _request(job: str, conv: str, messages: list[dict[str, str]], max_tokens: int, lookup: bool = True):
    return GenerationRequest(
        job_id=job, conversation_key=conv, messages=messages, max_tokens=max_tokens, prompt_lookup=lookup
    )


def run_workload(
    name: str,
    ask: Ask,
    closed_loop: ClosedLoop,
    prefix: str,
    *,
    conversations: int,
    max_tokens: int,
    concurrency: Sequence[int],
    rounds: int = 2,
) -> Report:
    """Two-turn conversations one after another, KB-copying answers, then N chats kept in flight
    (`rounds` x N chats in all, each finished one letting the next in)."""
    report = Report(name=name)
    system = {"role": "system", "content": prefix}
    # Warm-up: the store prefix gets evaluated once, as it would be on a running server.
    ask([_request(f"{name}-warm", f"{name}-warm", [system, {"role": "user", "content": "你好"}], 8)])

    single_tokens = 0
    single_gen_time = 0.0
    for i in range(conversations):
        conv = f"{name}-c{i}"
        q1 = FIRST_TURNS[i % len(FIRST_TURNS)]
        messages = [system, {"role": "user", "content": q1}]
        first = ask([_request(f"{conv}-1", conv, messages, max_tokens)])[0]
        report.first_turn_ttft.append(first.ttft)
        report.evaluated_first.append(first.evaluated_tokens)
        messages = [*messages, {"role": "assistant", "content": first.text}]
        messages.append({"role": "user", "content": FOLLOW_UPS[i % len(FOLLOW_UPS)]})
        second = ask([_request(f"{conv}-2", conv, messages, max_tokens)])[0]
        report.follow_up_ttft.append(second.ttft)
        report.evaluated_follow.append(second.evaluated_tokens)
        for r in (first, second):
            if r.tokens > 1:
                single_tokens += r.tokens - 1
                single_gen_time += r.total - r.ttft
    report.single_tps = single_tokens / single_gen_time if single_gen_time else 0.0

    copy_tokens = 0
    copy_time = 0.0
    for i, content in enumerate(copy_turns()):
        messages = [system, {"role": "user", "content": content}]
        r = ask([_request(f"{name}-copy{i}", f"{name}-copy{i}", messages, max_tokens)])[0]
        if r.tokens > 1:
            copy_tokens += r.tokens - 1
            copy_time += r.total - r.ttft
    report.copy_tps = copy_tokens / copy_time if copy_time else 0.0

    for n in concurrency:
        requests = [
            _request(
                f"{name}-p{n}-{i}",
                f"{name}-p{n}-{i}",
                [system, {"role": "user", "content": FIRST_TURNS[i % len(FIRST_TURNS)]}],
                max_tokens,
            )
            for i in range(n * rounds)
        ]
        results, wall = closed_loop(requests, n)
        report.concurrent[n] = {
            "aggregate_tps": sum(r.tokens for r in results) / wall,
            "first_token_max_s": max(r.ttft for r in results),
            "first_token_p50_s": pct([r.ttft for r in results], 50),
        }
    return report
