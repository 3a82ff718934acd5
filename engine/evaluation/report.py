"""The evaluation's plain-text reports: the figures of a run and the routing distribution."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.evaluation.routing import ROUTE_KINDS


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_summary(summary: Mapping[str, Any]) -> str:
    """A plain-text report of `summarize`'s figures."""
    handoff = summary["handoff"]
    unbacked = summary["unbacked"]
    stores = ", ".join(f"{store} {n}" for store, n in summary["by_store"].items())
    splits = ", ".join(f"{split} {n}" for split, n in summary["by_split"].items())
    figures = [
        ("interception rate", summary["interception"]),
        ("fact accuracy", summary["fact_accuracy"]),
        ("off-topic accuracy", summary["offtopic"]),
    ]
    lines = [f"{summary['questions']} questions ({stores}; {splits})", ""]
    lines += _table(
        ["figure", "value", "of"],
        [(name, _pct(r["rate"]), f"{r['hit']}/{r['total']}") for name, r in figures]
        + [
            ("handoff precision", _pct(handoff["precision"]), f"{handoff['true_positives']}/{handoff['predicted']}"),
            ("handoff recall", _pct(handoff["recall"]), f"{handoff['true_positives']}/{handoff['expected']}"),
            ("unbacked promises", unbacked["answers"], summary["questions"]),
            ("echoes", summary["echoes"]["answers"], summary["questions"]),
            ("model echoes cut by the guard", summary["echoes"]["flagged"], summary["questions"]),
        ],
    )
    if unbacked["strings"]:
        words = ", ".join(f"{word} x{n}" for word, n in unbacked["strings"].items())
        lines.append(f"unbacked strings: {words} (lines {', '.join(map(str, unbacked['lines']))})")
    if summary["echoes"]["lines"]:
        lines.append(f"echoes: lines {', '.join(map(str, summary['echoes']['lines']))}")
    lines += ["", "time to first token (ms)"]
    lines += _table(
        ["source", "n", "p50", "p95"],
        [(source, r["n"], _ms(r["p50"]), _ms(r["p95"])) for source, r in summary["latency_ms"].items()],
    )
    lines += ["", "per intent"]
    lines += _table(
        ["intent", "questions", "intercepted", "handoffs", "handoff ok", "facts ok", "unbacked", "echoes"],
        [
            (
                intent,
                c["questions"],
                c["intercepted"],
                c["handoffs"],
                c["handoff_ok"],
                f"{c['facts_ok']}/{c['facts_checked']}",
                c["unbacked"],
                c["echoes"],
            )
            for intent, c in summary["per_intent"].items()
        ],
    )
    return "\n".join(lines)


def _group_row(name: str, s: Mapping[str, Any]) -> tuple[object, ...]:
    handoff = s["handoff"]
    return (
        name,
        s["questions"],
        _pct(s["interception"]["rate"]),
        _pct(s["fact_accuracy"]["rate"]),
        f"{s['fact_accuracy']['hit']}/{s['fact_accuracy']['total']}",
        _pct(s["offtopic"]["rate"]),
        _pct(handoff["precision"]),
        _pct(handoff["recall"]),
        s["unbacked"]["answers"],
        s["echoes"]["answers"],
    )


def format_groups(groups: Mapping[str, Any]) -> str:
    """A plain-text report of `summarize_groups`: one row per split, per store and split, and per store,
    then the whole run in detail."""
    rows = [_group_row("all", groups["all"])]
    rows += [_group_row(split, s) for split, s in groups["by_split"].items()]
    for store, summary in groups["by_store"].items():
        per_split = groups["by_store_split"].get(store, {})
        rows += [_group_row(f"{store} {split}", s) for split, s in per_split.items()]
        if len(per_split) > 1:
            rows.append(_group_row(f"{store} all", summary))
    lines = _table(
        ["group", "n", "intercept", "facts", "facts of", "off-topic", "handoff P", "handoff R", "unbacked", "echoes"],
        rows,
    )
    return "\n".join([*lines, "", "All questions of the run:", format_summary(groups["all"])])


def format_route_distribution(d: Mapping[str, Any]) -> str:
    """A plain-text report of `route_distribution`: the headline shares, then intent x route counts."""
    headline = [
        ("explicit-human handoff recall", d["human_handoff_recall"]),
        ("off-topic handled", d["offtopic_handled"]),
        ("greeting accuracy", d["greeting_accuracy"]),
        ("complaint handoff rate", d["complaint_handoff_rate"]),
        ("shop intents sent off-topic (lower is better)", d["shop_to_offtopic"]),
    ]
    lines = [f"{d['rows']} questions", ""]
    lines += _table(
        ["figure", "value", "of"], [(name, _pct(r["rate"]), f"{r['hit']}/{r['total']}") for name, r in headline]
    )
    lines += ["", "routes per intent"]
    lines += _table(
        ["intent", "n", *ROUTE_KINDS],
        [(intent, r["n"], *(r["routes"][kind] for kind in ROUTE_KINDS)) for intent, r in d["per_intent"].items()],
    )
    return "\n".join(lines)
