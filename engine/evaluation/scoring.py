"""Scoring the answers of a run: one verdict per answer, then the run's figures.

Metrics (`summarize`), definitions in line with DESIGN section 7:

- interception rate: intercepted / questions not expecting a handoff, where intercepted means the
  bot answered itself (source faq, llm, template or guardrail) and did not hand off.
- fact accuracy: facts_ok among intercepted questions that have facts; the answer's copy of the
  question does not count (a fact the shopper wrote is no answer).
- unbacked promises: answers containing any forbidden string (over all answers).
- handoff precision and recall: predicted = answer["handoff"], truth = question.handoff.
- off-topic accuracy: offtopic questions answered with no handoff and source `template`.
- echoes: answers that repeat the question instead of answering it (target 0): letters and digits
  only, the answer as shown holds the whole question or is a piece of it. Apart from them, answers
  the pipeline flagged `echo` (the model began with a copy of the question, which the guard cut:
  the shopper saw the rest) are counted as `echo_flagged`.
- latency: time to first token p50/p95 (linear interpolation between ranks) by answer source;
  answers without a `ttft_ms` are left out.
"""

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.evaluation.questions import INTENTS, SPLITS, EvalQuestion, normalize_for_match
from engine.stats import percentile

BOT_SOURCES = frozenset({"faq", "llm", "template", "guardrail"})
# Shorter questions ("包邮吗", "转人工") are too often words of a real answer to count as a copy.
ECHO_MIN_CHARS = 4
_PUNCTUATION = "?？!！.。,，~～、 "


@dataclass(frozen=True)
class Verdict:
    intercepted: bool
    facts_ok: bool | None  # None when the question has no facts
    missing_facts: list[str]
    unbacked: list[str]  # forbidden strings found in the answer
    handoff_ok: bool
    offtopic_ok: bool | None  # None when the question is not off-topic
    echo: bool = False  # the answer as shown repeats the question
    echo_flagged: bool = False  # the model began with a copy of the question, which the pipeline cut


def _canon(text: str) -> str:
    """Letters and digits only, NFKC and case-folded: a copy is recognised whatever its punctuation."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if unicodedata.category(c)[0] in "LN")


def is_echo(question: str, answer: Mapping[str, Any]) -> bool:
    """Whether the answer as shown repeats the question: it holds the whole question, or is nothing
    but a piece of it."""
    asked, said = _canon(question), _canon(str(answer.get("answer") or ""))
    if len(asked) >= ECHO_MIN_CHARS and asked in said:
        return True
    return len(said) >= ECHO_MIN_CHARS and said in asked


def _is_intercepted(answer: Mapping[str, Any]) -> bool:
    return answer.get("source") in BOT_SOURCES and not answer.get("handoff")


def score(question: EvalQuestion, answer: Mapping[str, Any]) -> Verdict:
    """Score one answer, the JSON object `manage.py ask` prints for the question."""
    said = str(answer.get("answer") or "")
    text = normalize_for_match(said)
    unbacked = [word for word in question.forbid if normalize_for_match(word) in text]
    # A repeated question never supplies its own facts ("速干T恤还有货吗" does not answer "有货").
    asked = normalize_for_match(question.question).strip(_PUNCTUATION)
    if asked:
        text = text.replace(asked, "")
    only_a_piece = len(_canon(said)) >= ECHO_MIN_CHARS and _canon(said) in _canon(question.question)
    missing = [fact for fact in question.facts if only_a_piece or normalize_for_match(fact) not in text]
    handed_off = bool(answer.get("handoff"))
    offtopic_ok = None
    if question.offtopic:
        offtopic_ok = not handed_off and answer.get("source") == "template"
    return Verdict(
        intercepted=_is_intercepted(answer),
        facts_ok=(not missing) if question.facts else None,
        missing_facts=missing,
        unbacked=unbacked,
        handoff_ok=handed_off == question.handoff,
        offtopic_ok=offtopic_ok,
        echo=is_echo(question.question, answer),
        echo_flagged="echo" in (answer.get("flags") or []),
    )


def ratio(hit: int, total: int) -> dict[str, Any]:
    return {"hit": hit, "total": total, "rate": hit / total if total else None}


def _latency(answers: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    by_source: dict[str, list[float]] = {}
    for answer in answers:
        ttft = answer.get("ttft_ms")
        if isinstance(ttft, int | float) and not isinstance(ttft, bool):
            by_source.setdefault(str(answer.get("source") or "?"), []).append(float(ttft))
    every = [v for values in by_source.values() for v in values]
    rows = {source: values for source, values in sorted(by_source.items())}
    if every:
        rows["all"] = every
    return {
        source: {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95)}
        for source, values in rows.items()
    }


def summarize(
    verdicts: Sequence[Verdict], questions: Sequence[EvalQuestion], answers: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The run's figures; the three sequences are parallel (same question at the same index)."""
    if not len(verdicts) == len(questions) == len(answers):
        raise ValueError(
            f"verdicts, questions and answers differ in length ({len(verdicts)}, {len(questions)}, {len(answers)})"
        )
    rows = list(zip(verdicts, questions, answers, strict=True))
    no_handoff = [(v, q) for v, q, _ in rows if not q.handoff]
    with_facts = [v for v, q, _ in rows if v.intercepted and q.facts]
    predicted = [bool(a.get("handoff")) for a in answers]
    truth = [q.handoff for q in questions]
    true_pos = sum(p and t for p, t in zip(predicted, truth, strict=True))
    offtopic = [v for v, q, _ in rows if q.offtopic]
    forbidden_hits = Counter(word for v in verdicts for word in v.unbacked)

    per_intent: dict[str, dict[str, int]] = {}
    for verdict, question, answer in rows:
        counts = per_intent.setdefault(
            question.intent,
            {
                "questions": 0,
                "intercepted": 0,
                "handoffs": 0,
                "handoff_ok": 0,
                "facts_checked": 0,
                "facts_ok": 0,
                "unbacked": 0,
                "echoes": 0,
            },
        )
        counts["questions"] += 1
        counts["intercepted"] += verdict.intercepted
        counts["handoffs"] += bool(answer.get("handoff"))
        counts["handoff_ok"] += verdict.handoff_ok
        counts["facts_checked"] += verdict.intercepted and verdict.facts_ok is not None
        counts["facts_ok"] += verdict.intercepted and verdict.facts_ok is True
        counts["unbacked"] += bool(verdict.unbacked)
        counts["echoes"] += verdict.echo
    order = {intent: i for i, intent in enumerate(INTENTS)}
    per_intent = dict(sorted(per_intent.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))

    return {
        "questions": len(questions),
        "by_store": dict(sorted(Counter(q.store for q in questions).items())),
        "by_split": dict(sorted(Counter(q.split for q in questions).items())),
        "interception": ratio(sum(v.intercepted for v, _ in no_handoff), len(no_handoff)),
        "fact_accuracy": ratio(sum(v.facts_ok is True for v in with_facts), len(with_facts)),
        "unbacked": {
            "answers": sum(bool(v.unbacked) for v in verdicts),
            "strings": dict(forbidden_hits.most_common()),
            "lines": [q.line for v, q, _ in rows if v.unbacked],
        },
        "handoff": {
            "predicted": sum(predicted),
            "expected": sum(truth),
            "true_positives": true_pos,
            "precision": true_pos / sum(predicted) if any(predicted) else None,
            "recall": true_pos / sum(truth) if any(truth) else None,
        },
        "offtopic": ratio(sum(v.offtopic_ok is True for v in offtopic), len(offtopic)),
        "echoes": {
            "answers": sum(v.echo for v in verdicts),
            "lines": [q.line for v, q, _ in rows if v.echo],
            "flagged": sum(v.echo_flagged for v in verdicts),
        },
        "latency_ms": _latency(answers),
        "per_intent": per_intent,
    }


def summarize_groups(
    verdicts: Sequence[Verdict], questions: Sequence[EvalQuestion], answers: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The run's figures as a whole (`all`), per split, per store, and per store and split
    (`by_store_split[store][split]`); only groups that have questions are there."""
    if not len(verdicts) == len(questions) == len(answers):
        raise ValueError(
            f"verdicts, questions and answers differ in length ({len(verdicts)}, {len(questions)}, {len(answers)})"
        )

    def of(keep: Any) -> dict[str, Any]:
        chosen = [i for i, q in enumerate(questions) if keep(q)]
        return summarize([verdicts[i] for i in chosen], [questions[i] for i in chosen], [answers[i] for i in chosen])

    stores = sorted({q.store for q in questions})
    splits = [s for s in SPLITS if any(q.split == s for q in questions)]
    return {
        "all": summarize(verdicts, questions, answers),
        "by_split": {split: of(lambda q, split=split: q.split == split) for split in splits},
        "by_store": {store: of(lambda q, store=store: q.store == store) for store in stores},
        "by_store_split": {
            store: {
                split: of(lambda q, store=store, split=split: q.store == store and q.split == split)
                for split in splits
                if any(q.store == store and q.split == split for q in questions)
            }
            for store in stores
        },
    }
