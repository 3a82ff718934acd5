"""The answer pipeline up to generation: normalize -> route -> keyword trigger -> retrieve -> prompt.

`decide()` is pure: it takes the store's snapshot and the shopper's text and says either what to
answer right away (a template, an FAQ answer, a handoff) or what to ask the model, with the reference
text the guard may accept claims from. Recording and handoff tickets are the caller's (services).
"""

import re
from dataclasses import dataclass, field
from typing import Literal

from engine.amounts import money
from engine.focus import NO_CONTEXT, ChatContext
from engine.knowledge import ProductFact, StoreSnapshot
from engine.lexicon import (
    GARMENT_MEASURES,
    LENGTH_UNITS,
    LETTER_SIZES,
    PRICE_WORDS,
    PRICE_WORDS_EN,
    SIZE_QUESTION,
    STOCK_QUESTION_PHRASES,
    STOCK_WORDS,
    WEIGHT_UNITS,
)
from engine.normalize import normalize
from engine.numerals import metre_height_cm
from engine.prompt import Reference, user_turn
from engine.retrieve import index_for, retrieve, tokenize
from engine.route import route
from engine.trigger import keyword_trigger

RUNNER_UP_SHARE = 0.6
FOCUS_CHARS = 220
REFERENCE_CHARS = 480  # about 300 prompt tokens: ~1.5 s of prompt evaluation on 2 cores
ALWAYS_KEEP = ("价格：", "库存：")  # short, and what shoppers ask most
_SEGMENT = re.compile(r"[^\n；;。]+[\n；;。]?")

STOCK_QUESTION = re.compile(f"{STOCK_WORDS}|{STOCK_QUESTION_PHRASES}")
PRICE_QUESTION = re.compile(f"{PRICE_WORDS}|{PRICE_WORDS_EN}")

HOW_MANY = re.compile(r"多少|几件|剩")
MEASURE_QUESTION = re.compile(GARMENT_MEASURES)
SIZE_NAME = re.compile(rf"(?<![a-z])({LETTER_SIZES})(?![a-z])\s*码", re.IGNORECASE)

# Product attributes shoppers ask about by other words; answered from the product's own attributes.
ATTRIBUTE_QUESTIONS = {
    "面料": re.compile(
        r"面料|材质|材料|什么料|成分|纯棉的?吗|是棉的|含棉|含(不含)?(羊毛|棉|麻|真丝|丝|涤纶|聚酯|氨纶|粘纤|锦纶)"
    ),
    "材质": re.compile(r"材质|材料|什么做的|什么料"),
    "克重": re.compile(r"克重|多少克|几克|多重|厚不厚"),
    "净含量": re.compile(r"净含量|多少克|几克|多重|一罐多少|一盒多少|一包多少"),
    "产地": re.compile(r"产地|哪里产|哪产的|产区|哪里的茶|原产"),
    "保质期": re.compile(r"保质期|能放多久|放多久|过期"),
}

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
    matched: tuple[dict[str, object], ...] = field(default=())

    @property
    def handoff(self) -> bool:
        return bool(self.handoff_reason)


def decide(*, store: StoreSnapshot, question: str, context: ChatContext = NO_CONTEXT) -> Decision:
    text = normalize(question, synonyms=store.synonyms)
    routed = route(text, store=store)
    if routed.kind != "continue":
        if routed.handoff:
            reason: HandoffReason = "complaint" if routed.kind == "complaint" else "shopper_asked"
            return Decision(
                kind="direct", route=routed.kind, text=routed.reply, source="handoff", handoff_reason=reason
            )
        return Decision(kind="direct", route=routed.kind, text=routed.reply, source="template")

    advice = size_advice_answer(store=store, question=text.text)
    if advice is not None:
        return advice

    hit = keyword_trigger(text, faqs=store.faqs)
    if hit is not None:
        hit_matched = ({"kind": "faq", "id": hit.faq.id, "title": hit.faq.question, "keyword": hit.keyword},)
        return Decision(
            kind="direct", route="faq", text=hit.faq.answer, source="faq", faq_id=hit.faq.id, matched=hit_matched
        )

    snippets = retrieve(index_for(store), text.text, threshold=store.relevance_threshold, top_k=store.top_k)
    fact = product_fact_answer(store=store, question=text.text)
    if fact is not None:
        return fact
    if not snippets:
        # Nothing in this store's data is about the question: say so honestly, and get a human.
        handoff = store.handoff_message.strip() or DEFAULT_HANDOFF
        return Decision(
            kind="direct", route="unsure", text=f"{UNSURE_TEXT}{handoff}", source="handoff", handoff_reason="bot_unsure"
        )
    best = snippets[0].score
    # A weak runner-up only adds prompt tokens (time to first token) and noise for a small model.
    snippets = [s for s in snippets if s.score >= best * RUNNER_UP_SHARE]
    query_tokens = set(tokenize(text.text))
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
    return Decision(
        kind="generate",
        route="llm",
        user_content=user_turn(text.text, references),
        question=text.text,
        reference="\n".join(r.text for r in references),
        matched=matched,
    )


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


def product_fact_answer(*, store: StoreSnapshot, question: str) -> Decision | None:
    """Stock and price of one named product come straight from the product row: a small model gets
    them wrong too often, and the row is the truth (source `template`)."""
    asks_stock, asks_price = bool(STOCK_QUESTION.search(question)), bool(PRICE_QUESTION.search(question))
    measure = MEASURE_QUESTION.search(question)
    size = SIZE_NAME.search(question)
    asks_attribute = any(pattern.search(question) for pattern in ATTRIBUTE_QUESTIONS.values())
    if not (asks_stock or asks_price or (measure and size) or asks_attribute):
        return None
    product = _named_product(store=store, question=question)
    if product is None:
        return None
    parts = []
    attributes = dict(product.attributes)
    for key, pattern in ATTRIBUTE_QUESTIONS.items():
        if pattern.search(question) and key in attributes:
            parts.append(f"{product.name}的{key}是{attributes[key]}")
    if measure and size:
        value = size_guide_value(product.size_guide, size.group(1).upper(), measure.group(0))
        if value is None:
            return None  # not in the size guide: let the model (or the unsure reply) handle it
        parts.append(f"{product.name}{size.group(1).upper()}码的{measure.group(0)}是{value}")
    if asks_price:
        parts.append(f"{product.name}的价格是{money(product.price)}元")
    if asks_stock:
        if product.stock <= 0:
            parts.append(f"{product.name}目前缺货")
        elif HOW_MANY.search(question):
            parts.append(f"{product.name}目前有现货，库存{product.stock}件")
        else:
            parts.append(f"{product.name}目前有现货")
    if not parts:
        return None
    text = "亲，" + "，".join(parts) + "。"
    matched = ({"kind": "product", "id": product.id, "title": product.name},)
    return Decision(kind="direct", route="product", text=text, source="template", matched=matched)


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
    "|".join(
        p.pattern for p in (STOCK_QUESTION, PRICE_QUESTION, MEASURE_QUESTION, SIZE_NAME, *ATTRIBUTE_QUESTIONS.values())
    )
    + "|模特|缩水|洗",
    re.IGNORECASE,
)


def size_guide_ranges(guide: str) -> list[tuple[str, dict[str, tuple[float, float]]]]:
    """[("S", {"身高": (155, 165), "体重": (45, 55)}), ...] from a guide that gives them, in its order."""
    marks = list(_GUIDE_SIZE.finditer(guide))
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


def size_advice_answer(*, store: StoreSnapshot, question: str) -> Decision | None:
    """ "身高183体重80kg穿什么码": the size whose recommended height and weight ranges (from the product's own
    size guide) hold the shopper's; a value outside every range, or a guide without ranges, is left alone."""
    if not SIZE_ADVICE_QUESTION.search(question) or _ASKS_SOMETHING_ELSE.search(question):
        return None
    given = {"身高": _height_cm(question), "体重": _weight_kg(question)}
    if given["身高"] is None and given["体重"] is None:
        return None
    product = _named_product(store=store, question=question, min_overlap=2)
    if product is None:
        return None
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


def _named_product(*, store: StoreSnapshot, question: str, min_overlap: int = 1) -> ProductFact | None:
    """The one product the question names (by name or SKU, else by most shared words), or None."""
    named = [p for p in store.products if p.name.lower() in question or p.sku.lower() in question]
    if len(named) != 1:
        asked = set(tokenize(question))
        overlap = [(len(asked & set(tokenize(p.name))), p) for p in store.products]
        best = max((n for n, _ in overlap), default=0)
        named = [p for n, p in overlap if n == best] if best >= min_overlap else []
    return named[0] if len(named) == 1 else None


def size_guide_value(guide: str, size: str, measure: str) -> str | None:
    """`106cm` for ("M", "胸围") from a guide written like "M：胸围106cm，衣长69cm；L：..."."""
    for segment in re.split(r"[；;。\n]", guide):
        head, sep, rest = segment.partition("：")
        if not sep:
            head, sep, rest = segment.partition(":")
        if sep and head.strip().upper() == size:
            found = re.search(re.escape(measure) + r"\s*(\d+(?:\.\d+)?\s*(?:cm|厘米|mm)?)", rest)
            if found:
                return found.group(1).replace(" ", "")
    return None
