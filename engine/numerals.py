"""Numbers as shoppers and the model write them: Arabic (1,000 / 9.5) and Chinese (五十, 两百五, 一千二, 九九),
discount rates (八折, 九五折, 9.5折) and spoken heights (一米七, 1米75, 1.7米).

One parser for every step: the router (a price named in a bargain), the size advice (a height) and the guard
(amounts and discounts in the model's answer). Pure string work.
"""

import re
from decimal import Decimal, InvalidOperation

CN_DIGITS: dict[str, int] = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
    "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
CN_UNITS: dict[str, int] = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
CN_MYRIAD = "万"
# Every character a Chinese number is written with, for character classes.
CN_NUMERAL_CHARS = "".join(CN_DIGITS) + "".join(CN_UNITS) + CN_MYRIAD
# The plain digits one to nine: how a discount rate (八五折) or the tail of a height (一米七) is spoken.
CN_ONE_TO_NINE = "一二三四五六七八九"
# Characters that make a Chinese number a large one (十, 百, 千, 万): never a digit of a SKU or a size.
CN_LARGE = frozenset("十拾百佰千仟万")

ARABIC = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?"
CHINESE = f"[{CN_NUMERAL_CHARS}]+"
NUMBER = f"(?:{ARABIC}|{CHINESE})"

# A discount rate: 8折, 9.5折, 八折, 九五折, 九点五折. Not 折叠/折痕/折现/折合; a longer number is read whole
# (195折 is no 95折, and 三十折 no rate at all).
_RATE_CN = f"[{CN_ONE_TO_NINE}](?:点?[{CN_ONE_TO_NINE}])?"
DISCOUNT_RATE = re.compile(
    rf"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)\s*折(?![叠痕现合])|(?<![零〇一二两三四五六七八九十])({_RATE_CN})\s*折(?![叠痕现合])"
)
# A discount rate cut short before its 折 ("打八", "打个9.5"): the streaming guard holds it.
DISCOUNT_RATE_CUT = re.compile(rf"打个?([0-9]+(?:\.[0-9]+)?|{_RATE_CN})\s*点?$")

# 1米7 / 一米七 / 1米75 / 1.75米 / 1.7m. A second Chinese digit (一米八五) is not read: spoken that way it is
# as often 185 as a slip, and a wrong height gives a wrong size.
_METRES = re.compile(
    rf"(?:^|[^\d.])(1|一)\s*米\s*([0-9]{{1,2}}|[{CN_ONE_TO_NINE}])(?![\d{CN_ONE_TO_NINE}])"
    r"|(?<![\d.])(1\.\d{1,2})\s*(?:米|m)(?![a-z])"
)


def cn_int(text: str) -> int | None:
    """五十 -> 50, 一百零五 -> 105, 两百五 -> 250, 九九 -> 99, 三万 -> 30000; None when it is no number."""
    if not text:
        return None
    if all(ch in CN_DIGITS for ch in text):
        return int("".join(str(CN_DIGITS[ch]) for ch in text))
    total = section = last_unit = 0
    digit: int | None = None
    after_zero = False
    for ch in text:
        if ch in CN_DIGITS:
            if digit:
                return None
            digit = CN_DIGITS[ch]
            after_zero = after_zero or digit == 0
        elif ch in CN_UNITS:
            section += (1 if digit is None else digit) * CN_UNITS[ch]
            digit, last_unit, after_zero = None, CN_UNITS[ch], False
        elif ch == CN_MYRIAD:
            total += ((section + (digit or 0)) or 1) * 10000
            section, digit, last_unit, after_zero = 0, None, 10000, False
        else:
            return None
    if digit is not None:
        # colloquial shorthand: 两百五 is 250, 一千二 is 1200
        section += digit * (last_unit // 10) if last_unit >= 100 and not after_zero else digit
    return total + section


def number_value(token: str) -> Decimal | None:
    """The value of one number token, Arabic ("1,299.5") or Chinese ("一千二"); None when it is none."""
    if not token:
        return None
    if token[:1].isdigit():
        try:
            return Decimal(token.replace(",", ""))
        except InvalidOperation:
            return None
    number = cn_int(token)
    return None if number is None else Decimal(number)


def discount_multiplier(rate: str) -> Decimal | None:
    """What a price is multiplied by for a rate said before 折: 95 / 9.5 / 九五 / 九点五 -> 0.95; 8 / 八 -> 0.8."""
    digits = "".join(str(CN_DIGITS[ch]) if ch in CN_DIGITS else ("." if ch == "点" else ch) for ch in rate)
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    if "." in digits or len(digits) == 1:
        return value / 10
    return value / 100 if len(digits) == 2 else None


def metre_height_cm(text: str) -> float | None:
    """A height said in metres, in cm: 1米7 / 一米七 -> 170, 1米75 -> 175, 1.75米 -> 175; else None."""
    found = _METRES.search(text)
    if found is None:
        return None
    _one, rest, decimal = found.groups()
    if decimal:
        return float(decimal) * 100
    spoken = rest in CN_DIGITS
    tail = float(CN_DIGITS[rest] if spoken else rest)
    return 100 + tail * (10 if (spoken or len(rest) == 1) else 1)
