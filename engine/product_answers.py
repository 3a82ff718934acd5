"""Answers about products straight from their rows: stock, price, any attribute, fit and measures, families.

A small model gets these wrong too often and the row is the truth, so they are composed here (source
`template`). What a question asks is recognised from generic shopping words (engine/lexicon.py) and from
the store's own attribute names ("功率", "适用肤质"), so a store of any kind is answered without a code
change. Which product it is about comes from engine/focus.py: named, in focus, on the page, or several of
one kind, which are listed with what was asked.

Stock is one number per product: when a shopper asks about a colour or a size, the answer says whether the
product comes in it and that the page shows what can be ordered, never that this colour in this size is in
stock.
"""

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal

from engine import numerals
from engine.amounts import money
from engine.claims import regions_in, store_excluded_regions
from engine.focus import Resolved
from engine.knowledge import ProductFact, StoreSnapshot
from engine.lexicon import (
    ATTRIBUTE_ASKS,
    FIT_QUESTION,
    GARMENT_MEASURES,
    LETTER_SIZES,
    OPTION_KEYS,
    PRICE_WORDS,
    PRICE_WORDS_EN,
    STOCK_QUESTION_PHRASES,
    STOCK_WORDS,
)
from engine.normalize import normalize
from engine.retrieve import tokenize
from engine.route import describe_promotion

STOCK_QUESTION = re.compile(f"{STOCK_WORDS}|{STOCK_QUESTION_PHRASES}")
PRICE_QUESTION = re.compile(f"{PRICE_WORDS}|{PRICE_WORDS_EN}")
HOW_MANY = re.compile(r"多少|几件|剩")
MEASURE_QUESTION = re.compile(GARMENT_MEASURES)
SIZE_NAME = re.compile(rf"(?<![a-z])({LETTER_SIZES})(?![a-z])\s*码", re.IGNORECASE)
FIT = re.compile(FIT_QUESTION)
_ASKS = tuple((frozenset(group.split("|")), re.compile(pattern)) for group, pattern in ATTRIBUTE_ASKS.items())
_LIST = "、"
_SIZE_KEYS = ("尺码", "尺寸")
_OPTION_KEY = re.compile(OPTION_KEYS)
_PARTS = re.compile(r"[、，,；;/（）()\s]+")
_ASKS_WHETHER = re.compile(r"有|含|加|放|吗|么|嘛")
COUNT = re.compile(r"(\d+|[两二三四五六七八九十]+)\s*(件|个|条|双|瓶|盒|罐|包|套|份|支|袋)")
MAX_COUNT = 99
MAX_LISTED = 6  # a family larger than this is not listed in a chat answer


@dataclass(frozen=True)
class Asks:
    """What a question asks about a product."""

    stock: bool = False
    price: bool = False
    keys: tuple[str, ...] = ()  # attribute names, as the store writes them
    measure: str = ""  # a garment measure ("衣长") with `size`
    size: str = ""
    fit: bool = False
    how_many: bool = False
    count: int = 0  # "两件一起多少钱": the number of items to price

    def __bool__(self) -> bool:
        return self.stock or self.price or bool(self.keys) or bool(self.measure and self.size) or self.fit


def store_attribute_keys(store: StoreSnapshot) -> tuple[str, ...]:
    keys: list[str] = []
    for product in store.products:
        keys += [k for k, _ in product.attributes if k not in keys]
    return tuple(keys)


def attribute_keys_asked(store: StoreSnapshot, text: str) -> tuple[str, ...]:
    """The store's attribute names normalized `text` asks about: named ("容量"), or by a word of their idea
    ("什么材质" asks 面料 where the store says 面料)."""
    asked = []
    for key in store_attribute_keys(store):
        norm = normalize(key).text
        if len(norm) >= 2 and norm in text:
            asked.append(key)
            continue
        if any(key in names and pattern.search(text) for names, pattern in _ASKS):
            asked.append(key)
    return tuple(asked)


def asks_of(store: StoreSnapshot, text: str) -> Asks:
    measure = MEASURE_QUESTION.search(text)
    size = SIZE_NAME.search(text)
    fit = bool(FIT.search(text))
    keys = attribute_keys_asked(store, text)
    if fit:  # "尺码偏大吗" asks how it fits, not which sizes there are
        keys = tuple(k for k in keys if k not in _SIZE_KEYS)
    return Asks(
        stock=bool(STOCK_QUESTION.search(text)),
        price=bool(PRICE_QUESTION.search(text)),
        keys=keys,
        measure=measure.group(0) if measure else "",
        size=size.group(1).upper() if size else "",
        fit=fit,
        how_many=bool(HOW_MANY.search(text)),
        count=items_counted(text),
    )


def items_counted(text: str) -> int:
    """ "两件一起多少钱" -> 2; 0 when no count of items is said."""
    found = COUNT.search(text)
    if not found:
        return 0
    said = found.group(1)
    value = int(said) if said.isdigit() else numerals.cn_int(said)
    return value if value and 1 < value <= MAX_COUNT else 0


def _items(value: str) -> list[str]:
    return [v.strip() for v in value.split(_LIST) if v.strip()]


def mentioned(item: str, text: str) -> bool:
    norm = normalize(item).text
    if not norm:
        return False
    if re.fullmatch(r"[a-z0-9]+", norm):
        return re.search(rf"(?<![a-z0-9]){re.escape(norm)}(?![a-z0-9])", text) is not None
    return norm in text


def options_mentioned(store: StoreSnapshot, product: ProductFact, text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The product's listed options (colours, sizes...) the text names, and options of the same attribute
    elsewhere in the store that this product does not have, with their attribute: ("有", "没有")."""
    own: list[str] = []
    missing: list[tuple[str, str]] = []
    for key, value in product.attributes:
        if not _OPTION_KEY.fullmatch(key):
            continue
        items = _items(value)
        own += [item for item in items if mentioned(item, text)]
        others = {
            item
            for p in store.products
            if p.id != product.id
            for k, v in p.attributes
            if k == key
            for item in _items(v)
            if item not in items
        }
        missing += [(key, item) for item in sorted(others) if mentioned(item, text) and not any(item in o for o in own)]
    return own, missing


def facts_mentioned(product: ProductFact, text: str) -> tuple[str, ...]:
    """The product's fact attributes (not options) the text names a part of: "核桃酥里有鸡蛋吗" -> 配料. Words of
    the product's own name do not count (绿豆糕 says 绿豆, and asks nothing about it)."""
    rest = text
    for word in sorted(tokenize(product.name), key=len, reverse=True):
        rest = rest.replace(word, " ")
    found = []
    for key, value in product.attributes:
        if _OPTION_KEY.fullmatch(key):
            continue
        if any(mentioned(item, rest) for item in _PARTS.split(value) if len(item) >= 2):
            found.append(key)
    return tuple(found)


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


def fit_note(product: ProductFact) -> str:
    """The product's own word on fit: its cut and the first sentence of its size guide (before the table)."""
    cut = dict(product.attributes).get("版型", "")
    first = re.split(r"[。；;]", product.size_guide, maxsplit=1)[0].strip() if product.size_guide else ""
    if first and re.search(rf"(?<![a-z])({LETTER_SIZES})\s*[：:]", first, re.IGNORECASE):
        first = ""  # the guide starts with the table: no note
    parts = []
    if cut and cut not in first:
        parts.append(f"是{cut}版型")
    if first:
        parts.append(first)
    return "，".join(parts)


def _stock_text(product: ProductFact, asks: Asks, own: list[str]) -> str:
    if product.stock <= 0:
        return f"{product.name}目前缺货"
    text = f"{product.name}目前有现货"
    if asks.how_many and not own:
        text += f"，库存{product.stock}件"
    return text


def asked_excluded_regions(store: StoreSnapshot, text: str) -> set[str]:
    """The regions the question names that the store's own texts leave out of free shipping."""
    asked = regions_in(text)
    return asked & store_excluded_regions(store) if asked else set()


def count_total(store: StoreSnapshot, product: ProductFact, count: int, text: str = "") -> str:
    """ "两件共198元", with the store's threshold discounts and free shipping that such an order reaches."""
    total = product.price * count
    excluded = asked_excluded_regions(store, text)
    said = f"{count}件共{money(total)}元"
    for promotion in store.promotions:
        threshold = promotion.threshold
        if promotion.member_only or total < threshold:
            continue
        if promotion.kind == "threshold_off" and promotion.amount is not None and threshold > 0:
            said += f"，满{money(threshold)}减{money(promotion.amount)}后{money(total - promotion.amount)}元"
        elif promotion.kind == "free_shipping" and threshold > 0 and not excluded:
            said += f"，满{money(threshold)}包邮"
    return said


def one_product_answer(
    store: StoreSnapshot,
    product: ProductFact,
    text: str,
    asks: Asks,
    options: tuple[list[str], list[tuple[str, str]]],
) -> str | None:
    """The answer about one product, or None when the question asks nothing its row says."""
    parts: list[str] = []
    attributes = dict(product.attributes)
    own, missing = options
    for key in asks.keys:
        if key in attributes and not (own and _OPTION_KEY.fullmatch(key) and (asks.stock or missing)):
            parts.append(f"{product.name}的{key}是{attributes[key]}")
    if asks.measure and asks.size:
        value = size_guide_value(product.size_guide, asks.size, asks.measure)
        if value is None:
            return None  # not in the size guide: the model (or the unsure reply) says more
        parts.append(f"{product.name}{asks.size}码的{asks.measure}是{value}")
    if asks.fit and not parts:
        note = fit_note(product)
        if note:
            parts.append(f"{product.name}{note}" if note.startswith("是") else f"{product.name}：{note}")
    if asks.price:
        parts.append(f"{product.name}的价格是{money(product.price)}元")
        if asks.count:
            parts.append(count_total(store, product, asks.count, text))
    if missing:
        said = _LIST.join(item for _, item in missing)
        keys = {key for key, _ in missing}
        offered = [f"{k}有{v}" for k, v in product.attributes if k in keys]
        parts.append(f"{product.name}没有{said}" + (f"（{'；'.join(offered)}）" if offered else ""))
    if asks.stock:
        parts.append(_stock_text(product, asks, own))
        if own and product.stock > 0:
            parts.append(f"有{_LIST.join(own)}可选，库存按商品统计，各选项以商品页面能选择下单的为准")
    elif own and not missing and not parts:
        parts.append(f"{product.name}有{_LIST.join(own)}")
    if not parts:
        return None
    return "亲，" + "，".join(parts) + "。"


def family_answer(products: tuple[ProductFact, ...], asks: Asks, *, ask_which: bool = True) -> str | None:
    """Several products and one question: each with what was asked, then (for a kind) which one."""
    if not 1 < len(products) <= MAX_LISTED:
        return None
    lines = []
    for product in products:
        attributes = dict(product.attributes)
        bits = [f"{key}{attributes[key]}" for key in asks.keys if key in attributes]
        if asks.price:
            bits.append(f"{money(product.price)}元")
        if asks.stock:
            bits.append("有现货" if product.stock > 0 else "缺货")
        if asks.fit:
            note = fit_note(product)
            if note:
                bits.append(note.removeprefix("是"))
        if not bits:
            return None
        lines.append(f"{product.name}（{'，'.join(bits)}）")
    if not ask_which:
        return "亲，" + "；".join(lines) + "。"
    return f"亲，这类商品店里有{len(products)}款：" + "；".join(lines) + "。您问的是哪一款呢？"


LISTING = re.compile(r"哪几[种款个样]|哪些|几[种款个样]|有什么|有啥|都有|which|what\s+\w+\s+do\s+you")
_THRESHOLD_WORDS = r"包邮|免运费|免邮|满减|减|优惠|门槛|活动|free\s+shipping|discount"
GAP = re.compile(
    rf"(差多少|还差|再买多少|凑多少|再加多少|差几|how\s+much\s+more).{{0,10}}({_THRESHOLD_WORDS})"
    rf"|({_THRESHOLD_WORDS}).{{0,8}}(差多少|还差|差几)"
)
SPENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:元|块|rmb|yuan)")


def catalog_answer(store: StoreSnapshot, text: str, resolved: Resolved) -> str | None:
    """ "有哪几种容量" / "有哪些连衣裙": the store's values of an attribute across its goods, or a kind's products."""
    if not LISTING.search(text):
        return None
    asks = asks_of(store, text)
    if not resolved.products and asks.keys:
        lines = []
        for key in asks.keys:
            values: dict[str, list[str]] = {}
            for product in store.products:
                value = dict(product.attributes).get(key)
                if value:
                    values.setdefault(value, []).append(product.name)
            if values:
                listed = "；".join(f"{value}（{'、'.join(names)}）" for value, names in values.items())
                lines.append(f"店里商品的{key}有：{listed}")
        return "亲，" + "。".join(lines) + "。" if lines else None
    if resolved.how == "family" and not asks and 1 < len(resolved.products) <= MAX_LISTED * 2:
        listed = "；".join(
            f"{p.name}（{money(p.price)}元{'' if p.stock > 0 else '，缺货'}）" for p in resolved.products
        )
        return f"亲，店里有这{len(resolved.products)}款：{listed}。想了解哪一款可以告诉我～"
    return None


def promotion_gap_answer(store: StoreSnapshot, text: str, resolved: Resolved) -> str | None:
    """ "差多少能包邮" / "还差多少能减": the gap to each threshold from what the shopper said they have (an amount,
    or the product in focus times a count)."""
    if not GAP.search(text):
        return None
    spent_said = SPENT.search(text)
    product = resolved.one
    count = items_counted(text) or 1
    excluded = asked_excluded_regions(store, text)
    if spent_said:
        spent = Decimal(spent_said.group(1))
        basis = f"按{money(spent)}元算"
    elif product is not None:
        spent = product.price * count
        basis = f"{product.name}{count}件共{money(spent)}元"
    else:
        return None
    wants_shipping = bool(re.search(r"包邮|运费|邮费|shipping", text))
    lines = []
    for promotion in store.promotions:
        threshold = promotion.threshold
        if threshold <= 0 or (wants_shipping and promotion.kind != "free_shipping"):
            continue
        if promotion.kind not in ("free_shipping", "threshold_off"):
            continue
        if promotion.kind == "free_shipping" and excluded:
            lines.append(f"{'、'.join(sorted(excluded))}不参加{describe_promotion(promotion)}")
            continue
        what = describe_promotion(promotion)
        gap = threshold - spent
        lines.append(f"{what}还差{money(gap)}元" if gap > 0 else f"已满足{what}")
    if not lines:
        return None
    return f"亲，{basis}，" + "，".join(lines) + "（以下单页面计算为准）。"


def english_answer(products: tuple[ProductFact, ...], asks: Asks) -> str | None:
    """The same facts for a question asked in English (names and values stay as the store writes them)."""
    if asks.measure or asks.count or not (asks.stock or asks.price or asks.keys or asks.fit):
        return None

    def facts(product: ProductFact) -> list[str]:
        attributes = dict(product.attributes)
        said = [f"{key}: {attributes[key]}" for key in asks.keys if key in attributes]
        if asks.fit and (note := fit_note(product)):
            said.append(f"fit: {note.removeprefix('是')}")
        if asks.price:
            said.append(f"{money(product.price)} yuan")
        if asks.stock:
            said.append("in stock" if product.stock > 0 else "out of stock")
        return said

    if len(products) == 1:
        said = facts(products[0])
        return f"{products[0].name} - {'; '.join(said)}." if said else None
    if not 1 < len(products) <= MAX_LISTED:
        return None
    lines = [f"{p.name} ({'; '.join(facts(p))})" for p in products]
    return f"We have {len(products)} of these: " + "; ".join(lines) + ". Which one do you mean?"


def product_answer(
    *, store: StoreSnapshot, text: str, resolved: Resolved, english: bool = False
) -> tuple[str, ProductFact | None] | None:
    """(answer, the product it is about or None for a family), or None when the rows cannot answer."""
    if english:
        if not resolved.products:
            return None
        answer = english_answer(resolved.products, asks_of(store, text))
        return (answer, resolved.one) if answer else None
    gap = promotion_gap_answer(store, text, resolved)
    if gap is not None:
        return gap, resolved.one
    listing = catalog_answer(store, text, resolved)
    if listing is not None:
        return listing, None
    if not resolved.products:
        return None
    asks = asks_of(store, text)
    product = resolved.one
    if product is not None:
        own, missing = options_mentioned(store, product, text)
        facts = facts_mentioned(product, text) if _ASKS_WHETHER.search(text) else ()
        if facts:
            asks = dataclasses.replace(asks, keys=tuple(dict.fromkeys((*asks.keys, *facts))))
        if not asks and not (own or missing):
            return None
        if not asks and not _ASKS_WHETHER.search(text):
            return None
        answer = one_product_answer(store, product, text, asks, (own, missing))
        return (answer, product) if answer else None
    if not asks:
        return None
    answer = family_answer(resolved.products, asks, ask_which=resolved.how != "named")
    return (answer, None) if answer else None
