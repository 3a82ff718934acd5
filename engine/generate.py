"""The generate step: typed requests, jobs, events and results between the answer pipeline and the engine.

Everything that crosses a process boundary (the channel layer) is one of these dataclasses, turned
into plain data with `to_dict()` and back with `from_dict()`, which refuses keys it does not know.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol

from engine.normalize import is_english, letters_only

FinishReason = Literal["stop", "length", "time", "cancelled", "error", "busy"]
EventKind = Literal["accepted", "delta", "done"]
AnswerSource = Literal["llm", "guardrail", "template", "faq"]
LIVE = 0
BACKGROUND = 1


def _known_keys(cls: type, data: Mapping[str, Any]) -> None:
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"{cls.__name__} does not take {', '.join(sorted(unknown))}")


@dataclass(frozen=True)
class GenerationRequest:
    """One answer to generate. `messages[0]` is the stable store prefix (the system message)."""

    job_id: str
    conversation_key: str
    messages: list[dict[str, str]]
    max_tokens: int = 256
    max_seconds: float = 30.0
    prompt_lookup: bool = True
    # LIVE: a shopper waits for it. BACKGROUND (review replies, product copy): runs after every waiting
    # live job and never takes the queue room or the last slot live chats need.
    priority: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GenerationRequest":
        _known_keys(cls, data)
        return cls(
            job_id=str(data["job_id"]),
            conversation_key=str(data["conversation_key"]),
            messages=[{"role": str(m["role"]), "content": str(m["content"])} for m in data["messages"]],
            max_tokens=int(data.get("max_tokens", 256)),
            max_seconds=float(data.get("max_seconds", 30.0)),
            prompt_lookup=bool(data.get("prompt_lookup", True)),
            priority=int(data.get("priority", 0)),
        )


@dataclass(frozen=True)
class AnswerJob:
    """A generation job as it travels to an engine worker: the request, and what the worker needs to guard
    the answer (the store whose data backs claims, the reference text, the question to drop an echo of).

    `conversation_id` and `question_id` are opaque to the engine: they go back on every event so the
    asking side can route them. A `draft` (a suggestion for an agent) waits for nobody: it runs only when
    the engine has nothing else to do, and is never recorded.
    """

    request: GenerationRequest
    store_id: int
    reference: str = ""
    question: str = ""
    matched: tuple[dict[str, Any], ...] = ()
    conversation_id: int | None = None
    question_id: int | None = None
    draft: bool = False
    # The store's own answer to fall back on (the best-matching FAQ entry's) when the model's answer is broken:
    # only the question echoed, a repetition loop, cut off at the length limit with no sentence finished.
    fallback: str = ""
    fallback_source: AnswerSource = "faq"  # what the fallback is: an FAQ entry, or a text built from a row

    @property
    def job_id(self) -> str:
        return self.request.job_id

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "request": self.request.to_dict(), "matched": [dict(m) for m in self.matched]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AnswerJob":
        _known_keys(cls, data)

        def optional_int(value: Any) -> int | None:
            return None if value is None else int(value)

        return cls(
            request=GenerationRequest.from_dict(data["request"]),
            store_id=int(data["store_id"]),
            reference=str(data.get("reference", "")),
            question=str(data.get("question", "")),
            matched=tuple(dict(m) for m in data.get("matched") or ()),
            conversation_id=optional_int(data.get("conversation_id")),
            question_id=optional_int(data.get("question_id")),
            draft=bool(data.get("draft", False)),
            fallback=str(data.get("fallback", "")),
            fallback_source="template" if data.get("fallback_source") == "template" else "faq",
        )


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    evaluated_tokens: int = 0  # prompt tokens actually run through the model (the rest came from cache)
    completion_tokens: int = 0
    drafted_tokens: int = 0
    accepted_tokens: int = 0
    queued_ms: int = 0
    ttft_ms: int | None = None
    total_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerationEvent:
    job_id: str
    kind: EventKind
    text: str = ""
    finish_reason: FinishReason | None = None
    error: str = ""
    stats: GenerationStats = field(default_factory=GenerationStats)


@dataclass(frozen=True)
class AnswerResult:
    """A finished answer as the shopper saw it: what to record, and how it ended."""

    text: str
    source: AnswerSource
    partial: bool = False
    flags: tuple[str, ...] = ()
    error: str = ""  # "" | "busy" | "engine_error"


class Guard(Protocol):
    """What an answer is checked by on its way out (engine.guard.StreamGuard)."""

    @property
    def flags(self) -> Sequence[str]: ...

    @property
    def replaced(self) -> int: ...  # how many claims it had to replace

    @property
    def looping(self) -> bool: ...  # the model repeats itself: stop generating

    def feed(self, delta: str) -> str: ...

    def finish(self) -> str: ...


class AnswerStream:
    """One answer on its way to the shopper: raw model deltas in, guarded text out.

    Both the engine worker and `manage.py ask` run answers through this, so what is shown, what is
    recorded and how it is flagged is decided in one place.
    """

    BUSY_TEXT = "当前咨询的顾客较多，请稍后再试，或点击“转人工”联系人工客服。"
    FAILED_TEXT = "抱歉，回答时出了点问题，请再发一次，或点击“转人工”联系人工客服。"

    UNSURE_TEXT = "这个问题我不太确定，不想给您错误的答复，马上请人工客服为您解答。"
    UNSURE_TEXT_EN = "I'm not sure about this one and don't want to tell you something wrong; a colleague will answer."

    def __init__(
        self, guard: Guard, *, fallback: str = "", fallback_source: AnswerSource = "faq", question: str = ""
    ) -> None:
        self.guard = guard
        self.fallback = fallback
        self.fallback_source = fallback_source
        self.question = question
        self.shown = ""

    @classmethod
    def for_job(cls, job: "AnswerJob", guard: Guard) -> "AnswerStream":
        return cls(guard, fallback=job.fallback, fallback_source=job.fallback_source, question=job.question)

    @property
    def stop_requested(self) -> bool:
        """The answer has gone wrong beyond repair (a repetition loop): the generation should be cancelled."""
        return self.guard.looping

    def feed(self, delta: str) -> str:
        safe = str(self.guard.feed(delta))
        self.shown += safe
        return safe

    def finish(self, event: GenerationEvent) -> tuple[str, AnswerResult]:
        """The last safe text to show, and the answer's record (whose text replaces what was streamed)."""
        reason = event.finish_reason
        if reason == "busy":
            self.shown += self.BUSY_TEXT
            return self.BUSY_TEXT, AnswerResult(text=self.BUSY_TEXT, source="template", flags=("busy",), error="busy")
        streamed = self.shown
        full = streamed + str(self.guard.finish())
        appended = str(getattr(self.guard, "appended", ""))  # the store's disclaimer, after the answer itself
        body = full[: len(full) - len(appended)] if appended and full.endswith(appended) else full
        appended = full[len(body) :]
        flags = list(dict.fromkeys(self.guard.flags))
        looped = self.guard.looping and reason == "cancelled"  # we stopped it: the answer itself is complete
        partial = reason in ("error", "cancelled", "time") and not looped
        if reason in ("error", "cancelled", "time", "length") and not looped:
            flags.append({"error": "engine_error"}.get(reason, reason))
        source: AnswerSource = "guardrail" if self.guard.replaced else "llm"
        if reason in ("length", "time") or looped:
            # Cut at the length limit or stopped in a loop: what was said up to the last finished sentence.
            kept = finished_sentences(body)
            if kept and kept != body:
                body = kept
                flags.append("trimmed")
        unfinished = reason in ("length", "time") and not finished_sentences(body)
        echoed = bool(self.question) and only_repeats(body, self.question)
        broken = not body.strip() or unfinished or echoed or ("echo" in flags and self.guard.replaced > 0)
        if (broken and reason not in ("error", "cancelled")) or (broken and looped):
            if self.fallback:
                # The model said nothing usable; the store's own entry for this question says it instead.
                body, appended, source, partial = self.fallback, "", self.fallback_source, False
                flags.append("fallback")
            elif echoed or looped or not body.strip():
                # Nothing but the question: say so honestly; the guardrail source brings a person.
                unsure = self.UNSURE_TEXT_EN if is_english(self.question) else self.UNSURE_TEXT
                body, appended, source = unsure, "", "guardrail"
                flags.append("echo" if echoed and "echo" not in flags else "unsure")
        final = body + appended
        if reason == "error" and not final.strip():
            final, source = self.FAILED_TEXT, "template"
        # What is still to show: the rest of the final text, or nothing when it replaces what was streamed.
        tail = final[len(streamed) :] if final.startswith(streamed) else ("" if streamed.strip() else final)
        self.shown = final
        error = "engine_error" if reason == "error" else ""
        return tail, AnswerResult(text=final, source=source, partial=partial, flags=tuple(flags), error=error)


_SENTENCE_END = ("。", "！", "？", "!", "?", "～", "~", "\n")


def only_repeats(answer: str, question: str) -> bool:
    """Whether the answer says nothing but (pieces of) the question, once or over and over."""
    said, asked = letters_only(answer), letters_only(question)
    if not said or not asked:
        return False
    return not said.replace(asked, "") or said in asked


def finished_sentences(text: str) -> str:
    """`text` up to its last finished sentence ("" when none is finished)."""
    end = max(text.rfind(mark) for mark in _SENTENCE_END)
    return text[: end + 1].rstrip() if end >= 0 else ""


def engine_job_key(job_id: str) -> str:
    """Cache key naming the engine worker channel that runs a job (so anyone can cancel it)."""
    return f"engine:job:{job_id}"


def warm_request(prefix: str, *, key: str) -> GenerationRequest:
    """A one-token job whose only use is to have a store prefix evaluated into the KV cache."""
    return GenerationRequest(
        job_id=f"{key}-{uuid.uuid4().hex[:12]}",
        conversation_key=key,
        messages=[{"role": "system", "content": prefix}, {"role": "user", "content": "你好"}],
        max_tokens=1,
        prompt_lookup=False,
    )
