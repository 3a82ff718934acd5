"""The generate step: typed requests and events between the answer pipeline and the engine."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "time", "cancelled", "error", "busy"]
EventKind = Literal["accepted", "delta", "done"]


@dataclass(frozen=True)
class GenerationRequest:
    """One answer to generate. `messages[0]` is the stable store prefix (the system message)."""

    job_id: str
    conversation_key: str
    messages: list[dict[str, str]]
    max_tokens: int = 256
    max_seconds: float = 30.0
    prompt_lookup: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenerationRequest":
        return cls(
            job_id=str(data["job_id"]),
            conversation_key=str(data["conversation_key"]),
            messages=[{"role": str(m["role"]), "content": str(m["content"])} for m in data["messages"]],
            max_tokens=int(data.get("max_tokens", 256)),
            max_seconds=float(data.get("max_seconds", 30.0)),
            prompt_lookup=bool(data.get("prompt_lookup", True)),
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


class AnswerStream:
    """One answer on its way to the shopper: raw model deltas in, guarded text out.

    Both the engine worker and `manage.py ask` run answers through this, so what is shown, what is
    recorded and how it is flagged is decided in one place.
    """

    BUSY_TEXT = "当前咨询的顾客较多，请稍后再试，或点击“转人工”联系人工客服。"
    FAILED_TEXT = "抱歉，回答时出了点问题，请再发一次，或点击“转人工”联系人工客服。"

    def __init__(self, guard: Any) -> None:
        self.guard = guard  # engine.guard.StreamGuard (anything with feed/finish/flags/replaced)
        self.shown = ""

    def feed(self, delta: str) -> str:
        safe = str(self.guard.feed(delta))
        self.shown += safe
        return safe

    def finish(self, event: GenerationEvent) -> tuple[str, dict[str, Any]]:
        """The last safe text to show, and the answer's record: text, source, partial, flags, error."""
        reason = event.finish_reason
        if reason == "busy":
            self.shown += self.BUSY_TEXT
            return self.BUSY_TEXT, {
                "text": self.BUSY_TEXT,
                "source": "template",
                "partial": False,
                "flags": ["busy"],
                "error": "busy",
            }
        tail = str(self.guard.finish())
        self.shown += tail
        flags = list(dict.fromkeys(self.guard.flags))
        partial = reason in ("error", "cancelled", "time")
        if reason in ("error", "cancelled", "time", "length"):
            flags.append({"error": "engine_error"}.get(reason, reason))
        source = "guardrail" if self.guard.replaced else "llm"
        if reason == "error" and not self.shown.strip():
            tail += self.FAILED_TEXT
            self.shown += self.FAILED_TEXT
            source = "template"
        error = "engine_error" if reason == "error" else ""
        return tail, {"text": self.shown, "source": source, "partial": partial, "flags": flags, "error": error}


def engine_job_key(job_id: str) -> str:
    """Cache key naming the engine worker channel that runs a job (so anyone can cancel it)."""
    return f"engine:job:{job_id}"
