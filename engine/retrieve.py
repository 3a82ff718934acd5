"""The retrieve step: BM25 over one store's FAQ entries, products and promotions, jieba-segmented.

An index is built from one `StoreSnapshot` and holds nothing else, so a store can only ever retrieve
its own knowledge. `index_for()` keeps a few indexes in a small LRU keyed by (store id, version); a
knowledge-base edit changes the snapshot version and the next question gets a fresh index.

Score scale, the number `StoreSnapshot.relevance_threshold` (default 1.0) is compared with:

    score(q, d) = SCORE_SCALE * BM25(q, d) / sum(idf(t) for each distinct token t of q)

where a query token the store never mentions counts at the highest idf. The score is the share of
the question's information that the document covers, weighted by BM25's term saturation; it does
not grow with the length of the question nor with the size of the store. 0: no token in common;
`SCORE_SCALE` (2.5): the document holds every token of the question once, at the average length of
its kind; at most `SCORE_SCALE * (K1 + 1)` = 6.25, every token repeated in an FAQ question or a
product name. Measured on the demo store (kb/demo), 86 shop questions and 28 others: the entry that
answers a shop question scores 1.1 to 5.6, chatty ones included ("亲，我昨天下单的那件衣服…什么
时候发货呀" 1.9); questions about things the store never mentions score 0 ("你们卖手机吗") to 0.83
("今天天气怎么样", which shares 今天 with "今天下单今天发吗?"). Hence the default 1.0; a store
can go down to about 0.9 for fewer misses or up to about 1.1 for fewer stray hits.
"""

import heapq
import logging
import math
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from engine import segment
from engine.amounts import discount_rate, money
from engine.knowledge import FaqFact, ProductFact, PromotionFact, StoreSnapshot

logger = logging.getLogger(__name__)

K1 = 1.5
B = 0.75
SCORE_SCALE = 2.5
TITLE_REPEAT = 3  # FAQ question and alternative questions, product name, promotion title
KEYWORD_REPEAT = 2  # FAQ keywords, product SKU
# Added to every idf: a word most of this store's entries share (发货 in a clothes shop) still
# counts against a word the store never uses, so "几号发货" finds the shipping entry.
IDF_SHIFT = 0.5
INDEX_CACHE_SIZE = 32

# Particles, pronouns, fillers and bare question words: the noun next to them carries the meaning
# ("什么快递" -> 快递). Words a shopper means something by (有货, 多少, 时候, 几天) are not here.
STOP_WORDS = frozenset(
    (  # noqa: SIM905 - a word list reads best as words
        "的 了 吗 呢 啊 吧 呀 哦 嘛 么 哈 啦 呗 喔 噢 嗯 哟 咯 "
        "我 你 您 他 她 它 我们 你们 咱们 是 有 在 和 与 也 都 就 还 又 "
        "亲 请问 请 问 一下 想 这 那 这个 那个 有没有 个 件 款 一件 这件 那件 这款 那款 买 "
        "什么 怎么 怎样 怎么样 如何 哪些 哪个 谁 可以 能 会 要"
    ).split()
)

_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_NON_WORD = re.compile(r"[\W_]+")
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)([a-z]+)")
# A question asked as "A not A" (能不能, 是不是, 有没有, 退不退, 包不包邮) means "A?": the 不A/没A half is how it is
# asked, not a negation. Left in, jieba's full mode finds 不能 / 不是 in it, which match every "不能…" an FAQ
# answer says ("能不能先发货" scored the pregnancy entry's "不能提供医疗建议" highest). So A不A reads as A (包不包邮:
# 包邮), and as a break where A alone is a stop word (有没有无糖的: 无糖, not 有无).
_A_NOT_A = re.compile(r"([\u4e00-\u9fff])[不没]\1")

SnippetKind = Literal["faq", "product", "promotion"]


@dataclass(frozen=True)
class Snippet:
    """One retrieved piece of store knowledge. `text` is reference data for the prompt, never instructions."""

    kind: SnippetKind
    id: int
    title: str
    text: str
    score: float


@dataclass(frozen=True)
class KbDocument:
    kind: SnippetKind
    id: int
    title: str
    text: str
    # A product's words that say what it is (name, SKU, the labels of its fields): never discounted as
    # repeated details (`build_index`).
    identity: frozenset[str] = frozenset()


@dataclass(frozen=True)
class KbIndex:
    """An inverted index over one store snapshot.

    `postings` maps a token to (document positions, BM25 weight of the token in each of them, idf
    included), so a question touches only the documents that share a token with it.
    """

    store_id: int
    version: str
    docs: tuple[KbDocument, ...]
    postings: dict[str, tuple[tuple[int, ...], tuple[float, ...]]]
    idf: dict[str, float]
    unknown_idf: float


# --- tokenisation -------------------------------------------------------------------------------


def _as_asked(text: str) -> str:
    """`text` with each A不A read as A (a break where A alone is a stop word), where A starts a word: the 能
    of 功能不能用 ends 功能, and 不能 there is a negation."""
    if _A_NOT_A.search(text) is None:
        return text
    starts, at = set(), 0
    for word in segment.cut(text):
        starts.add(at)
        at += len(word)

    def read(match: re.Match[str]) -> str:
        asked = match.group(1)
        if match.start() not in starts:
            return match.group(0)
        return " " if asked in STOP_WORDS else asked

    return _A_NOT_A.sub(read, text)


def tokenize(text: str) -> list[str]:
    """Lower-cased words without punctuation or stop words; a number with a unit also gives the number.

    jieba's search mode picks one segmentation by context, so the same phrase can split differently
    in a question and in the knowledge base ("有货吗" -> 有货, but "有货" alone -> 有 / 货). The
    dictionary words of full mode are added to it: they do not depend on context. Han character
    bigrams were tried for the same purpose and dropped: next to full-mode words they found nothing
    more on the demo store, blurred the threshold and doubled the postings. "55kg" yields "55kg" and
    "55", so "体重55" matches a size guide.
    """
    # NFKC folds full-width letters, digits and punctuation; jieba's dictionary spells "T恤" with a
    # capital, so Latin is upper-cased for segmentation and lower-cased afterwards.
    cleaned = _as_asked(unicodedata.normalize("NFKC", _HTML_TAG.sub(" ", text)).upper())
    words = segment.cut_for_search(cleaned)
    seen = set(words)
    words += [word for word in segment.cut(cleaned, cut_all=True) if word not in seen]
    tokens: list[str] = []
    for raw in words:
        word = _NON_WORD.sub("", raw).lower()
        if not word or word in STOP_WORDS:
            continue
        tokens.append(word)
        unit = _NUMBER_UNIT.fullmatch(word)
        if unit:
            tokens.append(unit.group(1))
    return tokens


# --- documents ----------------------------------------------------------------------------------


def _discount(multiplier: Decimal) -> str:
    """0.95 -> "95折（按原价的95%计算）": the shop's way of writing it, and what it means."""
    rate = discount_rate(multiplier)
    if rate is not None:
        return f"{rate}（按原价的{money(multiplier * 100)}%计算）"
    return f"按原价的{money(multiplier)}倍计算"


def _weighted(text: str, repeat: int) -> list[str]:
    """A title-like field: each distinct token `repeat` times. Counting distinct tokens keeps a phrase
    that says a word twice ("今天下单今天发吗") from outweighing the rest of its entry."""
    return list(dict.fromkeys(tokenize(text))) * repeat


def faq_text(faq: FaqFact) -> str:
    """An FAQ entry as reference text: its question, then its answer."""
    return f"问：{faq.question.strip()}\n答：{faq.answer.strip()}"


def _faq_document(faq: FaqFact) -> tuple[KbDocument, list[str]]:
    text = faq_text(faq)
    tokens = _weighted(faq.question, TITLE_REPEAT)
    for alt in faq.alt_questions:
        tokens += _weighted(alt, TITLE_REPEAT)
    for keyword in faq.keywords:
        tokens += _weighted(keyword, KEYWORD_REPEAT)
    tokens += tokenize(faq.answer)
    return KbDocument("faq", faq.id, faq.question.strip(), text), tokens


def _product_document(product: ProductFact) -> tuple[KbDocument, list[str]]:
    stock = f"有货（{product.stock}件）" if product.stock > 0 else "缺货（0件）"
    lines = [
        f"商品：{product.name}",
        f"货号：{product.sku}",
        f"价格：{money(product.price)}元",
        f"库存：{stock}",
    ]
    if product.description:
        lines.append(f"介绍：{product.description}")
    if product.attributes:
        lines.append("属性：" + "；".join(f"{name}：{value}" for name, value in product.attributes))
    if product.size_guide:
        lines.append(f"尺码表：{product.size_guide}")
    if product.shipping_note:
        lines.append(f"发货：{product.shipping_note}")
    text = "\n".join(lines)
    tokens = _weighted(product.name, TITLE_REPEAT) + _weighted(product.sku, KEYWORD_REPEAT) + tokenize(text)
    labels = " ".join([*(line.split("：", 1)[0] for line in lines), *(name for name, _ in product.attributes)])
    identity = frozenset(tokenize(f"{product.name} {product.sku} {labels}"))
    return KbDocument("product", product.id, product.name, text, identity), tokens


def _promotion_offer(promotion: PromotionFact) -> str:
    if promotion.kind == "threshold_off" and promotion.amount is not None:
        return f"满{money(promotion.threshold)}元减{money(promotion.amount)}元"
    if promotion.kind == "multiplier" and promotion.multiplier is not None:
        return _discount(promotion.multiplier)
    if promotion.kind == "gift" and promotion.gift:
        return f"赠送{promotion.gift}"
    if promotion.kind == "free_shipping":
        return f"满{money(promotion.threshold)}元包邮" if promotion.threshold > 0 else "包邮"
    return promotion.description or promotion.title


def _promotion_document(promotion: PromotionFact) -> tuple[KbDocument, list[str]]:
    threshold = f"订单实付满{money(promotion.threshold)}元" if promotion.threshold > 0 else "无门槛"
    lines = [
        f"活动：{promotion.title}",
        f"优惠：{_promotion_offer(promotion)}",
        f"门槛：{threshold}",
        f"适用：{'仅限店铺会员' if promotion.member_only else '所有顾客'}",
    ]
    if promotion.description:
        lines.append(f"说明：{promotion.description}")
    text = "\n".join(lines)
    tokens = _weighted(promotion.title, TITLE_REPEAT) + tokenize(text)
    return KbDocument("promotion", promotion.id, promotion.title, text), tokens


def _documents(store: StoreSnapshot) -> Iterator[tuple[KbDocument, list[str]]]:
    for faq in store.faqs:
        yield _faq_document(faq)
    for product in store.products:
        yield _product_document(product)
    for promotion in store.promotions:
        yield _promotion_document(promotion)


# --- index and query ----------------------------------------------------------------------------


def _idf(n_docs: int, df: int) -> float:
    # The "+1" (Lucene) form: never negative, so a token in most documents adds little, not minus.
    return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)) + IDF_SHIFT


def build_index(store: StoreSnapshot) -> KbIndex:
    """Index every FAQ entry, product and promotion of `store`, and nothing else."""
    docs: list[KbDocument] = []
    term_freqs: list[dict[str, int]] = []
    lengths: list[int] = []
    for doc, tokens in _documents(store):
        tf: dict[str, int] = {}
        for token in tokens:
            tf[token] = tf.get(token, 0) + 1
        docs.append(doc)
        term_freqs.append(tf)
        lengths.append(len(tokens))

    # Length is normalised within a kind: a product with a size guide is naturally longer than an
    # FAQ answer and should not lose to a short FAQ that merely mentions the same word.
    kind_lengths: dict[str, list[int]] = {}
    for doc, length in zip(docs, lengths, strict=True):
        kind_lengths.setdefault(doc.kind, []).append(length)
    average = {kind: max(sum(values) / len(values), 1.0) for kind, values in kind_lengths.items()}

    collected: dict[str, tuple[list[int], list[float]]] = {}
    for position, (doc, tf, length) in enumerate(zip(docs, term_freqs, lengths, strict=True)):
        norm = K1 * (1.0 - B + B * length / average[doc.kind])
        for token, count in tf.items():
            ids, weights = collected.setdefault(token, ([], []))
            ids.append(position)
            weights.append(count * (K1 + 1.0) / (count + norm))

    n_docs = len(docs)
    products = [position for position, doc in enumerate(docs) if doc.kind == "product"]
    unique_idf = _idf(len(products), 1)
    postings: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {}
    idf: dict[str, float] = {}
    for token, (ids, weights) in collected.items():
        token_idf = idf[token] = _idf(n_docs, len(ids))
        in_products = sum(1 for position in ids if docs[position].kind == "product")
        # A product is found by its name and by what sets it apart from the store's other products: a
        # word every row's details repeat (the shipping note "付款后24小时内发货", a shared shelf life) says
        # nothing about which product a question is about, and the FAQ entry on that policy answers it better.
        apart = _idf(len(products), in_products) / unique_idf if in_products > 1 else 1.0
        postings[token] = (
            tuple(ids),
            tuple(
                weight
                * token_idf
                * (apart if docs[position].kind == "product" and token not in docs[position].identity else 1.0)
                for position, weight in zip(ids, weights, strict=True)
            ),
        )
    return KbIndex(
        store_id=store.store_id,
        version=store.version,
        docs=tuple(docs),
        postings=postings,
        idf=idf,
        unknown_idf=_idf(n_docs, 0),
    )


def retrieve(index: KbIndex, query: str, *, threshold: float, top_k: int) -> list[Snippet]:
    """The `top_k` documents scoring at least `threshold`, best first (scale: module docstring)."""
    tokens = set(tokenize(query))
    if top_k <= 0 or not tokens or not index.docs:
        return []
    information = 0.0
    scores = [0.0] * len(index.docs)
    touched: set[int] = set()
    for token in tokens:
        token_idf = index.idf.get(token)
        if token_idf is None:
            information += index.unknown_idf
            continue
        information += token_idf
        ids, weights = index.postings[token]
        touched.update(ids)
        for position, weight in zip(ids, weights, strict=True):
            scores[position] += weight
    if not touched:
        return []
    factor = SCORE_SCALE / information
    floor = threshold / factor
    candidates = [position for position in touched if scores[position] >= floor]
    # Ties go to the earlier document: FAQ before product before promotion, each in store order.
    best = heapq.nsmallest(top_k, candidates, key=lambda position: (-scores[position], position))
    return [_snippet(index.docs[position], scores[position] * factor) for position in best]


def product_document(index: KbIndex, product_id: int) -> Snippet | None:
    """A product's whole document as a snippet (score 0: not retrieved, added because it is in focus)."""
    doc = next((d for d in index.docs if d.kind == "product" and d.id == product_id), None)
    return _snippet(doc, 0.0) if doc is not None else None


def _snippet(doc: KbDocument, score: float) -> Snippet:
    return Snippet(kind=doc.kind, id=doc.id, title=doc.title, text=doc.text, score=round(score, 4))


# --- per-store cache ----------------------------------------------------------------------------

_cache: OrderedDict[tuple[int, str], KbIndex] = OrderedDict()
_cache_lock = threading.Lock()


def index_for(store: StoreSnapshot) -> KbIndex:
    """The index of this snapshot, cached by (store id, version); a new version replaces the old one.

    A snapshot without a version (built by hand) cannot be told apart from an edited one, so it is
    indexed afresh on every call.
    """
    if not store.version:
        return build_index(store)
    key = (store.store_id, store.version)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    index = build_index(store)  # outside the lock: other stores keep answering meanwhile
    with _cache_lock:
        for stale in [k for k in _cache if k[0] == store.store_id and k != key]:
            del _cache[stale]
        index = _cache.setdefault(key, index)
        _cache.move_to_end(key)
        while len(_cache) > INDEX_CACHE_SIZE:
            _cache.popitem(last=False)
    logger.debug("retrieval index built for store %s version %s", store.store_id, store.version)
    return index


def clear_index_cache() -> None:
    with _cache_lock:
        _cache.clear()
