"""Size advice for a height and weight ("身高170体重60kg穿什么码"), from the ranges of one product's own size guide.

Only when the product is known (named, in view, or just talked about) and its guide gives ranges the shopper's
figures fall in; a value outside every range, or a guide without ranges, is left to the rest of the pipeline.
"""

import re

from engine.decision import Decision
from engine.focus import Resolved
from engine.knowledge import StoreSnapshot
from engine.lexicon import ATTRIBUTE_ASKS, GARMENT_MEASURES, LENGTH_UNITS, LETTER_SIZES, SIZE_QUESTION, WEIGHT_UNITS
from engine.numerals import metre_height_cm
from engine.product_answers import MEASURE_QUESTION, PRICE_QUESTION, SIZE_NAME, STOCK_QUESTION

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
    "|".join(p.pattern for p in (STOCK_QUESTION, PRICE_QUESTION, MEASURE_QUESTION, SIZE_NAME))
    + "|"
    + "|".join(ATTRIBUTE_ASKS[group] for group in ATTRIBUTE_ASKS if "面料" in group.split("|"))
    + "|模特|缩水|洗",
    re.IGNORECASE,
)


def size_guide_ranges(guide: str) -> list[tuple[str, dict[str, tuple[float, float]]]]:
    """[("S", {"身高": (155, 165), "体重": (45, 55)}), ...] from a guide that gives them, in its order."""
    marks = list(_GUIDE_SIZE.finditer(guide))
    if not marks:
        return []  # no size table (a tea, a guide in words only)
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


def size_advice_answer(*, store: StoreSnapshot, question: str, resolved: Resolved) -> Decision | None:
    """ "身高183体重80kg穿什么码": the size whose recommended height and weight ranges (from the product's own
    size guide) hold the shopper's; a value outside every range, or a guide without ranges, is left alone."""
    if not SIZE_ADVICE_QUESTION.search(question) or _ASKS_SOMETHING_ELSE.search(question):
        return None
    given = {"身高": _height_cm(question), "体重": _weight_kg(question)}
    if given["身高"] is None and given["体重"] is None:
        return None
    product = resolved.one
    if product is None or resolved.shared_words == 1:
        return None  # one shared word ("宽松") is too little to advise a size for
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
