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
