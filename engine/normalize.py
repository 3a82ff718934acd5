"""The normalize step: one canonical form of a shopper's message for every later step.

Full-width to half-width (NFKC), lowercase, ASCII punctuation, one space between words (none between Chinese
characters), runs of three or more identical characters collapsed, invisible characters removed, a length cap,
then the store's synonym rules.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

MAX_CHARS = 1000

# Zero-width, bidi and other invisible format characters, and control characters other than whitespace.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)
# What NFKC leaves in Chinese form, mapped to the ASCII form NFKC gives the rest (？ -> ?, ， -> ,).
_PUNCTUATION = str.maketrans(
    {
        "。": ".",
        "．": ".",
        "、": ",",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "【": "[",
        "】": "]",
        "〔": "[",
        "〕": "]",
        "〜": "~",
        "～": "~",
        "﹏": "_",
    }
)
_SPACES = re.compile(r"\s+")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACE_BETWEEN_CJK = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
# Digits (1000, 666) and ASCII letters (xxxl is a size) keep their runs; everything else collapses to one.
_RUN = re.compile(r"([^0-9a-z\s])\1{2,}")


@dataclass(frozen=True)
class Normalized:
    original: str
    text: str


def _canonical(text: str) -> str:
    text = _INVISIBLE.sub("", text[: MAX_CHARS * 4])
    text = unicodedata.normalize("NFKC", text).translate(_PUNCTUATION).lower()
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BETWEEN_CJK.sub("", text)
    text = _RUN.sub(r"\1", text)
    return text[:MAX_CHARS]


@dataclass(frozen=True)
class _SynonymRules:
    pattern: re.Pattern[str] | None
    replacements: dict[str, str]
    # The part of a replacement that completes its phrase ("啥时候发" -> "什么时候发货": "货"); not added twice.
    tails: dict[str, str]


@lru_cache(maxsize=64)
def _synonym_rules(synonyms: tuple[tuple[str, str], ...]) -> _SynonymRules:
    replacements: dict[str, str] = {}
    tails: dict[str, str] = {}
    for phrase, replacement in synonyms:
        key, value = _canonical(phrase), _canonical(replacement)
        if not key or key == value or key in replacements:
            continue
        replacements[key] = value
        anchor = value.rfind(key[-1])
        tails[key] = value[anchor + 1 :] if anchor >= 0 else ""
    if not replacements:
        return _SynonymRules(None, {}, {})
    # Longest phrase first: at each position the regex takes the first alternative that matches.
    ordered = sorted(replacements, key=lambda phrase: (-len(phrase), phrase))
    pattern = re.compile("|".join(re.escape(phrase) for phrase in ordered))
    return _SynonymRules(pattern, replacements, tails)


def _apply_synonyms(text: str, rules: _SynonymRules) -> str:
    if rules.pattern is None:
        return text
    out: list[str] = []
    pos = 0
    while match := rules.pattern.search(text, pos):
        phrase = match.group()
        out.append(text[pos : match.start()])
        out.append(rules.replacements[phrase])
        pos = match.end()
        tail = rules.tails[phrase]
        typed = 0
        while typed < len(tail) and pos + typed < len(text) and text[pos + typed] == tail[typed]:
            typed += 1
        pos += typed
    out.append(text[pos:])
    return "".join(out)


def normalize(text: str, *, synonyms: Sequence[tuple[str, str]] = ()) -> Normalized:
    """Canonical form of `text`; `synonyms` are the store's (phrase, replacement) rules, matched on
    normalized text, longest phrase first, never overlapping and never on their own output."""
    canonical = _canonical(text)
    if synonyms:
        canonical = _apply_synonyms(canonical, _synonym_rules(tuple((p, r) for p, r in synonyms)))
    return Normalized(original=text, text=canonical)


def letters_only(text: str) -> str:
    """Letters and digits only, NFKC and lower case: the same words whatever their punctuation (an echo)."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).lower() if unicodedata.category(c)[0] in "LN")


_LATIN_LETTER = re.compile(r"[a-z]", re.IGNORECASE)
_CJK_CHAR = re.compile(f"[{_CJK}]")


def is_english(text: str) -> bool:
    """Written in English (or another Latin-script language): letters, no Chinese."""
    return len(_LATIN_LETTER.findall(text)) >= 6 and not _CJK_CHAR.search(text)
