"""What one store sells, in its own words: how the router tells a question about this store from chit-chat
("下雨天适合喝红茶吗" in a tea shop is about tea, not the weather).

Built once per snapshot from the store's data: product names and SKUs, attribute keys and values, FAQ questions,
alternative questions and keywords, promotion titles and gifts, segmented with `retrieve.tokenize`. Dropped: one
character (it would match inside any word), anything with a digit (prices, sizes and weights are in every
question), the generic words of `lexicon.GENERIC_WORDS` and chit-chat words themselves (an umbrella shop's
"下雨天" does not make "明天下雨吗" a question for it).

Besides its words, a store's goods name their kind: a shop of 岩茶, 白茶, 绿茶, 花茶 and 青茶 sells 茶, so
红茶 is about its goods although no product says it. A kind is the last character (the head of a Chinese
compound) that at least KIND_MIN_WORDS of the goods' two-character words share. Measured on the demo and tea
stores: 茶 (6 words) and 色 (7 colours) are kinds; 品 (产品, 制品, 本品), 棉 (纯棉, 梳棉) and 纺 (混纺, 雪纺) are not.
"""

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from engine import segment
from engine.knowledge import StoreSnapshot
from engine.lexicon import ASKING_AUXILIARIES, CHITCHAT_WORDS, GENERIC_WORDS, compile_any
from engine.memo import IdentityMemo
from engine.normalize import normalize
from engine.retrieve import tokenize

KIND_MIN_WORDS = 4
_CHITCHAT = compile_any(CHITCHAT_WORDS)
_DIGIT = re.compile(r"\d")
_LATIN_OR_DIGIT = re.compile(r"[a-z0-9]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class StoreVocabulary:
    terms: frozenset[str]  # normalized words (and whole product names, SKUs) of the store's data
    kinds: frozenset[str]  # head characters of the store's goods: 茶 for a tea shop
    pattern: re.Pattern[str] | None  # any of `terms`; a Latin edge must not be glued to other letters

    def mentions(self, text: str) -> bool:
        """Whether normalized `text` names something of this store: one of its terms, or a word of a kind of
        goods it sells."""
        if self.pattern is not None and self.pattern.search(text):
            return True
        if not self.kinds:
            return False
        return any(token[-1] in self.kinds and _is_term(token) for token in tokenize(text))


def _is_term(token: str) -> bool:
    return (
        len(token) >= 2 and not _DIGIT.search(token) and token not in GENERIC_WORDS and _CHITCHAT.search(token) is None
    )


def _words(text: str, *, inner: bool) -> list[str]:
    """The words of `text` (jieba's precise mode), with `inner` also the words inside them (茉莉花茶: 茉莉, 花茶),
    never a word across two: retrieval's full mode also finds 天下 in 今天下单."""
    tokens = tokenize(text)
    spans = {w.lower() for w in segment.cut(unicodedata.normalize("NFKC", text).upper()) if len(w) > 1}
    return [t for t in tokens if (any(t in span for span in spans) if inner else t in spans)]


def _terms(texts: Iterable[str], *, asked: bool = False) -> set[str]:
    """Terms of the store's texts. `asked`: texts in the shopper's words (FAQ questions and keywords). Their
    words are taken whole, as inside a verb and its object there is no term (开发 in 开发票), and an
    auxiliary with its verb (能退, 还会, 要放) is how something is asked, not what it is about."""
    found = set()
    for text in texts:
        for token in _words(text, inner=not asked) if text else ():
            if _is_term(token) and not (asked and len(token) == 2 and token[0] in ASKING_AUXILIARIES):
                found.add(token)
    return found


def _kinds(goods_terms: Iterable[str]) -> frozenset[str]:
    words_by_head: defaultdict[str, set[str]] = defaultdict(set)
    for term in goods_terms:
        if len(term) == 2 and _CJK.match(term[-1]):
            words_by_head[term[-1]].add(term)
    return frozenset(head for head, words in words_by_head.items() if len(words) >= KIND_MIN_WORDS)


def _pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = []
    for term in sorted(terms, key=lambda t: (-len(t), t)):
        left = "(?<![a-z0-9])" if _LATIN_OR_DIGIT.match(term[0]) else ""
        right = "(?![a-z0-9])" if _LATIN_OR_DIGIT.match(term[-1]) else ""
        alternatives.append(left + re.escape(term) + right)
    return re.compile("|".join(alternatives)) if alternatives else None


def build_vocabulary(store: StoreSnapshot) -> StoreVocabulary:
    goods = [
        *(p.name for p in store.products),
        *(value for p in store.products for _, value in p.attributes),
        *(p.gift for p in store.promotions),
    ]
    about = [*(key for p in store.products for key, _ in p.attributes), *(p.title for p in store.promotions)]
    asked = [text for f in store.faqs for text in (f.question, *f.alt_questions, *f.keywords)]
    goods_terms = _terms(goods)
    whole = {normalize(p.name).text for p in store.products} | {p.sku.strip().lower() for p in store.products}
    terms = frozenset(goods_terms | _terms(about) | _terms(asked, asked=True) | {w for w in whole if w})
    return StoreVocabulary(terms=terms, kinds=_kinds(goods_terms), pattern=_pattern(terms))


# A cached snapshot is reused for every question until the knowledge base changes: built once per snapshot.
store_vocabulary: IdentityMemo[StoreSnapshot, StoreVocabulary] = IdentityMemo(build_vocabulary)
