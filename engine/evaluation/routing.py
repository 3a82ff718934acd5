"""Routing of real labelled shopper questions: where the pipeline's first steps send each intent.

The labelled file is for measurement only (`manage.py eval_answers --shopper-questions`), never
copied into the repository.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from engine.evaluation.scoring import ratio
from engine.pipeline import Decision

ROUTE_KINDS = ("handoff", "greeting", "boundary", "offtopic", "complaint", "faq", "continue")


def route_kind(decision: Decision) -> str:
    """The route kind of `decide()`'s answer: the router's own kinds and a keyword-FAQ answer as they are;
    whatever comes after them (size advice, a product's facts, the unsure handoff, the model) is
    "continue", so the figures measure the router and the keyword trigger, not retrieval."""
    if decision.kind == "direct" and decision.route in ROUTE_KINDS:
        return decision.route
    return "continue"


def route_distribution(rows: Sequence[tuple[str, str]], classify: Callable[[str], str]) -> dict[str, Any]:
    """How the router sends labelled questions: `rows` are (question, intent), `classify` gives a route kind.

    The intents are the labels of the measurement set (e.g. "price_bargain"), not necessarily
    `INTENTS`. A complaint counts as handed off when routed to "handoff" or "complaint" (the complaint
    route hands off). Shop intents are all intents except "offtopic"; routing one of them to the
    off-topic reply turns a shopper away.
    """
    per_intent: dict[str, Counter[str]] = {}
    for question, intent in rows:
        kind = classify(question)
        if kind not in ROUTE_KINDS:
            raise ValueError(f"classify returned {kind!r}, expected one of {', '.join(ROUTE_KINDS)}")
        per_intent.setdefault(intent, Counter())[kind] += 1

    def share(intents: Callable[[str], bool], kinds: tuple[str, ...]) -> dict[str, Any]:
        chosen = [c for intent, c in per_intent.items() if intents(intent)]
        return ratio(sum(c[k] for c in chosen for k in kinds), sum(c.total() for c in chosen))

    return {
        "rows": len(rows),
        "per_intent": {
            intent: {"n": counts.total(), "routes": {kind: counts[kind] for kind in ROUTE_KINDS}}
            for intent, counts in sorted(per_intent.items())
        },
        "human_handoff_recall": share(lambda i: i == "human", ("handoff",)),
        "offtopic_handled": share(lambda i: i == "offtopic", ("offtopic",)),
        "greeting_accuracy": share(lambda i: i == "greeting", ("greeting",)),
        "complaint_handoff_rate": share(lambda i: i == "complaint", ("handoff", "complaint")),
        "shop_to_offtopic": share(lambda i: i != "offtopic", ("offtopic",)),
    }
