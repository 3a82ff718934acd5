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

from engine.knowledge import ProductFact, StoreSnapshot
from engine.memo import IdentityMemo
from engine.normalize import normalize
from engine.retrieve import tokenize


@dataclass(frozen=True)
class ChatContext:
    product_in_view: str = ""  # the SKU of the product page the shopper is on ("" when none)
    # The conversation's recent texts as shown, oldest first: ("shopper" | "bot", text).
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


def _build_words(store: StoreSnapshot) -> _ProductWords:
    names = tuple((p, normalize(p.name).text, frozenset(tokenize(p.name))) for p in store.products)
    values = {p.id: frozenset(t for _, v in p.attributes for t in tokenize(v)) for p in store.products}
    return _ProductWords(names=names, values=values)


_words: IdentityMemo[StoreSnapshot, _ProductWords] = IdentityMemo(_build_words)

_SKU_EDGE = "(?<![a-z0-9-]){}(?![a-z0-9])"


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
    asked = set(tokenize(text))
    if not asked:
        return (), 0
    overlap = [(len(asked & name_words), p) for p, _, name_words in words.names]
    best = max((n for n, _ in overlap), default=0)
    return (tuple(p for n, p in overlap if n == best) if best else ()), best


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
    if len(named) == 1:
        return Resolved(named, "named", shared)
    if named:
        for product, how in ((focus.one, focus.how), (in_view, "in_view")):
            if product is not None and product in named:
                return Resolved((product,), how)
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
    The bot's texts count by whole names only: its answers name what they are about in full, and a policy that
    mentions "纯棉T恤" is about no product."""
    for role, text in reversed(context.recent):
        named = products_named(store, normalize(text, synonyms=store.synonyms).text, whole_only=role != "shopper")
        if len(named) == 1:
            return Resolved(named, "recent")
        if named:
            if in_view is not None and in_view in named:
                return Resolved((in_view,), "in_view")
            return Resolved(named, "recent")
    return NOTHING
