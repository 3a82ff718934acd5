"""The answer pipeline up to generation: normalize -> route -> keyword trigger -> retrieve -> prompt.

`decide()` is pure: it takes the store's snapshot and the shopper's text and says either what to
answer right away (a template, an FAQ answer, a handoff) or what to ask the model, with the reference
text the guard may accept claims from. Recording and handoff tickets are the caller's (services).
"""

from dataclasses import dataclass, field
from typing import Literal

from engine.knowledge import StoreSnapshot
from engine.normalize import normalize
from engine.prompt import Reference, user_turn
from engine.retrieve import index_for, retrieve
from engine.route import route
from engine.trigger import keyword_trigger

UNSURE_TEXT = "这个问题我不太确定，不想给您错误的答复。"
DEFAULT_HANDOFF = "正在为您转接人工客服，请稍候。"

HandoffReason = Literal["", "shopper_asked", "complaint", "bot_unsure"]


@dataclass(frozen=True)
class Decision:
    kind: Literal["direct", "generate"]
    route: str  # handoff | greeting | boundary | offtopic | complaint | faq | unsure | llm
    text: str = ""  # the direct answer
    source: str = ""  # faq | template | handoff (direct answers)
    handoff_reason: HandoffReason = ""
    faq_id: int | None = None
    user_content: str = ""  # the shopper's turn for the model (generate)
    reference: str = ""  # what the guard may accept claims from, besides the store's data
    matched: tuple[dict[str, object], ...] = field(default=())

    @property
    def handoff(self) -> bool:
        return bool(self.handoff_reason)


def decide(*, store: StoreSnapshot, question: str) -> Decision:
    text = normalize(question, synonyms=store.synonyms)
    routed = route(text, store=store)
    if routed.kind != "continue":
        if routed.handoff:
            reason: HandoffReason = "complaint" if routed.kind == "complaint" else "shopper_asked"
            return Decision(
                kind="direct", route=routed.kind, text=routed.reply, source="handoff", handoff_reason=reason
            )
        return Decision(kind="direct", route=routed.kind, text=routed.reply, source="template")

    hit = keyword_trigger(text, faqs=store.faqs)
    if hit is not None:
        hit_matched = ({"kind": "faq", "id": hit.faq.id, "title": hit.faq.question, "keyword": hit.keyword},)
        return Decision(
            kind="direct", route="faq", text=hit.faq.answer, source="faq", faq_id=hit.faq.id, matched=hit_matched
        )

    snippets = retrieve(index_for(store), text.text, threshold=store.relevance_threshold, top_k=store.top_k)
    if not snippets:
        # Nothing in this store's data is about the question: say so honestly, and get a human.
        handoff = store.handoff_message.strip() or DEFAULT_HANDOFF
        return Decision(
            kind="direct", route="unsure", text=f"{UNSURE_TEXT}{handoff}", source="handoff", handoff_reason="bot_unsure"
        )
    references = [Reference(title=s.title, text=s.text) for s in snippets]
    matched: tuple[dict[str, object], ...] = tuple(
        {"kind": s.kind, "id": s.id, "title": s.title, "score": round(s.score, 3)} for s in snippets
    )
    return Decision(
        kind="generate",
        route="llm",
        user_content=user_turn(text.text, references),
        reference="\n".join(s.text for s in snippets),
        matched=matched,
    )
