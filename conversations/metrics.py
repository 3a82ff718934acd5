"""The figures a shop runs on, defined once: pure functions over rows of the conversation log.

Every figure is attributed to one moment, so a period's figures are the sum of its days' and a summary
always agrees with its time series:

- a conversation counts on the day it ended (its close event), with the one outcome it ended in;
- a question on the day the shopper asked it; a rating on the day it was given; an answer (first token,
  thumbs, guardrail, busy) on the day it was given; a handoff's first human response and handling time
  on the day of the handoff and of the claim.

Each bucket keeps the ids of what it counts (conversations or messages), so every figure can be
audited down to the message. Conversations in which the shopper never wrote are no episode and count
nowhere. Nothing here reads `updated_at`: times are the messages' and the append-only events'.
"""

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from engine.stats import percentile

# Sources of the bot's own answers; `handoff` and `guardrail` replies hand the shopper to a person.
BOT_ANSWER_SOURCES = frozenset({"faq", "llm", "template"})
# A bot message with one of these flags said it could not answer (the line was busy, the engine failed,
# the model had nothing usable): no answer, whatever its source.
NOT_AN_ANSWER_FLAGS = frozenset({"busy", "engine_error", "unsure", "echo"})
BUSY_FLAG = "busy"
# Messages the shop sent on its own (cart reminders): no reply to anything the shopper asked.
UNPROMPTED_FLAGS = frozenset({"reminder"})
CONFIRMING_CSAT = 4  # a rating of 4 or 5 confirms the bot resolved it
IDLE_CLOSE_AFTER = timedelta(hours=24)  # a conversation nobody wrote in this long is over (the sweep)
REOPEN_WITHIN = timedelta(days=7)  # the shopper came back this soon after it ended: reopened
INTERCEPTION_TARGET = Decimal("0.70")

BOT_RESOLVED = "bot_resolved"
HANDED_OFF = "handed_off"
ABANDONED = "abandoned"
# The outcome buckets, in the order reports show them; they partition the ended conversations.
OUTCOME_BUCKETS = (
    "bot_resolved_confirmed",
    "bot_resolved_assumed",
    "handed_off",
    "abandoned_before_answer",
    "abandoned_waiting",
)
# Handoff reasons as reported: the ticket's reasons, and "bot_busy" for a shopper who asked for a person
# right after the bot said the line was busy.
HANDOFF_REASONS = ("shopper_asked", "bot_unsure", "complaint", "guardrail", "bot_busy")


@dataclass(frozen=True)
class MessageRow:
    id: int
    conversation_id: int
    role: str  # customer | bot | agent | system
    at: datetime
    source: str = ""
    flags: tuple[str, ...] = ()
    partial: bool = False
    ttft_ms: int | None = None
    feedback: str = ""  # up | down | ""
    feedback_comment: str = ""
    faq_ids: tuple[int, ...] = ()  # the FAQ entries the answer used
    text: str = ""  # only where a reader needs it (the FAQ gaps)


@dataclass(frozen=True)
class EventRow:
    conversation_id: int
    kind: str  # handoff | claim | hand_back | close
    at: datetime
    reason: str = ""
    outcome: str = ""
    detail: str = ""


@dataclass(frozen=True)
class ConversationRow:
    id: int
    csat: int | None = None
    csat_at: datetime | None = None
    came_back_at: datetime | None = None  # the same shopper's next conversation with a question started then


@dataclass(frozen=True)
class Ending:
    outcome: str  # bot_resolved | handed_off | abandoned
    detail: str  # abandoned: before_answer | waiting; else ""


def dialogue(messages: Iterable[MessageRow]) -> list[MessageRow]:
    """The messages of the chat itself, oldest first: what the shop sent on its own is left out."""
    return _sorted(m for m in messages if not UNPROMPTED_FLAGS.intersection(m.flags))


def is_bot_answer(message: MessageRow) -> bool:
    """A bot message that answered: from an FAQ entry, the model or a template, and not a refusal."""
    return (
        message.role == "bot"
        and message.source in BOT_ANSWER_SOURCES
        and not message.partial
        and not NOT_AN_ANSWER_FLAGS.intersection(message.flags)
    )


def episode_ending(*, messages: Iterable[MessageRow], events: Iterable[EventRow], contact_left: bool) -> Ending:
    """The one outcome a conversation ends in, whoever ends it (shopper, agent, the sweep).

    Handed off: a person claimed it, or the shopper left a contact for one (the shop calls back); any
    handoff wins, whatever happened after it. Abandoned while waiting: a person was asked for and the
    shopper left before one came. Bot resolved: the bot answered and the shopper left. Abandoned before
    any answer: everything else.
    """
    kinds = {e.kind for e in events}
    if "claim" in kinds or contact_left:
        return Ending(HANDED_OFF, "")
    if "handoff" in kinds:
        return Ending(ABANDONED, "waiting")
    if any(is_bot_answer(m) for m in dialogue(messages)):
        return Ending(BOT_RESOLVED, "")
    return Ending(ABANDONED, "before_answer")


def resolution_confirmed(*, messages: Iterable[MessageRow], conversation: ConversationRow) -> bool:
    """The shopper said the bot helped: a thumbs up on one of its answers, or a rating of 4 or 5."""
    if conversation.csat is not None and conversation.csat >= CONFIRMING_CSAT:
        return True
    return any(m.role == "bot" and m.feedback == "up" for m in messages)


def _sorted(rows: Iterable[Any]) -> list[Any]:
    return sorted(rows, key=lambda r: (r.at, getattr(r, "id", 0)))


def questions_intercepted(*, messages: Sequence[MessageRow], events: Sequence[EventRow]) -> dict[int, bool]:
    """For each shopper question of one conversation, whether the bot answered it without a handoff.

    Intercepted: the first reply after the question (before the next question) is a bot answer
    (`is_bot_answer`), no person had been asked for at the time (no handoff since the last hand-back),
    and no handoff followed before the next question.
    """
    ordered = dialogue(messages)
    handoffs = _sorted(e for e in events if e.kind in ("handoff", "hand_back"))
    result: dict[int, bool] = {}
    for index, question in enumerate(ordered):
        if question.role != "customer":
            continue
        upto = next((j for j in range(index + 1, len(ordered)) if ordered[j].role == "customer"), len(ordered))
        following = ordered[upto].at if upto < len(ordered) else None
        reply = next((m for m in ordered[index + 1 : upto] if m.role in ("bot", "agent")), None)
        before = [e for e in handoffs if e.at < question.at]
        waiting = bool(before) and before[-1].kind == "handoff"
        handed_off = any(
            e.kind == "handoff" and e.at >= question.at and (following is None or e.at < following) for e in handoffs
        )
        result[question.id] = reply is not None and is_bot_answer(reply) and not waiting and not handed_off
    return result


def handoff_reason(*, event: EventRow, messages: Sequence[MessageRow]) -> str:
    """The reported reason of a handoff: "bot_busy" when the shopper asked right after a busy refusal."""
    if event.reason == "shopper_asked":
        # The handoff's own reply ("正在为您转接…") is not what the shopper reacted to.
        earlier = [m for m in _sorted(messages) if m.role == "bot" and m.source != "handoff" and m.at <= event.at]
        if earlier and BUSY_FLAG in earlier[-1].flags:
            return "bot_busy"
    return event.reason if event.reason in HANDOFF_REASONS else "shopper_asked"


@dataclass
class DayFigures:
    """One period's (usually one day's) figures as the ids they count; sums of days are a period."""

    outcomes: dict[str, list[int]] = field(default_factory=lambda: {b: [] for b in OUTCOME_BUCKETS})
    reopened: list[int] = field(default_factory=list)  # conversation ids
    handoffs: dict[str, list[int]] = field(default_factory=lambda: {r: [] for r in HANDOFF_REASONS})
    questions: list[int] = field(default_factory=list)  # message ids
    intercepted: list[int] = field(default_factory=list)  # message ids
    csat: dict[str, list[int]] = field(default_factory=lambda: {str(s): [] for s in range(1, 6)})
    thumbs_up: list[int] = field(default_factory=list)  # message ids
    thumbs_down: list[int] = field(default_factory=list)
    comments: list[list[Any]] = field(default_factory=list)  # [message id, conversation id, up|down, comment]
    first_token_ms: dict[str, list[list[int]]] = field(default_factory=dict)  # source: [[message id, ms]]
    first_response_s: list[list[float]] = field(default_factory=list)  # [[conversation id, seconds]]
    handling_s: list[list[float]] = field(default_factory=list)
    guardrail_trips: list[int] = field(default_factory=list)  # message ids
    busy_refusals: list[int] = field(default_factory=list)
    faq_answers: dict[str, list[int]] = field(default_factory=dict)  # FAQ entry id: answer message ids

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DayFigures":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def add(self, other: "DayFigures") -> "DayFigures":
        """The two periods together (each item is counted on one day only, so nothing is counted twice)."""
        merged = DayFigures()
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                combined = {k: list(v) for k, v in mine.items()}
                for key, values in theirs.items():
                    combined[key] = [*combined.get(key, []), *values]
                setattr(merged, f.name, combined)
            else:
                setattr(merged, f.name, [*mine, *theirs])
        return merged


def _in(at: datetime | None, start: datetime, end: datetime) -> bool:
    return at is not None and start <= at < end


def day_figures(
    *,
    conversations: Sequence[ConversationRow],
    messages: Sequence[MessageRow],
    events: Sequence[EventRow],
    start: datetime,
    end: datetime,
) -> DayFigures:
    """The figures of [start, end) from the rows of every conversation that has something in it."""
    figures = DayFigures()
    by_conversation: dict[int, list[MessageRow]] = {c.id: [] for c in conversations}
    for message in messages:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    events_of: dict[int, list[EventRow]] = {c.id: [] for c in conversations}
    for event in events:
        events_of.setdefault(event.conversation_id, []).append(event)
    for conversation in conversations:
        own, own_events = dialogue(by_conversation[conversation.id]), _sorted(events_of[conversation.id])
        if not any(m.role == "customer" for m in own):
            continue
        _count_conversation(figures, conversation, own, own_events, start, end)
    return figures


def _count_conversation(
    figures: DayFigures,
    conversation: ConversationRow,
    messages: list[MessageRow],
    events: list[EventRow],
    start: datetime,
    end: datetime,
) -> None:
    close = next((e for e in events if e.kind == "close"), None)
    if close is not None and _in(close.at, start, end):
        if close.outcome == BOT_RESOLVED:
            confirmed = resolution_confirmed(messages=messages, conversation=conversation)
            bucket = "bot_resolved_confirmed" if confirmed else "bot_resolved_assumed"
        elif close.outcome == HANDED_OFF:
            bucket = "handed_off"
        else:
            bucket = "abandoned_waiting" if close.detail == "waiting" else "abandoned_before_answer"
        figures.outcomes[bucket].append(conversation.id)
        first_handoff = next((e for e in events if e.kind == "handoff"), None)
        if first_handoff is not None:
            figures.handoffs[handoff_reason(event=first_handoff, messages=messages)].append(conversation.id)
        if conversation.came_back_at is not None and conversation.came_back_at - close.at <= REOPEN_WITHIN:
            figures.reopened.append(conversation.id)
    intercepted = questions_intercepted(messages=messages, events=events)
    for message in messages:
        if not _in(message.at, start, end):
            continue
        if message.role == "customer":
            figures.questions.append(message.id)
            if intercepted[message.id]:
                figures.intercepted.append(message.id)
        elif message.role == "bot":
            _count_answer(figures, message)
    if _in(conversation.csat_at, start, end) and conversation.csat is not None:
        figures.csat[str(conversation.csat)].append(conversation.id)
    for index, event in enumerate(events):
        if not _in(event.at, start, end):
            continue
        if event.kind == "handoff":
            reply = next((m for m in messages if m.role == "agent" and m.at >= event.at), None)
            if reply is not None:
                figures.first_response_s.append([conversation.id, (reply.at - event.at).total_seconds()])
        elif event.kind == "claim":
            done = next((e for e in events[index + 1 :] if e.kind in ("hand_back", "close")), None)
            if done is not None:
                figures.handling_s.append([conversation.id, (done.at - event.at).total_seconds()])


def _count_answer(figures: DayFigures, message: MessageRow) -> None:
    if message.feedback == "up":
        figures.thumbs_up.append(message.id)
    elif message.feedback == "down":
        figures.thumbs_down.append(message.id)
    if message.feedback and message.feedback_comment:
        figures.comments.append([message.id, message.conversation_id, message.feedback, message.feedback_comment])
    if message.ttft_ms is not None and message.source:
        figures.first_token_ms.setdefault(message.source, []).append([message.id, message.ttft_ms])
    if message.source == "guardrail":
        figures.guardrail_trips.append(message.id)
    if BUSY_FLAG in message.flags:
        figures.busy_refusals.append(message.id)
    if is_bot_answer(message):
        for faq_id in message.faq_ids:
            figures.faq_answers.setdefault(str(faq_id), []).append(message.id)


def shares(counts: Sequence[int]) -> list[Decimal]:
    """Percentages with one decimal that add up to exactly 100.0 (largest remainder); all 0 for no counts."""
    total = sum(counts)
    if total == 0:
        return [Decimal("0.0") for _ in counts]
    tenths = [Decimal(c) * 1000 / total for c in counts]
    floors = [t.to_integral_value(rounding=ROUND_FLOOR) for t in tenths]
    left = 1000 - int(sum(floors))
    order = sorted(range(len(counts)), key=lambda i: (floors[i] - tenths[i], i))
    for i in order[:left]:
        floors[i] += 1
    return [f / 10 for f in floors]


def rate(part: int, whole: int) -> Decimal | None:
    """part / whole as a fraction with four decimals; None when there is nothing to divide by."""
    return None if whole == 0 else (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


def mean(values: Sequence[float]) -> Decimal | None:
    return None if not values else (Decimal(sum(values)) / len(values)).quantize(Decimal("0.01"))


def pct(values: Sequence[float], q: float) -> float | None:
    """The percentile every figure uses (`engine.stats.percentile`, linear interpolation)."""
    result = percentile(list(values), q)
    return None if result is None else round(result, 1)


def _ids(values: Iterable[int]) -> set[int]:
    return set(values)


def summarize(figures: DayFigures) -> dict[str, Any]:
    """The reported figures of a period, each computed here and nowhere else (README: Reports)."""
    counts = [len(figures.outcomes.get(b, [])) for b in OUTCOME_BUCKETS]
    conversations = sum(counts)
    outcome_shares = shares(counts)
    handed = {r: len(figures.handoffs.get(r, [])) for r in HANDOFF_REASONS}
    with_handoff = sum(handed.values())
    scores = {s: len(figures.csat.get(str(s), [])) for s in range(1, 6)}
    responses = sum(scores.values())
    up, down = len(figures.thumbs_up), len(figures.thumbs_down)
    resolved = counts[0] + counts[1]
    return {
        "conversations": conversations,
        "outcomes": {
            bucket: {"count": count, "share": share}
            for bucket, count, share in zip(OUTCOME_BUCKETS, counts, outcome_shares, strict=True)
        },
        "reopened": {"count": len(figures.reopened), "rate": rate(len(figures.reopened), conversations)},
        "questions": len(figures.questions),
        "intercepted": len(figures.intercepted),
        "interception_rate": rate(len(figures.intercepted), len(figures.questions)),
        "interception_target": INTERCEPTION_TARGET,
        "bot_resolution": {
            "rate": rate(resolved, conversations),
            "confirmed": rate(counts[0], conversations),
            "assumed": rate(counts[1], conversations),
        },
        "handoff": {
            "count": with_handoff,
            "rate": rate(with_handoff, conversations),
            "by_reason": {r: {"count": c, "rate": rate(c, conversations)} for r, c in handed.items()},
        },
        "csat": {
            "mean": mean([s for s, c in scores.items() for _ in range(c)]),
            "distribution": {str(s): c for s, c in scores.items()},
            "responses": responses,
        },
        "thumbs": {"up": up, "down": down, "up_share": rate(up, up + down)},
        "first_token_ms": {
            source: {"p50": pct([ms for _, ms in rows], 50), "p95": pct([ms for _, ms in rows], 95), "count": len(rows)}
            for source, rows in sorted(figures.first_token_ms.items())
        },
        "human_first_response_s": _spread([s for _, s in figures.first_response_s]),
        "handling_s": _spread([s for _, s in figures.handling_s]),
        "guardrail_trips": len(figures.guardrail_trips),
        "busy_refusals": len(figures.busy_refusals),
    }


def _spread(values: Sequence[float]) -> dict[str, Any]:
    return {"p50": pct(values, 50), "p90": pct(values, 90), "mean": mean(values), "count": len(values)}


def faq_usage(figures: DayFigures) -> dict[int, dict[str, int]]:
    """Per FAQ entry: the answers that used it, and the thumbs up and down they got."""
    up, down = _ids(figures.thumbs_up), _ids(figures.thumbs_down)
    return {
        int(faq_id): {"hits": len(ids), "up": len(up.intersection(ids)), "down": len(down.intersection(ids))}
        for faq_id, ids in figures.faq_answers.items()
    }
