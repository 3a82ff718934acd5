"""The answer pipeline up to generation: normalize -> route -> keyword trigger -> retrieve -> prompt.

`decide()` is pure: it takes the store's snapshot and the shopper's text and says either what to
answer right away (a template, an FAQ answer, a handoff) or what to ask the model, with the reference
text the guard may accept claims from. Recording and handoff tickets are the caller's (services).
"""

import re
from dataclasses import dataclass, field
from typing import Literal

from engine.copywriting import copy_instruction, is_copy_request, plain_copy, product_facts_text, which_product_text
from engine.focus import NO_CONTEXT, ChatContext, Resolved, products_named, resolve_products
from engine.knowledge import FaqFact, ProductFact, StoreSnapshot
from engine.lexicon import (
    ATTRIBUTE_ASKS,
    DEFECT_WORDS,
    ENGLISH_SHOP_TERMS,
    GARMENT_MEASURES,
    LENGTH_UNITS,
    LETTER_SIZES,
    SIZE_QUESTION,
    WEIGHT_UNITS,
)
from engine.normalize import Normalized, normalize
from engine.numerals import metre_height_cm
from engine.product_answers import (
    GAP,
    MEASURE_QUESTION,
    PRICE_QUESTION,
    SIZE_NAME,
    STOCK_QUESTION,
    asks_of,
    mentioned,
    product_answer,
)
from engine.prompt import Reference, copy_turn, user_turn
from engine.retrieve import Snippet, faq_text, index_for, product_document, retrieve, tokenize
from engine.route import route
from engine.trigger import keyword_trigger

RUNNER_UP_SHARE = 0.6
# The entry answers verbatim when question and entry share this much of each other's words and the runner-up
# scores at most this share of it.
PARAPHRASE_SHARE = 0.6
DOMINANT_SHARE = 0.8
FALLBACK_MIN_SCORE = 1.5  # a weaker best entry is no answer to fall back on
_ENGLISH_TERMS = tuple((re.compile(pattern), chinese) for pattern, chinese in ENGLISH_SHOP_TERMS)
FOCUS_CHARS = 220
REFERENCE_CHARS = 480  # about 300 prompt tokens: ~1.5 s of prompt evaluation on 2 cores
ALWAYS_KEEP = ("价格：", "库存：")  # short, and what shoppers ask most
_SEGMENT = re.compile(r"[^\n；;。]+[\n；;。]?")

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
    question: str = ""  # the question as the model sees it (generate): the guard drops an echo of it
    reference: str = ""  # what the guard may accept claims from, besides the store's data
    fallback: str = ""  # generate: the best FAQ entry's answer, shown if the model's answer is broken
    fallback_source: Literal["faq", "template"] = "faq"
    matched: tuple[dict[str, object], ...] = field(default=())

    @property
    def handoff(self) -> bool:
        return bool(self.handoff_reason)


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
        keyed = _keyword_entry(store, lookup.text)
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
    references: list[Reference] = []
    budget = REFERENCE_CHARS
    for snippet in snippets:
        focused = focus(snippet.text, query_tokens)
        if references and len(focused) > budget:
            break
        references.append(Reference(title=snippet.title, text=focused))
        budget -= len(focused)
    snippets = snippets[: len(references)]
    matched: tuple[dict[str, object], ...] = tuple(
        {"kind": s.kind, "id": s.id, "title": s.title, "score": round(s.score, 3)} for s in snippets
    )
    fallback = "" if english else _fallback_entry(store, snippets, in_focus)
    return _generate(text, references, matched, english, fallback=fallback)


def _generate(
    text: Normalized,
    references: list[Reference],
    matched: tuple[dict[str, object], ...],
    english: bool,
    *,
    fallback: str = "",
) -> Decision:
    # The model reads the shopper's words as they were typed (cleaned, not lower-cased): what it copies from
    # the question must read as the shopper wrote it.
    question = shown_question(text)
    return Decision(
        kind="generate",
        route="llm",
        user_content=user_turn(question, references, english=english),
        question=question,
        reference="\n".join(r.text for r in references),
        matched=matched,
        fallback=fallback,
    )


_LATIN = re.compile(r"[a-z]")
_CJK = re.compile(r"[\u3400-\u9fff]")


def is_english(text: str) -> bool:
    """Written in English (or another Latin-script language): letters, no Chinese."""
    return len(_LATIN.findall(text)) >= 6 and not _CJK.search(text)


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
_DEFECT = re.compile(DEFECT_WORDS)
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


def _fallback_entry(store: StoreSnapshot, snippets: list[Snippet], in_focus: ProductFact | None) -> str:
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


def _keyword_entry(store: StoreSnapshot, text: str) -> FaqFact | None:
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


SIZE_ADVICE_QUESTION = re.compile(SIZE_QUESTION)
HEIGHT_SAID = re.compile(r"身高\s*[:：是]?\s*(1\d{2}(?:\.\d)?)(?![\d.])")
HEIGHT_CM = re.compile(rf"(?<![\d.])(1\d{{2}}(?:\.\d)?)\s*(?:{LENGTH_UNITS})")
# A number in cm right after one of these is a garment or body measurement, not a height.
_MEASURE_BEFORE = re.compile(rf"({GARMENT_MEASURES})\s*$")
WEIGHT = re.compile(
    rf"(?<![\d.])(\d{{2,3}}(?:\.\d)?)\s*({WEIGHT_UNITS})|体重\s*(\d{{2,3}}(?:\.\d)?)(?![\d.])(?!\s*(?:{WEIGHT_UNITS}))"
)
_GUIDE_SIZE = re.compile(rf"(?<![a-z])({LETTER_SIZES})\s*[：:]", re.IGNORECASE)
_GUIDE_RANGE = {
    "身高": re.compile(r"身高\s*(\d{3})\s*[-~～至到]\s*(\d{3})\s*(?:cm|厘米)?"),
    "体重": re.compile(r"体重\s*(\d{2,3})\s*[-~～至到]\s*(\d{2,3})\s*(kg|公斤|斤)?"),
}


def _height_cm(question: str) -> float | None:
    found = HEIGHT_SAID.search(question)
    if found:
        return float(found.group(1))
    for found in HEIGHT_CM.finditer(question):
        if not _MEASURE_BEFORE.search(question[: found.start()]):
            return float(found.group(1))
    return metre_height_cm(question)


def _weight_kg(question: str) -> float | None:
    found = WEIGHT.search(question)
    if found is None:
        return None
    value, unit, bare = found.groups()
    if value:
        return float(value) / 2 if unit == "斤" else float(value)
    number = float(bare)
    # "体重120" without a unit: shoppers mean 斤 above 100 and kg below 80; in between nobody can tell.
    if number > 100:
        return number / 2
    return number if number < 80 else None


# A question that names a size, or asks stock, price, a measurement or a material, is about that.
_ASKS_SOMETHING_ELSE = re.compile(
    "|".join(p.pattern for p in (STOCK_QUESTION, PRICE_QUESTION, MEASURE_QUESTION, SIZE_NAME))
    + "|"
    + "|".join(ATTRIBUTE_ASKS[group] for group in ATTRIBUTE_ASKS if "面料" in group.split("|"))
    + "|模特|缩水|洗",
    re.IGNORECASE,
)


def size_guide_ranges(guide: str) -> list[tuple[str, dict[str, tuple[float, float]]]]:
    """[("S", {"身高": (155, 165), "体重": (45, 55)}), ...] from a guide that gives them, in its order."""
    marks = list(_GUIDE_SIZE.finditer(guide))
    if not marks:
        return []  # no size table (a tea, a guide in words only)
    sizes = []
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        segment = guide[mark.end() : following.start() if following else len(guide)]
        ranges: dict[str, tuple[float, float]] = {}
        for measure, pattern in _GUIDE_RANGE.items():
            found = pattern.search(segment)
            if found:
                low, high = float(found.group(1)), float(found.group(2))
                if measure == "体重" and found.group(3) == "斤":
                    low, high = low / 2, high / 2
                ranges[measure] = (low, high)
        sizes.append((mark.group(1).upper(), ranges))
    return sizes


def size_advice_answer(*, store: StoreSnapshot, question: str, resolved: Resolved) -> Decision | None:
    """ "身高183体重80kg穿什么码": the size whose recommended height and weight ranges (from the product's own
    size guide) hold the shopper's; a value outside every range, or a guide without ranges, is left alone."""
    if not SIZE_ADVICE_QUESTION.search(question) or _ASKS_SOMETHING_ELSE.search(question):
        return None
    given = {"身高": _height_cm(question), "体重": _weight_kg(question)}
    if given["身高"] is None and given["体重"] is None:
        return None
    product = resolved.one
    if product is None or resolved.shared_words == 1:
        return None  # one shared word ("宽松") is too little to advise a size for
    sizes = size_guide_ranges(product.size_guide)
    fits: list[set[int]] = []
    for measure, value in given.items():
        if value is None or not any(measure in ranges for _, ranges in sizes):
            continue
        fitting = {i for i, (_, r) in enumerate(sizes) if measure in r and r[measure][0] <= value <= r[measure][1]}
        if not fitting:
            return None  # outside the guide: a person (or the model with the guide) says more
        fits.append(fitting)
    if not fits:
        return None
    both = set.intersection(*fits)
    if both:
        pick = max(both)  # on a boundary between two sizes, the larger
    elif min(fits[0]) - max(fits[-1]) <= 1 and min(fits[-1]) - max(fits[0]) <= 1:
        pick = max(max(f) for f in fits)  # height and weight one size apart: the larger fits both better
    else:
        return None  # far apart: a person should help choose
    size, ranges = sizes[pick]
    said = "、".join(
        f"{measure}{value:g}{'cm' if measure == '身高' else 'kg'}"
        for measure, value in given.items()
        if value is not None
    )
    guide = "、".join(
        f"{measure}{low:g}-{high:g}{'cm' if measure == '身高' else 'kg'}" for measure, (low, high) in ranges.items()
    )
    note = product.size_guide.split("。")[0] if _GUIDE_SIZE.search(product.size_guide.split("。")[0]) is None else ""
    text = f"亲，{said}，{product.name}建议选{size}码（{size}码建议{guide}）。"
    if note:
        text += f"{note}。"
    matched = ({"kind": "product", "id": product.id, "title": product.name},)
    return Decision(kind="direct", route="size", text=text, source="template", matched=matched)
