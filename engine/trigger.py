"""The keyword trigger step: a direct-mode FAQ entry whose keyword (or exact question) is in the message
answers verbatim, without the model."""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.knowledge import FaqFact
from engine.memo import IdentityMemo
from engine.normalize import Normalized, normalize

DIRECT = "direct"
# Characters that do not change what a question asks: "什么时候发货?" is the question "什么时候发货".
_QUESTION_EDGES = " ?!.,~;:'\"()[]…"
_LATIN_OR_DIGIT = re.compile(r"[a-z0-9]")


@dataclass(frozen=True)
class FaqHit:
    faq: FaqFact
    keyword: str  # the normalized keyword that matched, or the normalized question for an exact match


@dataclass(frozen=True)
class _Keyword:
    text: str
    # A keyword that starts or ends with a Latin letter or digit must not match inside a longer word or
    # number ("xl" in "xxl", "95折" in "195折"); Chinese keywords match anywhere.
    pattern: re.Pattern[str] | None


@dataclass(frozen=True)
class _Entry:
    faq: FaqFact
    keywords: tuple[_Keyword, ...]
    questions: frozenset[str]


def _question_key(text: str) -> str:
    return text.strip(_QUESTION_EDGES)


def _keyword(text: str) -> _Keyword:
    if _LATIN_OR_DIGIT.match(text[0]) or _LATIN_OR_DIGIT.match(text[-1]):
        left = "(?<![a-z0-9])" if _LATIN_OR_DIGIT.match(text[0]) else ""
        right = "(?![a-z0-9])" if _LATIN_OR_DIGIT.match(text[-1]) else ""
        return _Keyword(text, re.compile(left + re.escape(text) + right))
    return _Keyword(text, None)


def _build_index(faqs: Sequence[FaqFact]) -> tuple[_Entry, ...]:
    entries: list[_Entry] = []
    for faq in faqs:
        if faq.mode != DIRECT:
            continue
        keywords: dict[str, _Keyword] = {}
        for raw in faq.keywords:
            text = normalize(raw).text
            if text and text not in keywords:
                keywords[text] = _keyword(text)
        questions = frozenset(
            key for key in (_question_key(normalize(q).text) for q in (faq.question, *faq.alt_questions)) if key
        )
        entries.append(_Entry(faq=faq, keywords=tuple(keywords.values()), questions=questions))
    return tuple(entries)


_index_memo: IdentityMemo[tuple[FaqFact, ...], tuple[_Entry, ...]] = IdentityMemo(_build_index)


def _index(faqs: Sequence[FaqFact]) -> tuple[_Entry, ...]:
    if not isinstance(faqs, tuple):  # a list can change under us; build it each time
        return _build_index(faqs)
    return _index_memo(faqs)


def _matches(keyword: _Keyword, text: str) -> bool:
    if keyword.text not in text:
        return False
    return keyword.pattern is None or keyword.pattern.search(text) is not None


def keyword_trigger(text: Normalized | str, *, faqs: Sequence[FaqFact]) -> FaqHit | None:
    """The direct-mode FAQ entry to answer with verbatim, or None.

    An exact question or alternative question wins; otherwise the entry with the longest matching keyword,
    then the one with more matching keywords, then the lowest id.
    """
    message = text.text if isinstance(text, Normalized) else normalize(text).text
    if not message:
        return None
    entries = _index(faqs)
    question = _question_key(message)
    exact = [entry for entry in entries if question in entry.questions]
    if exact:
        best = min(exact, key=lambda entry: entry.faq.id)
        return FaqHit(faq=best.faq, keyword=question)

    best_rank: tuple[int, int, int] | None = None
    best_hit: FaqHit | None = None
    for entry in entries:
        matched = [keyword.text for keyword in entry.keywords if _matches(keyword, message)]
        if not matched:
            continue
        longest = max(matched, key=len)
        rank = (len(longest), len(matched), -entry.faq.id)
        if best_rank is None or rank > best_rank:
            best_rank, best_hit = rank, FaqHit(faq=entry.faq, keyword=longest)
    return best_hit
