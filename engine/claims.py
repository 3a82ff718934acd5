"""What one clause of an answer claims (a price, a discount, a gift, free shipping, compensation, a guarantee or a
blocked phrase), and whether the store's data backs it.

`StoreFacts.build()` reads once per answer what the store offers (prices, promotions, FAQ answers, the reference
snippets the model was shown); `StoreFacts.claims()` lists the claims of a clause in normalized text, each backed
or not. The streaming guard (engine/guard.py) decides what the shopper sees. Pure string work.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from engine.amounts import THRESHOLD_OFF, money_amounts, plain_numbers, thresholds
from engine.knowledge import StoreSnapshot
from engine.lexicon import (
    COMPENSATION_WORDS,
    COMPENSATION_WORDS_EN,
    COUPON_WORDS,
    COUPON_WORDS_EN,
    DISCOUNT_WORDS,
    DISCOUNT_WORDS_EN,
    EXCLUSION_WORDS,
    FIXED_DISCOUNTS,
    FREE_SHIPPING_WORDS,
    FREE_SHIPPING_WORDS_EN,
    GIFT_WORDS,
    GIFT_WORDS_EN,
    PRESENT_WORDS,
    RED_PACKET,
    REGION_GROUPS,
    REGION_OF_CITY,
    REGIONS,
    YUAN,
)
from engine.memo import IdentityMemo
from engine.numerals import (
    DISCOUNT_RATE,
    DISCOUNT_RATE_CUT,
    NUMBER,
    discount_multiplier,
    number_value,
)
from engine.prompt import PROMPT_SCAFFOLD

FLAG_BLOCKED = "blocked_phrase"
# Claims that make the store's disclaimer worth showing.
OFFER_KINDS = frozenset({"price", "discount", "gift", "free_shipping", "compensation"})
# The model's stock refusal ("抱歉，我无法协助完成这个请求。") answers nothing: a person should.
REFUSALS = (
    "无法协助完成",
    "我无法协助",
    "我不能协助",
    "can't assist with",
    "can’t assist with",
    "cannot assist with",
    "can't help with that",
    "can’t help with that",
)


# --- text helpers -------------------------------------------------------------------------------------------------


def _norm_table() -> dict[int, str]:
    table = {c: chr(c + 32) for c in range(ord("A"), ord("Z") + 1)}
    for i in range(10):
        table[0xFF10 + i] = str(i)  # full-width digits
    for i in range(26):
        table[0xFF21 + i] = chr(ord("a") + i)
        table[0xFF41 + i] = chr(ord("a") + i)
    table.update({ord("％"): "%", ord("＄"): "$", ord("￥"): "¥", ord("．"): "."})
    return table


_NORM = _norm_table()


def fold(text: str) -> str:
    """Lower-case ASCII and half-width digits/signs, one character for one, so positions stay valid."""
    return text.translate(_NORM)


# --- claim patterns (on normalized text) --------------------------------------------------------------------------

_PERCENT_OFF = re.compile(
    r"([0-9]+(?:\.[0-9]+)?)\s*(?:%|percent)\s*(?:off|discount|的?折扣|的?优惠)|(?:save|省|减)\s*([0-9]+(?:\.[0-9]+)?)\s*%"
)
_FIXED_DISCOUNT = {word: Decimal(value) for word, value in FIXED_DISCOUNTS.items()}
_GENERIC_DISCOUNT = re.compile(f"{DISCOUNT_WORDS}|{DISCOUNT_WORDS_EN}")
_CUT_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%\s*[a-z]{0,8}$")

_GIFT_GENERIC = re.compile(f"{GIFT_WORDS}|{PRESENT_WORDS}|{GIFT_WORDS_EN}")
_GIFT_GIVE = re.compile(r"(?<![配运递寄发传护输赠])(?:赠送|赠(?!送)|送)(?![达货到至回去检修人礼品])")
_GIFT_WORDS = frozenset(f"{GIFT_WORDS}|{PRESENT_WORDS}".split("|"))
_GIFT_LEAD = re.compile(
    r"^(?:\s|给您|给你|给亲|的是|您|你|亲|们|大家|是|的|一|1|两|2|个|件|份|只|条|张|款|套|双|盒|免费|精美|额外|还|小(?=礼))+"
)
_GIFT_TRAIL = re.compile(r"(?:哦|呢|啦|呀|吧|的|了|噢|喔|嘛|哈|～|~|\s)+$")
# The gift's name ends at the clause end or where the next offer starts ("满99送试饮装和满59包邮").
_GIFT_OBJECT_END = re.compile(rf"[，,。!！?？;；\n]|满|{FREE_SHIPPING_WORDS}|[0-9]+(?:\.[0-9]+)?\s*折")
_ATTACHED_THRESHOLD = re.compile(
    rf"(?:满|超过|达到)\s*(?:¥|\$)?\s*({NUMBER})\s*(?:{YUAN})?\s*(?:就|即|可|即可|就能|就可以|还|再|也|都|会)*$"
)
_GIFT_SPLIT = re.compile(r"以及|还有|外加|加上|和|及|与|、|\+")
_BOGO = re.compile(r"买\s*[一二三四五1-9]\s*(?:件|个)?\s*送\s*[一二三四五1-9]")
_FREE_ITEM = re.compile(
    r"(?<![a-z-])free (?:a |an )?(?!shipping|delivery|returns?(?![a-z])|exchanges?(?![a-z])|of(?![a-z])|to(?![a-z])"
    r"|size|membership|registration|sign|gifts?(?![a-z])|for(?![a-z])|and(?![a-z])|or(?![a-z]))([a-z][a-z-]*)"
)

_FREE_SHIPPING = re.compile(f"{FREE_SHIPPING_WORDS}|{FREE_SHIPPING_WORDS_EN}")
_REGION = re.compile(REGIONS, re.IGNORECASE)
_EXCLUSION = re.compile(EXCLUSION_WORDS, re.IGNORECASE)


def _excluded_in(texts: Iterable[str]) -> set[str]:
    excluded: set[str] = set()
    for text in texts:
        for clause in re.split(r"[。；;\n]", fold(text)):
            if _EXCLUSION.search(clause):
                excluded |= regions_in(clause)
    return excluded


def _build_excluded(store: StoreSnapshot) -> frozenset[str]:
    texts = [
        *(f.answer for f in store.faqs),
        *(p.shipping_note for p in store.products),
        *(p.description for p in store.promotions),
    ]
    return frozenset(_excluded_in(texts))


# The regions a store's own texts leave out of free shipping ("新疆、西藏及港澳台地区除外"), once per snapshot.
store_excluded_regions: IdentityMemo[StoreSnapshot, frozenset[str]] = IdentityMemo(_build_excluded)


def regions_in(text: str) -> set[str]:
    """The regions `text` names, a group (港澳台) as its members too."""
    found = {m.group(0).lower().replace(" ", "") for m in _REGION.finditer(text)}
    found |= {REGION_OF_CITY[place] for place in found if place in REGION_OF_CITY}
    for group, members in REGION_GROUPS.items():
        if group in found:
            found |= set(members)
    return found


_UNIVERSAL = re.compile(r"无门槛|全场|全店|任意|所有订单|任何|不限金额|any order|all orders|every order|no minimum")

_COMPENSATION = re.compile(
    f"{COMPENSATION_WORDS}|{RED_PACKET}|{COUPON_WORDS}|赔|{COUPON_WORDS_EN}|{COMPENSATION_WORDS_EN}"
)
_REFUND = re.compile(r"refund|退款|退还|退您|退给您|退回")

_GUARANTEE = re.compile(
    r"保证|承诺|担保|绝对|百分之百|(?<![0-9.])100\s*%(?!\s*(?:off|discount|的?折扣))|100 percent"
    r"|guarantee[ds]?|promise[sd]?"
)
_ZH_FILLERS = (
    "给您", "给你", "让您", "帮您", "您", "你", "亲", "大家", "我们", "会", "能", "可以", "一定", "是", "的", "都",
)  # fmt: skip
_EN_FILLERS = frozenset(
    ("a", "an", "the", "you", "your", "that", "it", "it's", "we", "we'll", "will", "to", "is", "be", "are", "i", "this")
)
_PHRASE_END = re.compile(r"[，,。!！?？;；\n]")

_NEG_BENIGN = re.compile(r"无门槛|无需|无须|不用|不管|无论|不论|不限|非常|不错|不仅|不只|不但|无理由")
_NEG_ZH = re.compile(r"[不没无未非别]")
_NEG_EN = re.compile(
    r"(?:(?<![a-z])no|(?<![a-z])not|n't|(?<![a-z])never|cannot|without|unable to)(?:\s+[a-z]+){0,2}\s*$"
)


def _negated(text: str, pos: int) -> bool:
    """A generic claim right after a negation ("不包邮", "没有赠品", "无法保证", "no free gift") promises nothing."""
    window = _NEG_BENIGN.sub(lambda m: "#" * len(m.group()), text[:pos])[-3:]
    return bool(_NEG_ZH.search(window) or _NEG_EN.search(text[max(0, pos - 30) : pos]))


@dataclass(frozen=True)
class Claim:
    kind: str  # price | discount | gift | free_shipping | compensation | guarantee | blocked
    backed: bool

    @property
    def flag(self) -> str:
        return FLAG_BLOCKED if self.kind == "blocked" else f"unbacked_{self.kind}"


# --- what the store backs -----------------------------------------------------------------------------------------


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _join(texts: Iterable[str]) -> str:
    return fold("\n".join(t for t in texts if t))


def _affirmed(pattern: re.Pattern[str], texts: Iterable[str]) -> set[str]:
    """The terms a store text says it offers: "本店没有优惠券" does not back a coupon."""
    found: set[str] = set()
    for text in texts:
        norm = fold(text)
        found.update(_term(m.group()) for m in pattern.finditer(norm) if not _negated(norm, m.start()))
    return found


def _term(word: str) -> str:
    return word.rstrip("s") if word.isascii() else word


@dataclass(frozen=True)
class StoreFacts:
    amounts: frozenset[Decimal]
    pairs: frozenset[tuple[Decimal, Decimal]]
    multipliers: tuple[Decimal, ...]
    has_threshold_off: bool
    has_gift: bool
    gift_texts: tuple[str, ...]
    gift_thresholds: frozenset[Decimal]
    free_shipping: bool
    shipping_thresholds: frozenset[Decimal]
    corpus: str  # all store data + reference: guarantees
    compensation_terms: frozenset[str]  # said (not denied) in FAQ answers, promotions, reference
    blocked: tuple[str, ...]
    excluded_regions: frozenset[str] = frozenset()  # left out of free shipping by the store's own texts
    asked_regions: frozenset[str] = frozenset()  # named in the shopper's question

    @classmethod
    def build(cls, store: StoreSnapshot, reference: str, *, question: str = "") -> "StoreFacts":
        # A retrieved FAQ snippet is "问：...\n答：...": the shopper's question asserts nothing.
        reference = "\n".join(line for line in reference.splitlines() if not line.lstrip().startswith(("问：", "问:")))
        faq_answers = [f.answer for f in store.faqs]
        product_texts = [
            text
            for p in store.products
            for text in (p.name, p.description, p.size_guide, p.shipping_note, *(f"{k}：{v}" for k, v in p.attributes))
        ]
        promo_texts = [text for p in store.promotions for text in (p.title, p.description, p.gift)]
        amounts: set[Decimal] = {p.price for p in store.products}
        for text in (*faq_answers, *product_texts, *promo_texts, reference):
            amounts |= plain_numbers(fold(text))
        multipliers = tuple(p.multiplier for p in store.promotions if p.kind == "multiplier" and p.multiplier)
        pairs = set()
        for p in store.promotions:
            amounts.update(v for v in (p.threshold, p.amount) if v)
            if p.kind == "threshold_off" and p.amount is not None:
                pairs.add((p.threshold, p.amount))
        amounts.update(_money(p.price * m) for p in store.products for m in multipliers)
        gifts = [p for p in store.promotions if p.kind == "gift"]
        shipping = [p for p in store.promotions if p.kind == "free_shipping"]
        shipping_thresholds = {p.threshold for p in shipping}
        shipping_texts = [*faq_answers, *(p.shipping_note for p in store.products), *(p.description for p in shipping)]
        for text in (*shipping_texts, reference):
            for clause in re.split(r"[，,。；;！!？?\n]", fold(text)):
                term = _FREE_SHIPPING.search(clause)
                if term and not _negated(clause, term.start()):
                    shipping_thresholds |= thresholds(clause)
        return cls(
            excluded_regions=frozenset(store_excluded_regions(store) | _excluded_in((reference,))),
            asked_regions=frozenset(regions_in(fold(question))),
            amounts=frozenset(amounts),
            pairs=frozenset(pairs),
            multipliers=multipliers,
            has_threshold_off=bool(pairs),
            has_gift=bool(gifts),
            gift_texts=tuple(fold(t) for p in gifts for t in (p.gift, p.title, p.description) if t),
            gift_thresholds=frozenset(p.threshold for p in gifts),
            free_shipping=bool(shipping) or bool(_affirmed(_FREE_SHIPPING, (*shipping_texts, reference))),
            shipping_thresholds=frozenset(shipping_thresholds),
            corpus=_join((*faq_answers, *product_texts, *promo_texts, reference)),
            compensation_terms=frozenset(
                _affirmed(_COMPENSATION, (*faq_answers, *promo_texts, reference))
                | _affirmed(_REFUND, (*faq_answers, *promo_texts, reference))
            ),
            blocked=tuple(
                b for b in (fold(p).strip() for p in (*store.blocked_phrases, *PROMPT_SCAFFOLD, *REFUSALS)) if b
            ),
        )

    # -- checks (text is normalized) --

    def claims(self, clause: str, *, context: str, truncated: bool) -> list[Claim]:
        found = [Claim("blocked", False) for phrase in self.blocked if phrase in clause]
        amounts = money_amounts(clause, truncated=truncated)
        for amount in amounts:
            backed = all(v in self.amounts for v in amount.values)
            if amount.kind == "discount":
                backed = backed and bool(self.multipliers or self.has_threshold_off)
            found.append(Claim(amount.kind, backed))
        for m in THRESHOLD_OFF.finditer(clause):
            pair = (number_value(m.group(1)), number_value(m.group(2)))
            found.append(Claim("discount", pair in self.pairs))
        found += self._discounts(clause, truncated=truncated)
        found += self._gifts(clause)
        found += self._free_shipping(clause, context=context)
        found += self._compensation(clause, has_amount=bool(amounts))
        found += self._guarantees(clause)
        return found

    def _multiplier(self, value: Decimal | None) -> bool:
        return value is not None and any(abs(m - value) <= Decimal("0.001") for m in self.multipliers)

    def _discounts(self, clause: str, *, truncated: bool) -> list[Claim]:
        values: list[Decimal | None] = [
            discount_multiplier(m.group(1) or m.group(2)) for m in DISCOUNT_RATE.finditer(clause)
        ]
        for m in _PERCENT_OFF.finditer(clause):
            values.append(1 - Decimal(m.group(1) or m.group(2)) / 100)
        values += [v for word, v in _FIXED_DISCOUNT.items() if word in clause]
        if truncated:
            cut = DISCOUNT_RATE_CUT.search(clause)
            if cut:  # "打八" cut short: it was going to be 八折
                values.append(discount_multiplier(cut.group(1)))
            cut = _CUT_PERCENT.search(clause)
            if cut:
                values.append(1 - Decimal(cut.group(1)) / 100)
        found = [Claim("discount", self._multiplier(v)) for v in values]
        if not values:
            for m in _GENERIC_DISCOUNT.finditer(clause):
                if not _negated(clause, m.start()):
                    found.append(Claim("discount", bool(self.multipliers)))
        for m in re.finditer("满减", clause):
            if not _negated(clause, m.start()):
                found.append(Claim("discount", self.has_threshold_off))
        return found

    def _named_gift(self, part: str) -> bool:
        """The named gift must be the store's: its name starts with at least two characters of a gift text."""
        for k in range(len(part), 0, -1):
            prefix = part[:k]
            if len(re.sub(r"[0-9.元块个件\s]", "", prefix)) >= min(2, len(part)) and any(
                prefix in g for g in self.gift_texts
            ):
                return True
        return False

    def _gift_reached(self, before: str) -> bool:
        """A gift offered from a stated order amount ("满99送") must not promise it below the store's threshold."""
        m = _ATTACHED_THRESHOLD.search(before)
        value = number_value(m.group(1)) if m else None
        return value is None or value >= min(self.gift_thresholds, default=Decimal(0))

    def _gifts(self, clause: str) -> list[Claim]:
        found: list[Claim] = []
        bogo_spans = []
        for m in _BOGO.finditer(clause):
            bogo_spans.append(m.span())
            found.append(Claim("gift", any(m.group() in g for g in self.gift_texts)))
        for m in _GIFT_GENERIC.finditer(clause):
            if not _negated(clause, m.start()):
                found.append(Claim("gift", self.has_gift and self._gift_reached(clause[: m.start()])))
        for m in _FREE_ITEM.finditer(clause):
            found.append(Claim("gift", self._named_gift(m.group(1))))
        for m in _GIFT_GIVE.finditer(clause):
            if any(start <= m.start() < end for start, end in bogo_spans) or _negated(clause, m.start()):
                continue
            rest = _GIFT_OBJECT_END.split(clause[m.end() :], maxsplit=1)[0]
            if rest.startswith("给") and not rest.startswith(("给您", "给你", "给亲")):
                continue  # 送给朋友: the shopper giving something away
            parts = [_GIFT_TRAIL.sub("", _GIFT_LEAD.sub("", p)) for p in _GIFT_SPLIT.split(_GIFT_LEAD.sub("", rest))]
            named = [p for p in parts if p and p not in _GIFT_WORDS]
            backed = self.has_gift and self._gift_reached(clause[: m.start()])
            found.append(Claim("gift", backed and all(self._named_gift(p) for p in named)))
        return found

    def _free_shipping(self, clause: str, *, context: str) -> list[Claim]:
        found: list[Claim] = []
        for m in _FREE_SHIPPING.finditer(clause):
            if _negated(clause, m.start()):
                continue
            backed = self.free_shipping
            stated = thresholds(clause) or thresholds(context)
            lowest = min(self.shipping_thresholds, default=None)
            if stated:
                backed = backed and lowest is not None and all(t >= lowest for t in stated)
            elif _UNIVERSAL.search(clause) and lowest:
                backed = False  # "全场包邮" where the store needs a minimum order
            if self.excluded_regions and not _EXCLUSION.search(clause) and not _EXCLUSION.search(context):
                # "新疆也包邮": a region the store leaves out, named in the answer or asked about.
                named = regions_in(clause) or regions_in(context) or self.asked_regions
                if named & self.excluded_regions:
                    backed = False
            found.append(Claim("free_shipping", backed))
        return found

    def _compensation(self, clause: str, *, has_amount: bool) -> list[Claim]:
        found: list[Claim] = []
        for m in _COMPENSATION.finditer(clause):
            if not _negated(clause, m.start()):
                found.append(Claim("compensation", _term(m.group()) in self.compensation_terms))
        if has_amount:  # "退您20元", "refund you 20 yuan"
            for m in _REFUND.finditer(clause):
                if not _negated(clause, m.start()):
                    found.append(Claim("compensation", _term(m.group()) in self.compensation_terms))
        return found

    def _guarantees(self, clause: str) -> list[Claim]:
        found: list[Claim] = []
        for m in _GUARANTEE.finditer(clause):
            if _negated(clause, m.start()):
                continue
            phrase = _guaranteed_phrase(_PHRASE_END.split(clause[m.end() :], maxsplit=1)[0])
            rest = re.sub(r"[\s，,。.!！?？;；:：~～]", "", clause[: m.start()] + clause[m.end() :])
            backed = (len(phrase) >= 2 and (phrase in self.corpus or m.group() + phrase in self.corpus)) or (
                len(rest) >= 2 and rest in self.corpus
            )
            found.append(Claim("guarantee", backed))
        return found


def _guaranteed_phrase(rest: str) -> str:
    """The few characters (or words) after 保证/guarantee that say what is promised."""
    rest = rest.strip()
    if rest[:1].isascii() and rest[:1].isalpha():
        words = re.findall(r"[a-z0-9%'-]+", rest)
        while words and words[0] in _EN_FILLERS:
            words.pop(0)
        return " ".join(words[:3])
    stripped = True
    while stripped:
        stripped = False
        for filler in _ZH_FILLERS:
            if rest.startswith(filler):
                rest, stripped = rest[len(filler) :], True
    return _GIFT_TRAIL.sub("", rest)[:4]
