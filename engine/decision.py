"""What the pipeline decided about one question: answer now (and with what), or ask the model (and with what)."""

from dataclasses import dataclass, field
from typing import Literal

HandoffReason = Literal["", "shopper_asked", "complaint", "bot_unsure"]


@dataclass(frozen=True)
class Decision:
    kind: Literal["direct", "generate"]
    route: str  # handoff | greeting | boundary | offtopic | complaint | faq | unsure | llm
    text: str = ""  # the direct answer
    source: str = ""  # faq | template | handoff (direct answers)
    handoff_reason: HandoffReason = ""
    faq_id: int | None = None
    user_content: str = ""  # the shopper's turn for the model (generate)
    question: str = ""  # the question as the model sees it (generate): the guard drops an echo of it
    reference: str = ""  # what the guard may accept claims from, besides the store's data
    fallback: str = ""  # generate: the best FAQ entry's answer, shown if the model's answer is broken
    fallback_source: Literal["faq", "template"] = "faq"
    matched: tuple[dict[str, object], ...] = field(default=())

    @property
    def handoff(self) -> bool:
        return bool(self.handoff_reason)
