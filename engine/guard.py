"""The guard step: no unbacked price, discount, gift, free-shipping, compensation or guarantee claim reaches the
shopper's screen, not even for a moment.

Text streams through as the model writes it until the current clause shows a claim marker (a digit or Chinese
numeral, a currency sign, 折, 送, 包邮, 红包, 保证, ...). From the marker on, the clause is held until it ends, then
checked against the store snapshot and the reference snippets the model was shown (engine/claims.py): a backed
clause is shown unchanged; an unbacked one is replaced by a safe sentence and the rest of its sentence is dropped. A
tail that may be the start of a marker or of a blocked phrase ("包" before "邮", "fr" before "ee") is held until the
next character decides, so no claim ever shows up half-written. Pure string work: no Django, no model.
"""

import re
from dataclasses import dataclass, field

from engine.claims import OFFER_KINDS, Claim, StoreFacts, fold
from engine.knowledge import StoreSnapshot
from engine.lexicon import (
    COMPENSATION_WORDS,
    COUPON_WORDS,
    DISCOUNT_WORDS,
    FIXED_DISCOUNTS,
    FREE_SHIPPING_WORDS,
    GIFT_WORDS,
    PRESENT_WORDS,
    RED_PACKET,
    SHIPPING_FEE_WORDS,
    plain_words,
)
from engine.normalize import letters_only
from engine.numerals import CN_NUMERAL_CHARS

SAFE_SENTENCE_ZH = "具体价格和优惠以店铺页面和客服确认为准。"
SAFE_SENTENCE_EN = "Prices and offers are as shown on the shop page; a colleague can confirm."
# A blocked phrase is not about prices, so it gets a neutral sentence instead.
BLOCKED_SENTENCE_ZH = "这个问题可以咨询人工客服。"
BLOCKED_SENTENCE_EN = "A colleague can help you with that."
# A shorter question is not watched for an echo: its words may as well start a real answer.
MIN_ECHO_CHARS = 5

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


# --- markers: what makes a clause worth holding -------------------------------------------------------------------

# Any of these characters, or a claim word without one of them at its start; a tail that may become a word is held
# too. A word starts where its claim starts: "代金券" is a word, though 券 is a marker character, so that "代金" is
# not shown before the claim is checked.
_MARKER_CLASS = f"[0-9{CN_NUMERAL_CHARS}元块¥$%折减满价送赠礼券赔]"
_MARKER_TERMS = (
    *plain_words(
        DISCOUNT_WORDS, "|".join(FIXED_DISCOUNTS), COUPON_WORDS, COMPENSATION_WORDS, RED_PACKET,
        FREE_SHIPPING_WORDS, SHIPPING_FEE_WORDS, GIFT_WORDS, PRESENT_WORDS,
    ),
    "优惠", "便宜", "立减", "免费", "保证", "承诺", "担保", "绝对",
    "rmb", "cny", "usd", "yuan", "dollar", "bucks", "price", "off", "discount", "sale",
    "gift", "free", "complimentary", "shipping", "postage",
    "coupon", "voucher", "refund", "compensat", "cashback", "cash back", "guarantee", "promise",
)  # fmt: skip


# --- the streaming guard ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardResult:
    text: str
    flags: list[str] = field(default_factory=list)
    replaced: int = 0


class StreamGuard:
    """Feed model deltas in, show what `feed()` returns; call `finish()` at the end (also when the stream is cut)."""

    def __init__(self, store: StoreSnapshot, *, reference: str = "", question: str = "") -> None:
        self._facts = StoreFacts.build(store, reference, question=question)
        # The small model often starts by repeating the question: held until it is clear, then dropped.
        echo = letters_only(question)
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
        self._raw = ""  # the model's recent output, to see a repetition loop
        self.appended = ""  # what finish() added after the answer (the store's disclaimer)
        self._label_checked = False
        self._looping = False

    @property
    def looping(self) -> bool:
        """The model went into a repetition loop: nothing more is shown, and generation should stop."""
        return self._looping

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
        if not delta or self._looping:
            return ""
        self._raw = (self._raw + delta)[-REPEAT_WINDOW:]
        if _LOOP.search(self._raw):
            # A small model can repeat one phrase (often the question) until the length limit: stop at once.
            self._looping = True
            self._add_flag("repetition")
            self._buf = ""
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
            self.appended = "\n" + self._disclaimer
            text += self.appended
        return text

    # -- internals --

    def _drain(self, *, final: bool) -> str:
        out: list[str] = []
        if not self._label_checked:
            # "答：亲，…" - the small model sometimes labels its answer like the reference's Q/A pairs.
            head = self._buf.lstrip().lower()
            if not final and any(label.startswith(head) and label != head for label in _LABELS):
                return ""  # may still become a label
            self._buf = _LABEL.sub("", self._buf, count=1)
            self._label_checked = True
        if self._echo:
            cut = _echo_cut(self._buf, self._echo, final=final)
            if cut is None:
                return ""
            if cut:
                self._buf = self._buf[cut:]
                self._add_flag("echo")
            self._echo = ""
        while self._buf:
            norm = fold(self._buf)
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
        start = self._marker_start(fold(piece))
        if start < 0:
            return self._emit(piece, ending=ending)
        # What precedes the marker is shown, as it would have been while streaming, whatever the chunking.
        before, held = piece[:start], piece[start:]
        self._clause += before
        full = fold(self._clause + held)
        context = fold(self._sentence) + full
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
        dropped, self._dropped = fold(self._dropped), ""
        for claim in self._facts.claims(dropped, context=dropped, truncated=False) if dropped.strip() else ():
            if not claim.backed:
                self._add_flag(claim.flag)

    def _add_flag(self, flag: str) -> None:
        if flag not in self._flags:
            self._flags.append(flag)

    def _replace(self, bad: list[Claim], *, ending: str, english: bool) -> str:
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


REPEAT_WINDOW = 240
_LABEL_WORDS = ("答", "回答", "客服", "助手", "assistant", "answer", "a")
_LABEL = re.compile(rf"^\s*(?:{'|'.join(_LABEL_WORDS)})\s*[:：]\s*", re.IGNORECASE)
_LABELS = tuple(word + colon for word in _LABEL_WORDS for colon in (":", "："))
# The same piece three more times in a row at the end of the output (a phrase of 2-80 characters; a piece of
# eight or more once more is enough: no answer says the same sentence twice running).
_LOOP = re.compile(r"(?s)(?:(.{2,80}?)\1{3,}|(.{8,80}?)\2)$")


def _echo_cut(buf: str, echo: str, *, final: bool) -> int | None:
    """Where the answer's copy of the question ends in `buf` (0: the answer is no copy); None: wait and see.

    A copy is the whole question followed by punctuation: "速干T恤偏小吗？不偏小" loses its copy, while
    "冰感速干运动T恤目前缺货" (the question's words starting a sentence) is kept whole.
    """
    matched = 0
    separated = False
    for i, ch in enumerate(buf):
        c = letters_only(ch)
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
