"""The benchmark's figures: one dict for `--json`, and the table the README quotes."""

import math
import os
import platform
import resource
import statistics
from typing import Any

from engine.bench import pct
from engine.bench.generation import Report
from engine.bench.pipeline_turns import PipelineReport


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
            "first_turn_ttft_p50_s": pct(r.first_turn_ttft, 50),
            "first_turn_ttft_p95_s": pct(r.first_turn_ttft, 95),
            "follow_up_ttft_p50_s": pct(r.follow_up_ttft, 50),
            "follow_up_ttft_p95_s": pct(r.follow_up_ttft, 95),
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


def json_figures(value: Any) -> Any:
    """`value` for strict JSON: a figure with nothing to measure (NaN) becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_figures(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_figures(v) for v in value]
    return value


def summarize_pipeline(ours: PipelineReport, naive: PipelineReport, *, rss: float, model: str) -> dict[str, Any]:
    """One tier's real-pipeline figures: ours, naive, and how many times faster ours shows the first word."""
    a, b = ours.figures(), naive.figures()
    speedup = {}
    for key in (
        "first_turn_visible_p50_s",
        "follow_up_visible_p50_s",
        "all_visible_p50_s",
        "all_visible_p95_s",
        "evaluation_visible_p50_s",
        "evaluation_visible_p95_s",
    ):
        speedup[key.removesuffix("_s")] = (b[key] / a[key]) if a[key] and b[key] else float("nan")
    return {"model": model, "engine_rss_mb": rss, "ours": a, "naive": b, "speedup": speedup}


def format_pipeline(by_tier: dict[str, Any]) -> str:
    """The real-pipeline table: per tier, time to the first visible (guarded) text, ours against naive."""
    rows = [
        ("first visible text, first turn, p50 (s)", "first_turn_visible_p50_s", "first_turn_visible_p50"),
        ("first visible text, first turn, p95 (s)", "first_turn_visible_p95_s", None),
        ("first visible text, follow-up, p50 (s)", "follow_up_visible_p50_s", "follow_up_visible_p50"),
        ("first visible text, follow-up, p95 (s)", "follow_up_visible_p95_s", None),
        ("first visible text, all turns, p50 (s)", "all_visible_p50_s", "all_visible_p50"),
        ("first visible text, all turns, p95 (s)", "all_visible_p95_s", "all_visible_p95"),
        ("the evaluation's model answers, p50 (s)", "evaluation_visible_p50_s", "evaluation_visible_p50"),
        ("the evaluation's model answers, p95 (s)", "evaluation_visible_p95_s", "evaluation_visible_p95"),
        ("prompt tokens of a first turn, p50", "first_turn_prompt_tokens_p50", None),
        ("prompt tokens evaluated, first turn, p50", "first_turn_evaluated_tokens_p50", None),
        ("prompt tokens evaluated, follow-up, p50", "follow_up_evaluated_tokens_p50", None),
        ("prompt tokens evaluated, evaluation's, p50", "evaluation_evaluated_tokens_p50", None),
    ]
    lines = ["", "Real-pipeline turns (decide() over the stores' data, guarded), per model tier:"]
    for tier, figures in by_tier.items():
        a, b, s = figures["ours"], figures["naive"], figures["speedup"]
        lines += [
            "",
            f"tier {tier}: {figures['model']}, {int(a['chats'])} chats and {int(a['evaluation_questions'])} of the "
            f"evaluation's questions, engine RSS {figures['engine_rss_mb']:.0f} MB",
            f"| {'figure':<46} | {'ours':>9} | {'naive':>9} | {'ratio':>6} |",
            f"|{'-' * 48}|{'-' * 11}|{'-' * 11}|{'-' * 8}|",
        ]
        for label, key, rkey in rows:
            ratio = f"{s[rkey]:.2f}x" if rkey else ""
            lines.append(f"| {label:<46} | {a[key]:>9.2f} | {b[key]:>9.2f} | {ratio:>6} |")
    return "\n".join(lines)
