"""The answer pipeline up to generation: normalize -> route -> keyword trigger -> retrieve -> prompt.

`decide()` is pure: it takes the store's snapshot and the shopper's text and says either what to
answer right away (a template, an FAQ answer, a handoff) or what to ask the model, with the reference
text the guard may accept claims from. Recording and handoff tickets are the caller's (services).
"""

import re
from collections.abc import Sequence

from engine.copywriting import copy_instruction, is_copy_request, plain_copy, product_facts_text, which_product_text
from engine.decision import Decision, HandoffReason
from engine.entries import complaint_decision, dominant_faq, fallback_entry, keyword_entry
from engine.focus import NO_CONTEXT, ChatContext, Resolved, products_named, resolve_products
from engine.knowledge import ProductFact, StoreSnapshot
from engine.lexicon import (
    ENGLISH_SHOP_TERMS,
)
from engine.normalize import Normalized, is_english, normalize
from engine.product_answers import (
    GAP,
    SIZE_NAME,
    asks_of,
    mentioned,
    product_answer,
)
from engine.prompt import Reference, copy_turn, prefix_entries, user_turn
from engine.retrieve import Snippet, faq_text, index_for, product_document, retrieve, tokenize
from engine.route import route
from engine.size_advice import size_advice_answer
from engine.trigger import keyword_trigger

__all__ = ["DEFAULT_HANDOFF", "Decision", "HandoffReason", "decide", "focus", "related_entries"]

RUNNER_UP_SHARE = 0.6
_ENGLISH_TERMS = tuple((re.compile(pattern), chinese) for pattern, chinese in ENGLISH_SHOP_TERMS)
FOCUS_CHARS = 220
REFERENCE_CHARS = 480  # about 300 prompt tokens: ~1.5 s of prompt evaluation on 2 cores
ALWAYS_KEEP = ("价格：", "库存：")  # short, and what shoppers ask most
_SEGMENT = re.compile(r"[^\n；;。]+[\n；;。]?")

UNSURE_TEXT = "这个问题我不太确定，不想给您错误的答复。"
DEFAULT_HANDOFF = "正在为您转接人工客服，请稍候。"


def decide(*, store: StoreSnapshot, question: str, context: ChatContext = NO_CONTEXT) -> Decision:
    text = normalize(question, synonyms=store.synonyms)
    routed = route(text, store=store)
    if (
        routed.kind in ("offtopic", "boundary", "greeting")
        and routed.reason != "injection"
        and is_copy_request(text.text)
    ):
        return copy_decision(store, text, context)  # "写个有活动的推广语" is a copy request, not chit-chat
    if routed.kind != "continue":
        if routed.handoff:
            reason: HandoffReason = "complaint" if routed.kind == "complaint" else "shopper_asked"
            if routed.kind == "complaint":
                return complaint_decision(store, text, routed.reply)
            return Decision(
                kind="direct", route=routed.kind, text=routed.reply, source="handoff", handoff_reason=reason
            )
        return Decision(kind="direct", route=routed.kind, text=routed.reply, source="template")

    if is_copy_request(text.text):
        return copy_decision(store, text, context)
    asked = with_carried_asks(store, text.text, context)
    resolved = resolve_products(store=store, text=asked, context=context)
    advice = size_advice_answer(store=store, question=asked, resolved=resolved)
    if advice is not None:
        return advice
    # A product the question names is answered from its row first; one it only leans on (the page, the turn
    # before) comes after the store's direct answers ("这件能退吗" is the return policy).
    # An amount to reach a threshold ("差多少包邮") is arithmetic on the rows, never the policy text alone.
    rows_first = resolved.how in ("named", "family") or GAP.search(asked) is not None or is_english(asked)
    if rows_first and (answered := _product_decision(store, asked, resolved)) is not None:
        return answered

    english = is_english(text.text)
    lookup = with_english_terms(text) if english else text
    hit = keyword_trigger(lookup, faqs=store.faqs)
    if hit is not None and english:
        # The entry is right, but written in Chinese: the model says it in the shopper's language.
        reference = [Reference(title=hit.faq.question, text=hit.faq.answer)]
        hit_faq = ({"kind": "faq", "id": hit.faq.id, "title": hit.faq.question, "keyword": hit.keyword},)
        return _generate(text, reference, hit_faq, True)
    if hit is not None:
        hit_matched = ({"kind": "faq", "id": hit.faq.id, "title": hit.faq.question, "keyword": hit.keyword},)
        return Decision(
            kind="direct", route="faq", text=hit.faq.answer, source="faq", faq_id=hit.faq.id, matched=hit_matched
        )
    if not rows_first and (answered := _product_decision(store, asked, resolved)) is not None:
        return answered

    snippets = retrieve(index_for(store), lookup.text, threshold=store.relevance_threshold, top_k=store.top_k)
    in_focus = resolved.one if resolved.how in ("recent", "listed", "in_view") else None
    if (
        in_focus is not None
        and (POINTS_AT_IT.search(text.text) or not snippets)
        and not any(s.kind == "product" and s.id == in_focus.id for s in snippets)
    ):
        # "这件会起球吗": the question leans on a product it does not name; its row goes with the references.
        product_snippet = product_document(index_for(store), in_focus.id)
        if product_snippet is not None:
            # "这款…" points at it: it comes first, with at most one policy entry beside it.
            entries = [s for s in snippets if s.kind == "faq"][:1]
            snippets = [product_snippet, *entries]
    if not snippets:
        # A question too wordy for its entry to score (many words the store never uses) that says one of the
        # entry's keywords still finds it: the keywords are the store's own triggers for that entry.
        keyed = keyword_entry(store, lookup.text)
        if keyed is not None:
            snippets = [Snippet(kind="faq", id=keyed.id, title=keyed.question, text=faq_text(keyed), score=0.0)]
    if not snippets and routed.reply:
        return Decision(kind="direct", route="boundary", text=routed.reply, source="template")
    if not snippets:
        # Nothing in this store's data is about the question: say so honestly, and get a human.
        handoff = store.handoff_message.strip() or DEFAULT_HANDOFF
        return Decision(
            kind="direct", route="unsure", text=f"{UNSURE_TEXT}{handoff}", source="handoff", handoff_reason="bot_unsure"
        )
    verbatim = None if english else dominant_faq(store, text.text, snippets)
    if verbatim is not None:
        faq, score = verbatim
        faq_matched = ({"kind": "faq", "id": faq.id, "title": faq.question, "score": round(score, 3)},)
        return Decision(kind="direct", route="faq", text=faq.answer, source="faq", faq_id=faq.id, matched=faq_matched)
    best = snippets[0].score
    # A weak runner-up only adds prompt tokens (time to first token) and noise for a small model.
    snippets = [s for s in snippets if s.score >= best * RUNNER_UP_SHARE or _is(s, in_focus)]
    query_tokens = set(tokenize(lookup.text))
    in_prefix = {faq.id: faq for faq in prefix_entries(store)}
    references: list[Reference] = []
    pointers: list[Reference] = []  # entries the cached prefix carries: named, not repeated
    budget = REFERENCE_CHARS
    for snippet in snippets:
        entry = in_prefix.get(snippet.id) if snippet.kind == "faq" else None
        if entry is not None:
            pointers.append(Reference(title=entry.question, text=faq_text(entry)))
            continue
        focused = focus(snippet.text, query_tokens)
        if (references or pointers) and len(focused) > budget:
            break
        references.append(Reference(title=snippet.title, text=focused))
        budget -= len(focused)
    snippets = snippets[: len(references) + len(pointers)]
    matched: tuple[dict[str, object], ...] = tuple(
        {"kind": s.kind, "id": s.id, "title": s.title, "score": round(s.score, 3)} for s in snippets
    )
    fallback = "" if english else fallback_entry(store, snippets, in_focus)
    first_named = bool(pointers) and snippets[0].kind == "faq" and snippets[0].id in in_prefix
    return _generate(
        text, references, matched, english, fallback=fallback, pointers=pointers, pointers_first=first_named
    )


def _generate(
    text: Normalized,
    references: list[Reference],
    matched: tuple[dict[str, object], ...],
    english: bool,
    *,
    fallback: str = "",
    pointers: Sequence[Reference] = (),
    pointers_first: bool = True,
) -> Decision:
    # The model reads the shopper's words as they were typed (cleaned, not lower-cased): what it copies from
    # the question must read as the shopper wrote it.
    question = shown_question(text)
    return Decision(
        kind="generate",
        route="llm",
        user_content=user_turn(
            question, references, english=english, pointers=[p.title for p in pointers], pointers_first=pointers_first
        ),
        question=question,
        reference="\n".join(r.text for r in [*pointers, *references]),
        matched=matched,
        fallback=fallback,
    )


def with_english_terms(text: Normalized) -> Normalized:
    """The Chinese words a Chinese store's data uses for the question's English shopping words (the English
    words themselves are unknown to its index and would only dilute the score). Products are still resolved
    from the question itself (a SKU, a name)."""
    added = [chinese for pattern, chinese in _ENGLISH_TERMS if pattern.search(text.text)]
    return Normalized(original=text.original, text=" ".join(added)) if added else text


def shown_question(text: Normalized) -> str:
    """The question as the shopper typed it, whitespace tidied, cut like the normalized text."""
    return " ".join(text.original.split())[: max(len(text.text), 1) * 2] or text.text


POINTS_AT_IT = re.compile(r"这件|这个|这款|这双|这条|这套|这瓶|这盒|这种|它|(?<![a-z])(this|it)(?![a-z])")
FOLLOW_UP_FRAME = re.compile(r"^(那么|那个|那|还有|然后|and|what about|how about)|[的呢吗么嘛呀啊?!.~。？！\s]+$")
FOLLOW_UP_CHARS = 8
FOLLOW_UP = re.compile(r"^(那|那么|那个|还有|然后|and\b|what about|how about)|呢[?!.~。？！]*$")


def with_carried_asks(store: StoreSnapshot, text: str, context: ChatContext) -> str:
    """ "那L码呢" after "XL码衣长多少": a follow-up that asks nothing itself asks what the shopper's last question
    asked (its measure, stock, price or attribute words are appended)."""
    if not FOLLOW_UP.search(text) or asks_of(store, text):
        return text
    rest = FOLLOW_UP_FRAME.sub("", text)
    if not (len(rest) <= FOLLOW_UP_CHARS and refers_to_goods(store, rest)):
        return text  # "那质量有问题呢" asks something new, not the last question about another size
    previous = next((t for role, t in reversed(context.recent) if role == "shopper"), "")
    if not previous:
        return text
    before = normalize(previous, synonyms=store.synonyms).text
    asks = asks_of(store, before)
    words = [*asks.keys, asks.measure]
    if asks.stock:
        words.append("有现货吗")
    if asks.price:
        words.append("价格")
    if asks.fit:
        words.append("偏大吗")
    carried = " ".join(w for w in words if w)
    return f"{text} {carried}" if carried else text


def copy_decision(store: StoreSnapshot, text: Normalized, context: ChatContext) -> Decision:
    """Copy about the product the request names (or the one in view, or just talked about), or which one."""
    resolved = resolve_products(store=store, text=text.text, context=context)
    product = resolved.one
    if product is None:
        return Decision(
            kind="direct", route="copy", text=which_product_text(resolved, store.products), source="template"
        )
    facts = product_facts_text(product)
    question = shown_question(text)
    return Decision(
        kind="generate",
        route="copy",
        user_content=copy_turn(facts, copy_instruction(text.text)),
        question=question,
        reference=facts,
        matched=({"kind": "product", "id": product.id, "title": product.name},),
        fallback=plain_copy(product),
        fallback_source="template",
    )


def _is(snippet: Snippet, product: ProductFact | None) -> bool:
    return product is not None and snippet.kind == "product" and snippet.id == product.id


def refers_to_goods(store: StoreSnapshot, text: str) -> bool:
    """Whether a short remainder names a size, an option, a relative size or a product ("L码", "白色", "大一号")."""
    if SIZE_NAME.search(text) or RELATIVE_SIZE.search(text) or products_named(store, text):
        return True
    return any(
        mentioned(item, text)
        for product in store.products
        for _, value in product.attributes
        for item in value.split("、")
        if item.strip()
    )


RELATIVE_SIZE = re.compile(r"[大小][一二两]?[号码个]|加大|大码|小码|bigger|smaller")


def _product_decision(store: StoreSnapshot, text: str, resolved: Resolved) -> Decision | None:
    answered = product_answer(store=store, text=text, resolved=resolved, english=is_english(text))
    if answered is None:
        return None
    answer, product = answered
    products = (product,) if product is not None else resolved.products
    matched = tuple({"kind": "product", "id": p.id, "title": p.name} for p in products)
    return Decision(kind="direct", route="product", text=answer, source="template", matched=matched)


def related_entries(*, store: StoreSnapshot, texts: list[str], top_k: int = 3) -> tuple[dict[str, object], ...]:
    """The knowledge-base entries the shopper's recent messages are about (for a human taking over)."""
    query = " ".join(normalize(t, synonyms=store.synonyms).text for t in texts if t.strip())
    if not query.strip():
        return ()
    snippets = retrieve(index_for(store), query, threshold=store.relevance_threshold, top_k=top_k)
    return tuple({"kind": s.kind, "id": s.id, "title": s.title, "score": round(s.score, 3)} for s in snippets)


def focus(text: str, query_tokens: set[str], *, limit: int = FOCUS_CHARS) -> str:
    """The parts of a snippet that speak to the question: its first line (what it is), then the
    segments sharing words with the question, in their order, within `limit` characters."""
    segments = [m.group(0).strip() for m in _SEGMENT.finditer(text) if m.group(0).strip()]
    if not segments or len(text) <= limit:
        return text
    head, rest = segments[0], segments[1:]
    scored = [
        (100 if seg.startswith(ALWAYS_KEEP) else len(query_tokens & set(tokenize(seg))), i, seg)
        for i, seg in enumerate(rest)
    ]
    chosen: list[tuple[int, str]] = []
    used = len(head)
    for score, i, seg in sorted(scored, key=lambda x: (-x[0], x[1])):
        if score == 0 or used + len(seg) > limit:
            continue
        chosen.append((i, seg))
        used += len(seg)
    if not chosen:
        chosen = [(0, rest[0][: max(0, limit - len(head))])] if rest else []
    return "\n".join([head, *(seg for _, seg in sorted(chosen))])
