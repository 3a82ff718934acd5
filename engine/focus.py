"""What a question is about when it does not say: the product on the page and what was just said.

A shopper on a product page asks "有现货吗" or "这件尺码偏大吗" without naming anything, and a follow-up
("那L码呢", "白色的还有吗") leans on the turn before. `ChatContext` carries what the conversation knows
(the product in view, the recent turns as plain text); `resolve_products` says which of the store's
products a question is about:

1. the products the question names (a whole name or SKU; else the products sharing the most name words).
   One: that one. Several of one kind ("连衣裙", "T恤"): the one in focus if it is among them, else all
   of them (the answer lists them or asks which);
2. names nothing: the newest recent text that names products (the bot's answer names the one it answered
   about; a list it gave is narrowed by the question's words: "雪纺的呢"), else the product in view.

A question is never silently moved to another product: a word that fits another product ("粉色的有吗"
about a T-shirt without pink) stays with the product in focus, and the answer says what that one has.
"""

import re
from dataclasses import dataclass
from typing import Literal

from engine import segment
from engine.knowledge import ProductFact, StoreSnapshot
from engine.lexicon import ATTRIBUTE_ASKS
from engine.memo import IdentityMemo
from engine.normalize import normalize
from engine.retrieve import tokenize


@dataclass(frozen=True)
class ChatContext:
    product_in_view: str = ""  # the SKU of the product page the shopper is on ("" when none)
    # The conversation's recent texts as shown, oldest first: (role, text); role "shopper", "bot" (an answer about
    # the store's goods, by the bot or an agent) or "entry" (an FAQ entry or a handoff text: about no product).
    recent: tuple[tuple[str, str], ...] = ()


NO_CONTEXT = ChatContext()

How = Literal["", "named", "family", "recent", "listed", "in_view"]


@dataclass(frozen=True)
class Resolved:
    products: tuple[ProductFact, ...] = ()  # none, the one, or the candidates of one kind
    how: How = ""
    shared_words: int = 0  # named by shared name words: how many (0: by whole name, SKU or context)

    @property
    def one(self) -> ProductFact | None:
        return self.products[0] if len(self.products) == 1 else None


NOTHING = Resolved()


@dataclass(frozen=True)
class _ProductWords:
    names: tuple[tuple[ProductFact, str, frozenset[str]], ...]  # (product, normalized name, name words)
    values: dict[int, frozenset[str]]  # product id -> words of its attribute values


def name_units(text: str) -> frozenset[str]:
    """The words of a name or question (two characters or more), with the two-character pieces of its Chinese
    runs: the segmenter splits "冰感速干运动T恤" as 冰感速/干, and "速干" must still match."""
    units = {t for t in tokenize(text) if len(t) >= 2}
    for run in _CJK.findall(normalize(text).text):
        units.update(run[i : i + 2] for i in range(len(run) - 1))
    return frozenset(units)


def _build_words(store: StoreSnapshot) -> _ProductWords:
    names = tuple((p, normalize(p.name).text, name_units(p.name)) for p in store.products)
    values = {p.id: frozenset(t for _, v in p.attributes for t in tokenize(v)) for p in store.products}
    return _ProductWords(names=names, values=values)


_words: IdentityMemo[StoreSnapshot, _ProductWords] = IdentityMemo(_build_words)

_SKU_EDGE = "(?<![a-z0-9-]){}(?![a-z0-9])"
_CJK = re.compile(r"[\u3400-\u9fff]+")
_AND = re.compile(r"和|跟|与|及|、|还有|以及|(?<![a-z])(and|or)(?![a-z])|或者|还是")
_ASKED = re.compile("|".join(f"(?:{pattern})" for pattern in ATTRIBUTE_ASKS.values()), re.IGNORECASE)
# Words after a name word that ask about it rather than name another thing.
NOT_A_NOUN = frozenset(
    (  # noqa: SIM905 - a word list reads best as words
        "有货 现货 多少 多少钱 价格 怎么 怎么样 可以 能不能 是不是 还有 有没有 什么 适合 好不好 好看 会不会 "
        "面料 材质 尺码 颜色 容量 质量 库存 发货 包邮 优惠 活动 规格 保质期 产地 配料 功率 尺寸 重量"
    ).split()
)
# Words that point at the product in focus ("这件", "它"): a name word elsewhere in the question does not move it.
POINTER = re.compile(r"这件|这个|这款|这双|这条|这套|这瓶|这盒|这种|这只|这台|这本|它|(?<![a-z])(this|it)(?![a-z])")


def products_named(store: StoreSnapshot, text: str, *, whole_only: bool = False) -> tuple[ProductFact, ...]:
    """The products normalized `text` names: by whole name or SKU, else (unless `whole_only`) those sharing the
    most name words."""
    return _named(store, text, whole_only=whole_only)[0]


def _named(store: StoreSnapshot, text: str, *, whole_only: bool = False) -> tuple[tuple[ProductFact, ...], int]:
    words = _words(store)
    whole = [
        p
        for p, name, _ in words.names
        if (name and name in text) or re.search(_SKU_EDGE.format(re.escape(p.sku.lower())), text)
    ]
    if whole or whole_only:
        return tuple(whole), 0
    # One character says too little ("茶" in a tea shop is every product); what the question asks ("是纯棉的吗",
    # "什么面料") is not what it names.
    asked = name_units(_ASKED.sub(" ", text))
    if not asked:
        return (), 0
    overlap = [(asked & name_words, p) for p, _, name_words in words.names]
    best = max((len(shared) for shared, _ in overlap), default=0)
    if not best:
        return (), 0
    named = tuple(p for shared, p in overlap if len(shared) == best)
    if best >= 2 and _AND.search(text):
        # "绿豆糕和核桃酥各多少钱": each product the question names well enough, not only the best named.
        named = tuple(p for shared, p in overlap if len(shared) >= 2)
    if best == 1:
        # One shared word that qualifies another noun ("纯棉衬衫", "运动裤") names a product the store does not
        # sell, not one it does.
        word = next(iter(next(shared for shared, p in overlap if len(shared) == best)))
        if _qualifies_something_else(store, text, word):
            return (), 0
    return named, best


def _shares_a_character(word: str, names: str) -> bool:
    return any(ch in names for ch in word if _CJK.fullmatch(ch))


def _qualifies_something_else(store: StoreSnapshot, text: str, word: str) -> bool:
    """Whether `word` in `text` is part of a longer word, or followed by a noun, that no product's name has."""
    from engine.vocabulary import store_vocabulary

    known = store_vocabulary(store).terms
    names = " ".join(name for _, name, _ in _words(store).names)
    segments = [s for s in segment.cut(text) if s.strip()]
    for i, piece in enumerate(segments):
        if word in piece and piece != word and piece not in names and len(piece) > len(word):
            return not _shares_a_character(piece.replace(word, ""), names)  # 运动裤 (but 连衣裙子 is ours)
        if piece == word and i + 1 < len(segments):
            after = segments[i + 1]
            if len(after) >= 2 and _CJK.fullmatch(after) and after not in known and after not in names:
                # 纯棉 衬衫: another kind of goods (针织 裙子 is a word for the store's own 连衣裙)
                counted = after[0] in "一二两三四五六七八九十几每这那多"  # 一罐, 每盒: a measure, not a noun
                return not counted and after not in NOT_A_NOUN and not _shares_a_character(after, names)
    return False


def _narrow(store: StoreSnapshot, candidates: tuple[ProductFact, ...], text: str) -> tuple[ProductFact, ...]:
    """The candidates the question's words single out (a name word or an attribute value only they have)."""
    asked = set(tokenize(text))
    words = _words(store)
    names = {p.id: w for p, _, w in words.names}
    own = {p.id: names.get(p.id, frozenset()) | words.values.get(p.id, frozenset()) for p in candidates}
    scored = [(len(asked & own[p.id]), p) for p in candidates]
    best = max((n for n, _ in scored), default=0)
    if not best:
        return candidates
    return tuple(p for n, p in scored if n == best)


def _in_view(store: StoreSnapshot, context: ChatContext) -> ProductFact | None:
    sku = context.product_in_view.strip().lower()
    return next((p for p in store.products if p.sku.lower() == sku), None) if sku else None


def resolve_products(*, store: StoreSnapshot, text: str, context: ChatContext = NO_CONTEXT) -> Resolved:
    """Which products normalized `text` is about, in this conversation (see the module's docstring)."""
    if not store.products:
        return NOTHING
    in_view = _in_view(store, context)
    named, shared = _named(store, text)
    focus = _recent_focus(store, context, in_view)
    pointed = focus.one or (in_view if not focus.products else None)
    if pointed is not None and shared and POINTER.search(text) and pointed not in named:
        # "这件是纯棉的吗" on the sports T-shirt's page: 纯棉 is in another product's name, the question is
        # about this one. Only a whole name or SKU moves a pointing question to another product.
        return Resolved((pointed,), focus.how if focus.one else "in_view")
    if len(named) == 1:
        return Resolved(named, "named", shared)
    if named:
        for product, how in ((focus.one, focus.how), (in_view, "in_view")):
            if product is not None and product in named:
                return Resolved((product,), how)
        if _AND.search(text):
            return Resolved(named, "named", shared)  # "绿豆糕和核桃酥": both, as asked
        narrowed = _narrow(store, named, text)
        return Resolved(narrowed, "named" if len(narrowed) == 1 else "family", shared)
    if focus.products:
        if len(focus.products) > 1:
            narrowed = _narrow(store, focus.products, text)
            return Resolved(narrowed, "listed" if len(narrowed) < len(focus.products) else "family")
        return focus
    if in_view is not None:
        return Resolved((in_view,), "in_view")
    return NOTHING


def _recent_focus(store: StoreSnapshot, context: ChatContext, in_view: ProductFact | None) -> Resolved:
    """The products of the newest recent text that names any (one: that one; several: in view if among them).
    The bot's answers count by whole names only (they name what they are about in full); its policy texts
    (role "entry": FAQ answers, handoffs) do not count at all - the fit entry names a T-shirt and is about none."""
    for role, text in reversed(context.recent):
        if role not in ("shopper", "bot"):
            continue
        named = products_named(store, normalize(text, synonyms=store.synonyms).text, whole_only=role != "shopper")
        if len(named) == 1:
            return Resolved(named, "recent")
        if named:
            if in_view is not None and in_view in named:
                return Resolved((in_view,), "in_view")
            return Resolved(named, "recent")
    return NOTHING
