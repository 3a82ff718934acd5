"""Answers that are one of the store's FAQ entries: the entry that clearly answers a question (verbatim, whatever
its mode), the entry a complaint is about, the entry found by its keyword, the entry to fall back on when the
model's answer is broken."""

import re

from engine.decision import Decision
from engine.focus import products_named
from engine.knowledge import FaqFact, ProductFact, StoreSnapshot
from engine.lexicon import DEFECT_WORDS
from engine.normalize import Normalized, normalize
from engine.retrieve import Snippet, index_for, retrieve, tokenize

# The entry answers verbatim when question and entry share this much of each other's words and the runner-up
# scores at most this share of it.
PARAPHRASE_SHARE = 0.6
DOMINANT_SHARE = 0.8
FALLBACK_MIN_SCORE = 1.5  # a weaker best entry is no answer to fall back on
_DEFECT = re.compile(DEFECT_WORDS)


def complaint_decision(store: StoreSnapshot, text: Normalized, reply: str) -> Decision:
    """A complaint goes to a person; when the store has a policy entry for what went wrong (its quality or
    return rules), the shopper reads it while they wait."""
    policy, score = _policy_entry(store, text.text)
    if policy is None:
        return Decision(kind="direct", route="complaint", text=reply, source="handoff", handoff_reason="complaint")
    apology, _, handoff = reply.partition("！")
    if "抱歉" in policy.answer or not handoff:  # the entry apologises itself
        apology, handoff = "", handoff or reply
    else:
        apology += "！"
    matched = ({"kind": "faq", "id": policy.id, "title": policy.question, "score": round(score, 3)},)
    return Decision(
        kind="direct",
        route="complaint",
        text=f"{apology}{policy.answer}{handoff}",
        source="handoff",
        handoff_reason="complaint",
        faq_id=policy.id,
        matched=matched,
    )


def fallback_entry(store: StoreSnapshot, snippets: list[Snippet], in_focus: ProductFact | None) -> str:
    """The entry to show if the model's answer is broken: only one that clearly leads the references and is not
    about another product than the one in focus; else "" (then "not sure" and a person)."""
    entries = [s for s in snippets if s.kind == "faq"]
    if not entries or snippets[0].kind != "faq" or entries[0].score < FALLBACK_MIN_SCORE:
        return ""
    if len(entries) > 1 and entries[1].score > entries[0].score * DOMINANT_SHARE:
        return ""
    faq = next((f for f in store.faqs if f.id == entries[0].id), None)
    if faq is None:
        return ""
    if in_focus is not None and any(p.id != in_focus.id for p in products_named(store, normalize(faq.answer).text)):
        return ""  # "我们的T恤面料经过预缩处理" is no answer about the wool dress in view
    return faq.answer


def keyword_entry(store: StoreSnapshot, text: str) -> FaqFact | None:
    """The one entry with a keyword of two or more characters in the text, or None (none, or several)."""
    keyed = [f for f in store.faqs if any(len(k) >= 2 and normalize(k).text in text for k in f.keywords)]
    return keyed[0] if len(keyed) == 1 else None


def _policy_entry(store: StoreSnapshot, text: str) -> tuple[FaqFact | None, float]:
    """The entry for what went wrong: the one with the most of its keywords in the message (any mode; keywords
    naming a defect first: "开线" over "退款"), else the best retrieved entry."""

    def said(f: FaqFact) -> tuple[int, int]:
        keys = [k for k in f.keywords if k and normalize(k).text in text]
        return sum(1 for k in keys if _DEFECT.search(normalize(k).text)), len(keys)

    hits = [(said(f), f) for f in store.faqs]
    best = max((n for n, _ in hits), default=(0, 0))
    keyed = [f for n, f in hits if n == best] if best[1] else []
    if len(keyed) == 1:
        return keyed[0], 0.0
    snippets = retrieve(index_for(store), text, threshold=store.relevance_threshold, top_k=1)
    if snippets and snippets[0].kind == "faq":
        return next((f for f in store.faqs if f.id == snippets[0].id), None), snippets[0].score
    return None, 0.0


def _coverage(asked: set[str], text: str) -> tuple[float, float]:
    """(share of the question's words in `text`, share of `text`'s words in the question)."""
    words = set(tokenize(text))
    shared = len(asked & words)
    return (shared / len(asked) if asked else 0.0), (shared / len(words) if words else 0.0)


def dominant_faq(store: StoreSnapshot, text: str, snippets: list[Snippet]) -> tuple[FaqFact, float] | None:
    """The FAQ entry that clearly answers the question, whatever its mode: the best retrieved, a paraphrase of its
    question or one of its alternatives (most words shared both ways), and well ahead of the runner-up. Its
    answer is what the staff wrote for exactly this question: a small model only loses facts rewording it."""
    if not snippets or snippets[0].kind != "faq":
        return None
    top = snippets[0]
    if len(snippets) > 1 and snippets[1].score > top.score * DOMINANT_SHARE:
        return None
    faq = next((f for f in store.faqs if f.id == top.id), None)
    if faq is None:
        return None
    asked = set(tokenize(text))
    for said in (faq.question, *faq.alt_questions):
        of_question, of_entry = _coverage(asked, said)
        if of_question >= PARAPHRASE_SHARE and of_entry >= PARAPHRASE_SHARE:
            return faq, top.score
    return None
