"""The prompt step: a stable store prefix first (cached in the KV cache), then history and the question."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StorePersona:
    name: str
    assistant_name: str
    persona: str
    boundaries: str


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    text: str


def store_prefix(store: StorePersona) -> str:
    """Everything here changes only when the store's settings change, so its KV state is reused."""
    lines = [
        f"你是“{store.name}”的在线客服“{store.assistant_name}”。",
        store.persona.strip(),
        "只回答与本店商品、订单、物流、售后有关的问题，回答简短、礼貌，用顾客的语言。",
        "不知道的事情就说不确定，并建议转人工客服；不要编造。",
    ]
    if store.boundaries.strip():
        lines.append(f"边界：{store.boundaries.strip()}")
    return "\n".join(line for line in lines if line)


def build_messages(*, prefix: str, history: Sequence[Turn], question: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": prefix}]
    messages.extend({"role": t.role, "content": t.text} for t in history if t.text)
    messages.append({"role": "user", "content": question})
    return messages
