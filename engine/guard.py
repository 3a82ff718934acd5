"""The guard step: no unbacked price, discount, gift, free-shipping, compensation or guarantee claim reaches the
shopper's screen, not even for a moment.

Text streams through as the model writes it until the current clause shows a claim marker (a digit or Chinese
numeral, a currency sign, 折, 送, 包邮, 红包, 保证, ...). From the marker on, the clause is held until it ends, then
checked against the store snapshot (and the reference snippets the model was shown): a backed clause is shown
unchanged; an unbacked one is replaced by a safe sentence and the rest of its sentence is dropped. A tail that may be
the start of a marker or of a blocked phrase ("包" before "邮", "fr" before "ee") is held until the next character
decides, so no claim ever shows up half-written. Pure string work: no Django, no model.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from engine.knowledge import StoreSnapshot
from engine.prompt import PROMPT_SCAFFOLD

SAFE_SENTENCE_ZH = "具体价格和优惠以店铺页面和客服确认为准。"
SAFE_SENTENCE_EN = "Prices and offers are as shown on the shop page; a colleague can confirm."
# A blocked phrase is not about prices, so it gets a neutral sentence instead.
BLOCKED_SENTENCE_ZH = "这个问题可以咨询人工客服。"
BLOCKED_SENTENCE_EN = "A colleague can help you with that."

FLAG_BLOCKED = "blocked_phrase"
# Claims that make the store's disclaimer worth showing.
OFFER_KINDS = frozenset({"price", "discount", "gift", "free_shipping", "compensation"})


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


def _norm(text: str) -> str:
    """Lower-case ASCII and half-width digits/signs, one character for one, so positions stay valid."""
    return text.translate(_NORM)


_SENTENCE_ENDS = frozenset("。！？!?；;\n")
_CLAUSE_ENDS = _SENTENCE_ENDS | {"，"}
_SOFT_ENDS = frozenset(",.")  # end a clause only when the next character is not a digit ("1,000", "9.5折")
_OPEN_ENDS = frozenset("，,、：:（(“\"'《—-…~～ ")


def _find_end(text: str, hard: frozenset[str], *, final: bool) -> int:
    """Index of the first clause/sentence end in `text`, or -1 (also when the last character is still ambiguous)."""
    for i, ch in enumerate(text):
        if ch in hard:
            return i
        if ch in _SOFT_ENDS and (ch == "." or hard is _CLAUSE_ENDS):
            if i + 1 < len(text):
                if not text[i + 1].isdigit():
                    return i
            elif final:
                return i
            else:
                return -1
    return -1


def _mostly_english(text: str) -> bool:
    """An English word is several letters long and a Chinese one one or two characters: weigh them so."""
    letters = sum(1 for ch in text if "a" <= ch <= "z" or "A" <= ch <= "Z")
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return letters > 2 * cjk


# --- numbers ------------------------------------------------------------------------------------------------------

_CN_DIGIT = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
    "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_CN_UNIT = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_CHARS = "".join(_CN_DIGIT) + "".join(_CN_UNIT) + "万"
_AR = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?"
_CN = f"[{_CN_CHARS}]+"
_NUM = f"(?:{_AR}|{_CN})"
_NUM_TOKEN = re.compile(rf"(?P<a>{_AR}|{_CN})(?:\s*(?:-|~|～|至|到)\s*(?P<b>{_AR}|{_CN}))?")


def _cn_int(text: str) -> int | None:
    """五十 -> 50, 一百零五 -> 105, 两百五 -> 250, 九九 -> 99."""
    if all(ch in _CN_DIGIT for ch in text):
        return int("".join(str(_CN_DIGIT[ch]) for ch in text))
    total = section = last_unit = 0
    digit: int | None = None
    after_zero = False
    for ch in text:
        if ch in _CN_DIGIT:
            if digit:
                return None
            digit = _CN_DIGIT[ch]
            after_zero = after_zero or digit == 0
        elif ch in _CN_UNIT:
            section += (1 if digit is None else digit) * _CN_UNIT[ch]
            digit, last_unit, after_zero = None, _CN_UNIT[ch], False
        else:  # 万
            total += ((section + (digit or 0)) or 1) * 10000
            section, digit, last_unit, after_zero = 0, None, 10000, False
    if digit is not None:
        # colloquial shorthand: 两百五 is 250, 一千二 is 1200
        section += digit * (last_unit // 10) if last_unit >= 100 and not after_zero else digit
    return total + section


def _value(token: str) -> Decimal | None:
    if not token:
        return None
    if token[:1].isdigit():
        try:
            return Decimal(token.replace(",", ""))
        except InvalidOperation:
            return None
    number = _cn_int(token)
    return None if number is None else Decimal(number)


_CURRENCY_AFTER = re.compile(r"\s*(?:元|块(?!儿)|圆|rmb(?![a-z])|cny(?![a-z])|yuan(?![a-z])|dollars?(?![a-z])|bucks)")
_CURRENCY_BEFORE = re.compile(r"(?:¥|\$|rmb|cny|usd)\s*$")
_NON_MONEY_UNIT = re.compile(
    r"\s*(?:%|折|cm|mm|kg|ml|g(?![a-z])|克|斤|公斤|千克|厘米|毫米|米|寸|码|件|个|只|条|双|套|份|张|次|人|位|岁|天|日|号"
    r"|月|年|周|星期|小时|分钟|分|秒|点|:|℃|°|度|倍|层|款|种|色|楼|泡|枚|袋|盒|罐|片|x(?![a-z])"
    r"|days?(?![a-z])|hours?(?![a-z])|hrs?(?![a-z])|minutes?(?![a-z])|mins?(?![a-z])|weeks?(?![a-z])"
    r"|months?(?![a-z])|years?(?![a-z])|pieces?(?![a-z])|pcs(?![a-z])|items?(?![a-z])|units?(?![a-z])|left(?![a-z])"
    r"|in stock|sizes?(?![a-z])|colou?rs?(?![a-z])|times?(?![a-z])|percent|st(?![a-z])|nd(?![a-z])|rd(?![a-z])"
    r"|th(?![a-z])|am(?![a-z])|pm(?![a-z]))"
)
_CUE_BEFORE = re.compile(
    r"(?P<cue>到手价|券后价|价格|售价|原价|现价|特价|价|满|立减|减|便宜了?|省|返现|返|只要|仅需|仅|低至"
    r"|price is|price of|priced at|costs?|refund of|refund)[\s:：是为]{0,2}$"
)
_CUE_KIND = {"立减": "discount", "减": "discount", "便宜": "discount", "便宜了": "discount", "省": "discount"}
_CUE_KIND.update(dict.fromkeys(("返现", "返", "refund of", "refund"), "compensation"))
_OFF_AFTER = re.compile(r"\s*off(?![a-z])")
_CN_BIG = frozenset("十拾百佰千仟万")
_JIAO = re.compile(r"([0-9]|[一二三四五六七八九])(?![0-9零一二两三四五六七八九十百千万个件条只双])")


@dataclass(frozen=True)
class _Amount:
    values: tuple[Decimal, ...]
    kind: str  # price | discount | compensation


def _amounts(text: str, *, truncated: bool = False) -> list[_Amount]:
    """Money amounts: a number with a currency word, or right after 价/满/减/..., or before "off"."""
    found: list[_Amount] = []
    for m in _NUM_TOKEN.finditer(text):
        a, b = m.group("a"), m.group("b")
        before, after = text[max(0, m.start() - 10) : m.start()], text[m.end() : m.end() + 12]
        values = [v for v in (_value(a), _value(b) if b else None) if v is not None]
        if not values:
            continue
        cue = _CUE_BEFORE.search(before)
        kind = _CUE_KIND.get(cue.group("cue"), "price") if cue else "price"
        currency = _CURRENCY_AFTER.match(after)
        if currency:
            jiao = _JIAO.match(after, currency.end()) if currency.group().strip() == "块" else None
            if jiao:  # 九块九 is 9.9
                values[-1] += (_value(jiao.group(1)) or Decimal(0)) / 10
        elif _CURRENCY_BEFORE.search(before):
            pass
        elif re.search(r"[a-z:]-?$", before) or _NON_MONEY_UNIT.match(after):
            continue  # a SKU, a time of day, a size, a count, a percentage
        elif _OFF_AFTER.match(after):
            kind = "discount"
        elif cue and (a[:1].isdigit() or _CN_BIG.intersection(a)):
            pass
        elif truncated and not text[m.end() :].strip():
            pass  # cut short right after a number: it may have been the start of a price
        else:
            continue
        found.append(_Amount(tuple(values), kind))
    return found


def _plain_numbers(text: str) -> set[Decimal]:
    """Every amount a store text could back: money amounts plus bare numbers that are not sizes, times or counts."""
    numbers = {v for amount in _amounts(text) for v in amount.values}
    for m in _NUM_TOKEN.finditer(text):
        if not m.group("a")[:1].isdigit():
            continue
        before, after = text[max(0, m.start() - 10) : m.start()], text[m.end() : m.end() + 12]
        if re.search(r"[a-z:]-?$", before) or (_NON_MONEY_UNIT.match(after) and not _CURRENCY_AFTER.match(after)):
            continue
        numbers.update(v for v in (_value(m.group("a")), _value(m.group("b") or "")) if v is not None)
    return numbers


_PAIR = re.compile(rf"满\s*({_NUM})\s*(?:元|块)?\s*(?:立|再|可|就)?减\s*({_NUM})")
_THRESHOLD = re.compile(
    rf"(?:满足|满|超过|达到|over|above|at least|orders? of|spend(?:ing)?)\s*(?:¥|\$)?\s*(?P<a>{_NUM})"
    rf"|(?P<b>{_NUM})\s*(?:元|块|yuan|rmb)?\s*(?:以上|起)"
)


def _thresholds(text: str) -> set[Decimal]:
    found: set[Decimal] = set()
    for m in _THRESHOLD.finditer(text):
        value = _value(m.group("a") or m.group("b"))
        if value is not None:
            found.add(value)
    return found


def _discount_value(token: str) -> Decimal | None:
    """95 / 9.5 / 九五 / 九点五 (折) -> 0.95; 8 / 八 -> 0.8."""
    digits = "".join(str(_CN_DIGIT[ch]) if ch in _CN_DIGIT else ("." if ch == "点" else ch) for ch in token)
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    if "." in digits or len(digits) == 1:
        return value / 10
    return value / 100 if len(digits) == 2 else None


# --- claim patterns (on normalized text) --------------------------------------------------------------------------

_NOT_DISCOUNT_AFTER = "(?![叠痕现合])"
_ZHE = re.compile(
    rf"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)\s*折{_NOT_DISCOUNT_AFTER}"
    rf"|(?<![零〇一二两三四五六七八九十])([一二三四五六七八九](?:点?[一二三四五六七八九])?)\s*折{_NOT_DISCOUNT_AFTER}"
)
_PERCENT_OFF = re.compile(
    r"([0-9]+(?:\.[0-9]+)?)\s*(?:%|percent)\s*(?:off|discount|的?折扣|的?优惠)|(?:save|省|减)\s*([0-9]+(?:\.[0-9]+)?)\s*%"
)
_FIXED_DISCOUNT = {"半价": Decimal("0.5"), "免单": Decimal("0")}
_GENERIC_DISCOUNT = re.compile(r"打折|打个折|折扣|discount|on sale|特价|降价")
_CUT_DISCOUNT = re.compile(r"打个?([0-9]+(?:\.[0-9]+)?|[一二三四五六七八九](?:点?[一二三四五六七八九])?)\s*点?$")
_CUT_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%\s*[a-z]{0,8}$")

_GIFT_GENERIC = re.compile(r"赠品|礼品|小礼物|礼物|好礼|(?:free )?gifts?(?![a-z])|complimentary")
_GIFT_GIVE = re.compile(r"(?<![配运递寄发传护输赠])(?:赠送|赠(?!送)|送)(?![达货到至回去检修人礼品])")
_GIFT_WORDS = frozenset({"礼物", "赠品", "礼品", "小礼物", "好礼", "礼包", "小礼品"})
_GIFT_LEAD = re.compile(
    r"^(?:\s|给您|给你|给亲|的是|您|你|亲|们|大家|是|的|一|1|两|2|个|件|份|只|条|张|款|套|双|盒|免费|精美|额外|还|小(?=礼))+"
)
_GIFT_TRAIL = re.compile(r"(?:哦|呢|啦|呀|吧|的|了|噢|喔|嘛|哈|～|~|\s)+$")
# The gift's name ends at the clause end or where the next offer starts ("满99送试饮装和满59包邮").
_GIFT_OBJECT_END = re.compile(r"[，,。!！?？;；\n]|满|包邮|免运费|[0-9]+(?:\.[0-9]+)?\s*折")
_ATTACHED_THRESHOLD = re.compile(
    rf"(?:满|超过|达到)\s*(?:¥|\$)?\s*({_NUM})\s*(?:元|块)?\s*(?:就|即|可|即可|就能|就可以|还|再|也|都|会)*$"
)
_GIFT_SPLIT = re.compile(r"以及|还有|外加|加上|和|及|与|、|\+")
_BOGO = re.compile(r"买\s*[一二三四五1-9]\s*(?:件|个)?\s*送\s*[一二三四五1-9]")
_FREE_ITEM = re.compile(
    r"(?<![a-z-])free (?:a |an )?(?!shipping|delivery|returns?(?![a-z])|exchanges?(?![a-z])|of(?![a-z])|to(?![a-z])"
    r"|size|membership|registration|sign|gifts?(?![a-z])|for(?![a-z])|and(?![a-z])|or(?![a-z]))([a-z][a-z-]*)"
)

_FREE_SHIPPING = re.compile(
    r"包邮|免运费|免邮费?|运费全免|免费配送|免费送货|免费发货|free shipping|free delivery|ships? (?:for )?free"
    r"|shipping is free|no shipping (?:fee|cost|charge)s?"
)
_UNIVERSAL = re.compile(r"无门槛|全场|全店|任意|所有订单|任何|不限金额|any order|all orders|every order|no minimum")

_COMPENSATION = re.compile(
    r"赔偿|赔付|赔钱|补偿|补差价|补差|返现|返利|红包|优惠券|代金券|抵用券|现金券|满减券|无门槛券|券|折现|赔"
    r"|coupons?|vouchers?|compensat[a-z]*|cash ?back|store credit"
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


# --- markers: what makes a clause worth holding -------------------------------------------------------------------

_MARKER_CLASS = f"[0-9{_CN_CHARS}元块¥$%折减满价送赠礼券赔]"
_MARKER_TERMS = (
    "rmb", "cny", "usd", "yuan", "dollar", "bucks", "price", "off", "discount", "sale",
    "打折", "折扣", "优惠", "便宜", "特价", "半价", "降价", "立减", "免单",
    "免费", "gift", "free", "complimentary",
    "免运费", "免邮", "包邮", "运费", "shipping", "postage",
    "补偿", "返现", "红包", "代金券", "抵用券", "现金券",
    "coupon", "voucher", "refund", "compensat", "cashback", "cash back",
    "保证", "承诺", "担保", "绝对", "guarantee", "promise",
)  # fmt: skip


@dataclass(frozen=True)
class _Claim:
    kind: str  # price | discount | gift | free_shipping | compensation | guarantee | blocked
    backed: bool

    @property
    def flag(self) -> str:
        return FLAG_BLOCKED if self.kind == "blocked" else f"unbacked_{self.kind}"


# --- what the store backs -----------------------------------------------------------------------------------------


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _join(texts: Iterable[str]) -> str:
    return _norm("\n".join(t for t in texts if t))


def _affirmed(pattern: re.Pattern[str], texts: Iterable[str]) -> set[str]:
    """The terms a store text says it offers: "本店没有优惠券" does not back a coupon."""
    found: set[str] = set()
    for text in texts:
        norm = _norm(text)
        found.update(_term(m.group()) for m in pattern.finditer(norm) if not _negated(norm, m.start()))
    return found


def _term(word: str) -> str:
    return word.rstrip("s") if word.isascii() else word


@dataclass(frozen=True)
class _Facts:
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

    @classmethod
    def build(cls, store: StoreSnapshot, reference: str) -> "_Facts":
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
            amounts |= _plain_numbers(_norm(text))
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
            for clause in re.split(r"[，,。；;！!？?\n]", _norm(text)):
                term = _FREE_SHIPPING.search(clause)
                if term and not _negated(clause, term.start()):
                    shipping_thresholds |= _thresholds(clause)
        return cls(
            amounts=frozenset(amounts),
            pairs=frozenset(pairs),
            multipliers=multipliers,
            has_threshold_off=bool(pairs),
            has_gift=bool(gifts),
            gift_texts=tuple(_norm(t) for p in gifts for t in (p.gift, p.title, p.description) if t),
            gift_thresholds=frozenset(p.threshold for p in gifts),
            free_shipping=bool(shipping) or bool(_affirmed(_FREE_SHIPPING, (*shipping_texts, reference))),
            shipping_thresholds=frozenset(shipping_thresholds),
            corpus=_join((*faq_answers, *product_texts, *promo_texts, reference)),
            compensation_terms=frozenset(
                _affirmed(_COMPENSATION, (*faq_answers, *promo_texts, reference))
                | _affirmed(_REFUND, (*faq_answers, *promo_texts, reference))
            ),
            blocked=tuple(
                b for b in (_norm(p).strip() for p in (*store.blocked_phrases, *PROMPT_SCAFFOLD, *REFUSALS)) if b
            ),
        )

    # -- checks (text is normalized) --

    def claims(self, clause: str, *, context: str, truncated: bool) -> list[_Claim]:
        found = [_Claim("blocked", False) for phrase in self.blocked if phrase in clause]
        amounts = _amounts(clause, truncated=truncated)
        for amount in amounts:
            backed = all(v in self.amounts for v in amount.values)
            if amount.kind == "discount":
                backed = backed and bool(self.multipliers or self.has_threshold_off)
            found.append(_Claim(amount.kind, backed))
        for m in _PAIR.finditer(clause):
            pair = (_value(m.group(1)), _value(m.group(2)))
            found.append(_Claim("discount", pair in self.pairs))
        found += self._discounts(clause, truncated=truncated)
        found += self._gifts(clause)
        found += self._free_shipping(clause, context=context)
        found += self._compensation(clause, has_amount=bool(amounts))
        found += self._guarantees(clause)
        return found

    def _multiplier(self, value: Decimal | None) -> bool:
        return value is not None and any(abs(m - value) <= Decimal("0.001") for m in self.multipliers)

    def _discounts(self, clause: str, *, truncated: bool) -> list[_Claim]:
        values: list[Decimal | None] = [_discount_value(m.group(1) or m.group(2)) for m in _ZHE.finditer(clause)]
        for m in _PERCENT_OFF.finditer(clause):
            values.append(1 - Decimal(m.group(1) or m.group(2)) / 100)
        values += [v for word, v in _FIXED_DISCOUNT.items() if word in clause]
        if truncated:
            cut = _CUT_DISCOUNT.search(clause)
            if cut:  # "打八" cut short: it was going to be 八折
                values.append(_discount_value(cut.group(1)))
            cut = _CUT_PERCENT.search(clause)
            if cut:
                values.append(1 - Decimal(cut.group(1)) / 100)
        found = [_Claim("discount", self._multiplier(v)) for v in values]
        if not values:
            for m in _GENERIC_DISCOUNT.finditer(clause):
                if not _negated(clause, m.start()):
                    found.append(_Claim("discount", bool(self.multipliers)))
        for m in re.finditer("满减", clause):
            if not _negated(clause, m.start()):
                found.append(_Claim("discount", self.has_threshold_off))
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
        value = _value(m.group(1)) if m else None
        return value is None or value >= min(self.gift_thresholds, default=Decimal(0))

    def _gifts(self, clause: str) -> list[_Claim]:
        found: list[_Claim] = []
        bogo_spans = []
        for m in _BOGO.finditer(clause):
            bogo_spans.append(m.span())
            found.append(_Claim("gift", any(m.group() in g for g in self.gift_texts)))
        for m in _GIFT_GENERIC.finditer(clause):
            if not _negated(clause, m.start()):
                found.append(_Claim("gift", self.has_gift and self._gift_reached(clause[: m.start()])))
        for m in _FREE_ITEM.finditer(clause):
            found.append(_Claim("gift", self._named_gift(m.group(1))))
        for m in _GIFT_GIVE.finditer(clause):
            if any(start <= m.start() < end for start, end in bogo_spans) or _negated(clause, m.start()):
                continue
            rest = _GIFT_OBJECT_END.split(clause[m.end() :], maxsplit=1)[0]
            if rest.startswith("给") and not rest.startswith(("给您", "给你", "给亲")):
                continue  # 送给朋友: the shopper giving something away
            parts = [_GIFT_TRAIL.sub("", _GIFT_LEAD.sub("", p)) for p in _GIFT_SPLIT.split(_GIFT_LEAD.sub("", rest))]
            named = [p for p in parts if p and p not in _GIFT_WORDS]
            backed = self.has_gift and self._gift_reached(clause[: m.start()])
            found.append(_Claim("gift", backed and all(self._named_gift(p) for p in named)))
        return found

    def _free_shipping(self, clause: str, *, context: str) -> list[_Claim]:
        found: list[_Claim] = []
        for m in _FREE_SHIPPING.finditer(clause):
            if _negated(clause, m.start()):
                continue
            backed = self.free_shipping
            stated = _thresholds(clause) or _thresholds(context)
            lowest = min(self.shipping_thresholds, default=None)
            if stated:
                backed = backed and lowest is not None and all(t >= lowest for t in stated)
            elif _UNIVERSAL.search(clause) and lowest:
                backed = False  # "全场包邮" where the store needs a minimum order
            found.append(_Claim("free_shipping", backed))
        return found

    def _compensation(self, clause: str, *, has_amount: bool) -> list[_Claim]:
        found: list[_Claim] = []
        for m in _COMPENSATION.finditer(clause):
            if not _negated(clause, m.start()):
                found.append(_Claim("compensation", _term(m.group()) in self.compensation_terms))
        if has_amount:  # "退您20元", "refund you 20 yuan"
            for m in _REFUND.finditer(clause):
                if not _negated(clause, m.start()):
                    found.append(_Claim("compensation", _term(m.group()) in self.compensation_terms))
        return found

    def _guarantees(self, clause: str) -> list[_Claim]:
        found: list[_Claim] = []
        for m in _GUARANTEE.finditer(clause):
            if _negated(clause, m.start()):
                continue
            phrase = _guaranteed_phrase(_PHRASE_END.split(clause[m.end() :], maxsplit=1)[0])
            rest = re.sub(r"[\s，,。.!！?？;；:：~～]", "", clause[: m.start()] + clause[m.end() :])
            backed = (len(phrase) >= 2 and (phrase in self.corpus or m.group() + phrase in self.corpus)) or (
                len(rest) >= 2 and rest in self.corpus
            )
            found.append(_Claim("guarantee", backed))
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


# --- the streaming guard ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardResult:
    text: str
    flags: list[str] = field(default_factory=list)
    replaced: int = 0


class StreamGuard:
    """Feed model deltas in, show what `feed()` returns; call `finish()` at the end (also when the stream is cut)."""

    def __init__(self, store: StoreSnapshot, *, reference: str = "", question: str = "") -> None:
        self._facts = _Facts.build(store, reference)
        # The small model often starts by repeating the question: held until it is clear, then dropped.
        echo = _canon(question)
        asks = question.rstrip(" .。!！~～").endswith(("吗", "呢", "么", "嘛", "?", "？"))
        self._echo = echo if asks and len(echo) >= MIN_ECHO_CHARS else ""
        self._english = _mostly_english(question)
        self._disclaimer = store.disclaimer.strip()
        terms = sorted({*_MARKER_TERMS, *self._facts.blocked}, key=len, reverse=True)
        self._markers = re.compile("|".join([_MARKER_CLASS, *(re.escape(t) for t in terms)]))
        self._prefixes = frozenset(t[:k] for t in terms for k in range(1, len(t)))
        self._longest_prefix = max(len(t) for t in terms) - 1
        self._buf = ""  # received, not yet shown or dropped
        self._sentence = ""  # shown part of the current sentence before the current clause
        self._clause = ""  # shown part of the current clause
        self._dropping = False  # the rest of a replaced sentence is being dropped
        self._dropped = ""
        self._said: set[str] = set()
        self._flags: list[str] = []
        self._replaced = 0
        self._offers = False
        self._finished = False
        self._shown = 0  # characters handed out so far

    @property
    def flags(self) -> list[str]:
        return list(self._flags)

    @property
    def replaced(self) -> int:
        return self._replaced

    def feed(self, delta: str) -> str:
        """The text that is safe to show now (possibly "")."""
        if self._finished:
            raise RuntimeError("StreamGuard.feed() after finish()")
        if not delta:
            return ""
        self._buf += delta
        out = self._drain(final=False)
        self._shown += len(out)
        return out

    def finish(self) -> str:
        """Flush what is held: an unfinished clause is checked as it is. Adds the disclaimer after offers."""
        if self._finished:
            return ""
        text = self._drain(final=True)
        self._flag_dropped()
        self._finished = True
        if not self._shown and not text.strip() and "echo" in self._flags:
            # The model only repeated the question: no answer, so a person should give one.
            self._replaced += 1
            text = BLOCKED_SENTENCE_EN if self._english else BLOCKED_SENTENCE_ZH
        if self._disclaimer and self._offers:
            text += "\n" + self._disclaimer
        return text

    # -- internals --

    def _drain(self, *, final: bool) -> str:
        out: list[str] = []
        if self._echo:
            cut = _echo_cut(self._buf, self._echo, final=final)
            if cut is None:
                return ""
            if cut:
                self._buf = self._buf[cut:]
                self._add_flag("echo")
            self._echo = ""
        while self._buf:
            norm = _norm(self._buf)
            if self._dropping:
                end = _find_end(norm, _SENTENCE_ENDS, final=final)
                if end < 0:
                    keep = 0 if final or not norm.endswith(".") else 1
                    self._dropped += self._buf[: len(self._buf) - keep]
                    self._buf = self._buf[len(self._buf) - keep :]
                    break
                self._dropped += self._buf[:end]
                self._flag_dropped()
                if norm[end] == "\n":
                    out.append("\n")
                self._buf, self._dropping = self._buf[end + 1 :], False
                continue
            end = _find_end(norm, _CLAUSE_ENDS, final=final)
            if end < 0 and not final:
                hold = self._hold_start(norm)
                out.append(self._buf[:hold])
                self._clause += self._buf[:hold]
                self._buf = self._buf[hold:]
                break
            cut = end + 1 if end >= 0 else len(self._buf)
            piece, self._buf = self._buf[:cut], self._buf[cut:]
            out.append(self._close_clause(piece, ending=norm[end] if end >= 0 else ""))
        return "".join(out)

    def _marker_start(self, norm: str) -> int:
        m = self._markers.search(norm)
        if m is None:
            return -1
        start = m.start()
        if start > 0 and norm[start - 1] == "打":  # keep "打八折" in one piece
            start -= 1
        return start

    def _hold_start(self, norm: str) -> int:
        """Where the unfinished clause stops being safe to show: a marker, or a tail that may become one."""
        n = len(norm)
        hold = n - 1 if norm[-1:] in _SOFT_ENDS else n
        start = self._marker_start(norm)
        if start >= 0:
            hold = min(hold, start)
        for k in range(min(self._longest_prefix, n), 0, -1):
            if norm[n - k :] in self._prefixes:
                hold = min(hold, n - k)
                break
        return hold

    def _close_clause(self, piece: str, *, ending: str) -> str:
        """Check a finished clause (or the unfinished last one) and return what to show for it."""
        start = self._marker_start(_norm(piece))
        if start < 0:
            return self._emit(piece, ending=ending)
        # What precedes the marker is shown, as it would have been while streaming, whatever the chunking.
        before, held = piece[:start], piece[start:]
        self._clause += before
        full = _norm(self._clause + held)
        context = _norm(self._sentence) + full
        claims = self._facts.claims(full, context=context, truncated=not ending)
        self._offers = self._offers or any(c.kind in OFFER_KINDS for c in claims)
        bad = [c for c in claims if not c.backed]
        if bad:
            return before + self._replace(bad, ending=ending, english=_mostly_english(context))
        return before + self._emit(held, ending=ending)

    def _emit(self, piece: str, *, ending: str) -> str:
        self._clause += piece
        if ending in _CLAUSE_ENDS - _SENTENCE_ENDS or ending == ",":
            self._sentence, self._clause = self._sentence + self._clause, ""
        else:  # a sentence end, or the end of the answer
            self._sentence = self._clause = ""
        return piece

    def _flag_dropped(self) -> None:
        """The dropped rest of a replaced sentence is never shown, but its unbacked claims are still recorded."""
        dropped, self._dropped = _norm(self._dropped), ""
        for claim in self._facts.claims(dropped, context=dropped, truncated=False) if dropped.strip() else ():
            if not claim.backed:
                self._add_flag(claim.flag)

    def _add_flag(self, flag: str) -> None:
        if flag not in self._flags:
            self._flags.append(flag)

    def _replace(self, bad: list[_Claim], *, ending: str, english: bool) -> str:
        for claim in bad:
            self._add_flag(claim.flag)
        self._replaced += 1
        if all(c.kind == "blocked" for c in bad):
            sentence = BLOCKED_SENTENCE_EN if english else BLOCKED_SENTENCE_ZH
        else:
            sentence = SAFE_SENTENCE_EN if english else SAFE_SENTENCE_ZH
        parts = []
        visible = (self._sentence + self._clause).rstrip()
        say = sentence not in self._said
        if visible and visible[-1] not in _OPEN_ENDS:  # the clause began on screen: mark the cut
            parts.append(("... " if say else "...") if english else "……")
        if say:
            self._said.add(sentence)
            parts.append(sentence)
        if ending == "\n":
            parts.append("\n")
        self._sentence = self._clause = ""
        self._dropping = bool(ending) and ending not in _SENTENCE_ENDS and ending != "."
        return "".join(parts)


MIN_ECHO_CHARS = 5
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


def _canon(text: str) -> str:
    """Letters and digits only, NFKC and lower case: how an echo is recognised whatever its punctuation."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).lower() if unicodedata.category(c)[0] in "LN")


def _echo_cut(buf: str, echo: str, *, final: bool) -> int | None:
    """Where the answer's copy of the question ends in `buf` (0: the answer is no copy); None: wait and see.

    A copy is the whole question followed by punctuation: "速干T恤偏小吗？不偏小" loses its copy, while
    "冰感速干运动T恤目前缺货" (the question's words starting a sentence) is kept whole.
    """
    matched = 0
    separated = False
    for i, ch in enumerate(buf):
        c = _canon(ch)
        if not c:
            separated = matched == len(echo)
            continue  # punctuation and spaces, in the copy or just after it
        if matched == len(echo):
            return i if separated else 0
        for part in c:
            if matched == len(echo) or part != echo[matched]:
                return 0
            matched += 1
    if final:
        return len(buf) if matched == len(echo) else 0
    return None


def guard_text(store: StoreSnapshot, text: str, *, reference: str = "") -> GuardResult:
    """The guard for a whole text at once (FAQ answers, templates, recorded answers)."""
    guard = StreamGuard(store, reference=reference)
    shown = guard.feed(text) + guard.finish()
    return GuardResult(text=shown, flags=guard.flags, replaced=guard.replaced)
