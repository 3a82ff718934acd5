"""The server-side time of a keyword-FAQ answer: the pipeline's decision, no model involved."""

import time

from engine.bench import demo_snapshot, pct
from engine.pipeline import decide

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
    store = demo_snapshot()
    timings = []
    for _ in range(rounds):
        for question in FAQ_QUESTIONS:
            started = time.perf_counter()
            decision = decide(store=store, question=question)
            timings.append((time.perf_counter() - started) * 1000)
            if decision.route != "faq":
                raise RuntimeError(f"{question!r} was not answered by a keyword FAQ entry")
    return {"p50_ms": pct(timings, 50), "p99_ms": pct(timings, 99), "n": len(timings)}
