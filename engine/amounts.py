"""Money amounts in text: which numbers are prices, discounts, refunds or order thresholds, and which are sizes,
times, counts or SKUs. Numbers themselves are read by engine/numerals.py. Text is folded (engine/claims.fold).
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from engine.lexicon import CURRENCY_AFTER_EN, CURRENCY_BEFORE, LENGTH_UNITS, WEIGHT_UNITS, YUAN
from engine.numerals import ARABIC, CHINESE, CN_LARGE, CN_NUMERAL_CHARS, CN_ONE_TO_NINE, NUMBER, number_value

# A number, or a range of two ("100-200", "三到五").
_NUM_TOKEN = re.compile(rf"(?P<a>{ARABIC}|{CHINESE})(?:\s*(?:-|~|～|至|到)\s*(?P<b>{ARABIC}|{CHINESE}))?")

_CURRENCY_AFTER = re.compile(rf"\s*(?:{YUAN}|{CURRENCY_AFTER_EN})")
_CURRENCY_BEFORE = re.compile(rf"(?:{CURRENCY_BEFORE})\s*$")
_NON_MONEY_UNIT = re.compile(
    rf"\s*(?:%|折|{LENGTH_UNITS}|{WEIGHT_UNITS}|mm|ml|g(?![a-z])|克|毫米|米|寸|码|件|个|只|条|双|套|份|张|次|人|位|岁|天|日|号"
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
_JIAO = re.compile(rf"([0-9]|[{CN_ONE_TO_NINE}])(?![0-9{CN_NUMERAL_CHARS}个件条只双])")


@dataclass(frozen=True)
class Amount:
    values: tuple[Decimal, ...]
    kind: str  # price | discount | compensation


def money_amounts(text: str, *, truncated: bool = False) -> list[Amount]:
    """Money amounts: a number with a currency word, or right after 价/满/减/..., or before "off"."""
    found: list[Amount] = []
    for m in _NUM_TOKEN.finditer(text):
        a, b = m.group("a"), m.group("b")
        before, after = text[max(0, m.start() - 10) : m.start()], text[m.end() : m.end() + 12]
        values = [v for v in (number_value(a), number_value(b) if b else None) if v is not None]
        if not values:
            continue
        cue = _CUE_BEFORE.search(before)
        kind = _CUE_KIND.get(cue.group("cue"), "price") if cue else "price"
        currency = _CURRENCY_AFTER.match(after)
        if currency:
            jiao = _JIAO.match(after, currency.end()) if currency.group().strip() == "块" else None
            if jiao:  # 九块九 is 9.9
                values[-1] += (number_value(jiao.group(1)) or Decimal(0)) / 10
        elif _CURRENCY_BEFORE.search(before):
            pass
        elif re.search(r"[a-z:]-?$", before) or _NON_MONEY_UNIT.match(after):
            continue  # a SKU, a time of day, a size, a count, a percentage
        elif _OFF_AFTER.match(after):
            kind = "discount"
        elif cue and (a[:1].isdigit() or CN_LARGE.intersection(a)):
            pass
        elif truncated and not text[m.end() :].strip():
            pass  # cut short right after a number: it may have been the start of a price
        else:
            continue
        found.append(Amount(tuple(values), kind))
    return found


def plain_numbers(text: str) -> set[Decimal]:
    """Every amount a store text could back: money amounts plus bare numbers that are not sizes, times or counts."""
    numbers = {v for amount in money_amounts(text) for v in amount.values}
    for m in _NUM_TOKEN.finditer(text):
        if not m.group("a")[:1].isdigit():
            continue
        before, after = text[max(0, m.start() - 10) : m.start()], text[m.end() : m.end() + 12]
        if re.search(r"[a-z:]-?$", before) or (_NON_MONEY_UNIT.match(after) and not _CURRENCY_AFTER.match(after)):
            continue
        numbers.update(v for v in (number_value(m.group("a")), number_value(m.group("b") or "")) if v is not None)
    return numbers


# 满300减50: a threshold and the amount taken off.
THRESHOLD_OFF = re.compile(rf"满\s*({NUMBER})\s*(?:{YUAN})?\s*(?:立|再|可|就)?减\s*({NUMBER})")
_THRESHOLD = re.compile(
    rf"(?:满足|满|超过|达到|over|above|at least|orders? of|spend(?:ing)?)\s*(?:¥|\$)?\s*(?P<a>{NUMBER})"
    rf"|(?P<b>{NUMBER})\s*(?:{YUAN}|yuan|rmb)?\s*(?:以上|起)"
)


def thresholds(text: str) -> set[Decimal]:
    found: set[Decimal] = set()
    for m in _THRESHOLD.finditer(text):
        value = number_value(m.group("a") or m.group("b"))
        if value is not None:
            found.add(value)
    return found


def money(value: Decimal) -> str:
    """An amount the way a shop writes it: 99, 99.5, 0.95 (no trailing zeros)."""
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:.2f}".rstrip("0")


def discount_rate(multiplier: Decimal) -> str | None:
    """A price multiplier as Chinese shops write it: 0.8 -> "8折", 0.95 -> "95折"; None outside (0, 1)."""
    if not Decimal(0) < multiplier < Decimal(1):
        return None
    tenths = multiplier * 10
    return f"{money(tenths if tenths == tenths.to_integral_value() else multiplier * 100)}折"
