"""The engine benchmark: our scheduler against a naive baseline, same model, same workload, same run.

The naive baseline is what a straightforward integration does: rebuild and evaluate the whole prompt
for every turn, one request at a time, no KV reuse, no batching, no drafts.
"""

import json
import os
import platform
import resource
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.generate import GenerationEvent, GenerationRequest
from engine.knowledge import snapshot_from_file
from engine.prompt import store_prefix
from engine.scheduler import Runtime, Scheduler, SchedulerConfig

DEMO_FILE = Path(__file__).resolve().parent.parent / "kb" / "demo" / "demo_store.json"

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
COPY_QUESTIONS = ["下单后多久能收到货？", "纯棉T恤洗了会缩水吗？", "收到的衣服有破洞怎么办？"]


def copy_turns(path: Path = DEMO_FILE) -> list[str]:
    """The shopper turns the pipeline builds for COPY_QUESTIONS: question plus reference snippets."""
    from engine.pipeline import decide

    store = snapshot_from_file(json.loads(path.read_text(encoding="utf-8")))
    turns = []
    for question in COPY_QUESTIONS:
        decision = decide(store=store, question=question)
        if decision.kind != "generate":
            raise RuntimeError(f"{question!r} no longer goes to the model ({decision.route})")
        turns.append(decision.user_content)
    return turns


def demo_prefix(path: Path = DEMO_FILE) -> str:
    """The demo store's real prompt prefix: persona, rules, products and active promotions."""
    return store_prefix(snapshot_from_file(json.loads(path.read_text(encoding="utf-8"))))


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


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


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

    def _one(self, request: GenerationRequest, started: float) -> Result:
        rt = self.rt
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
            "first_token_p50_s": _pct([r.ttft for r in results], 50),
        }
    return report


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def summarize(ours: Report, naive: Report, rss: float, model_path: str) -> dict[str, Any]:
    def side(r: Report) -> dict[str, Any]:
        return {
            "first_turn_ttft_p50_s": _pct(r.first_turn_ttft, 50),
            "first_turn_ttft_p95_s": _pct(r.first_turn_ttft, 95),
            "follow_up_ttft_p50_s": _pct(r.follow_up_ttft, 50),
            "follow_up_ttft_p95_s": _pct(r.follow_up_ttft, 95),
            "single_chat_tps": r.single_tps,
            "copy_answer_tps": r.copy_tps,
            "follow_up_evaluated_tokens_mean": statistics.fmean(r.evaluated_follow) if r.evaluated_follow else 0,
            "concurrent": r.concurrent,
        }

    a, b = side(ours), side(naive)

    def ratio(key: str, higher_is_better: bool) -> float:
        x, y = a[key], b[key]
        if not x or not y:
            return float("nan")
        return (x / y) if higher_is_better else (y / x)

    ratios = {
        "first_turn_ttft_p50": ratio("first_turn_ttft_p50_s", False),
        "follow_up_ttft_p50": ratio("follow_up_ttft_p50_s", False),
        "single_chat_tps": ratio("single_chat_tps", True),
        "copy_answer_tps": ratio("copy_answer_tps", True),
    }
    for n in ours.concurrent:
        ratios[f"aggregate_tps_{n}"] = ours.concurrent[n]["aggregate_tps"] / naive.concurrent[n]["aggregate_tps"]
        ratios[f"first_token_max_{n}"] = (
            naive.concurrent[n]["first_token_max_s"] / ours.concurrent[n]["first_token_max_s"]
        )
    return {
        "machine": machine(),
        "model": os.path.basename(model_path),
        "engine_rss_mb": rss,
        "ours": a,
        "naive": b,
        "speedup": ratios,
    }


def format_table(result: dict[str, Any]) -> str:
    a, b, s = result["ours"], result["naive"], result["speedup"]
    rows = [
        ("time to first token, first turn, p50 (s)", "first_turn_ttft_p50_s", "first_turn_ttft_p50"),
        ("time to first token, first turn, p95 (s)", "first_turn_ttft_p95_s", None),
        ("time to first token, follow-up, p50 (s)", "follow_up_ttft_p50_s", "follow_up_ttft_p50"),
        ("time to first token, follow-up, p95 (s)", "follow_up_ttft_p95_s", None),
        ("generation, one chat (tok/s)", "single_chat_tps", "single_chat_tps"),
        ("generation, answer copying the KB (tok/s)", "copy_answer_tps", "copy_answer_tps"),
        ("prompt tokens evaluated per follow-up", "follow_up_evaluated_tokens_mean", None),
    ]
    lines = [
        f"machine: {result['machine']}",
        f"model: {result['model']}   engine RSS: {result['engine_rss_mb']:.0f} MB",
        "",
        f"| {'figure':<46} | {'ours':>9} | {'naive':>9} | {'ratio':>6} |",
        f"|{'-' * 48}|{'-' * 11}|{'-' * 11}|{'-' * 8}|",
    ]
    for label, key, rkey in rows:
        ratio = f"{s[rkey]:.2f}x" if rkey else ""
        lines.append(f"| {label:<46} | {a[key]:>9.2f} | {b[key]:>9.2f} | {ratio:>6} |")
    for n in a["concurrent"]:
        ours, naive = a["concurrent"][n], b["concurrent"][n]
        lines.append(
            f"| {f'{n} chats at once, aggregate (tok/s)':<46} | {ours['aggregate_tps']:>9.2f} | "
            f"{naive['aggregate_tps']:>9.2f} | {s[f'aggregate_tps_{n}']:>5.2f}x |"
        )
        lines.append(
            f"| {f'{n} chats at once, slowest first token (s)':<46} | {ours['first_token_max_s']:>9.2f} | "
            f"{naive['first_token_max_s']:>9.2f} | {s[f'first_token_max_{n}']:>5.2f}x |"
        )
    if "keyword_faq" in result:
        faq = result["keyword_faq"]
        lines.append(
            f"| {'keyword FAQ answer, server side, p99 (ms)':<46} | {faq['p99_ms']:>9.2f} | {'':>9} | {'':>6} |"
        )
    if "retrieval" in result:
        r = result["retrieval"]
        label = f"retrieval over {int(r['n_faqs']):,} FAQ entries, p50 (ms)"
        lines.append(f"| {label:<46} | {r['p50_ms']:>9.2f} | {'':>9} | {'':>6} |")
    lines.append("")
    lines.append("ratio: how many times better ours is (time: naive/ours; throughput: ours/naive)")
    return "\n".join(lines)


FAQ_QUESTIONS = [
    "什么时候发货？",
    "啥时候发货呀",
    "发什么快递？",
    "包邮吗",
    "可以开发票吗？",
    "衣服怎么洗？",
    "怎么取消订单",
]


def keyword_faq_latency(rounds: int = 200) -> dict[str, float]:
    """Server-side time of a keyword-FAQ answer through the pipeline (normalize, route, trigger)."""
    from engine.pipeline import decide

    store = snapshot_from_file(json.loads(DEMO_FILE.read_text(encoding="utf-8")))
    timings = []
    for _ in range(rounds):
        for question in FAQ_QUESTIONS:
            started = time.perf_counter()
            decision = decide(store=store, question=question)
            timings.append((time.perf_counter() - started) * 1000)
            if decision.route != "faq":
                raise RuntimeError(f"{question!r} was not answered by a keyword FAQ entry")
    return {"p50_ms": _pct(timings, 50), "p99_ms": _pct(timings, 99), "n": len(timings)}
