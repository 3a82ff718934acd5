"""A stand-in for the llama.cpp runtime: characters are tokens, and the "model" recites a script.

It keeps a real per-sequence KV bookkeeping (positions per sequence, copies, removals), so the
scheduler's cache logic is checked against what a KV cache would actually hold.
"""

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

END = 0
VOCAB = 0x10000


class FakeRuntime:
    def __init__(
        self,
        answer: str = "好的，马上为您发货。",
        n_ctx: int = 4096,
        n_seq_max: int = 8,
        batch: int = 64,
        delay: float = 0.0,
    ):
        self.answer = answer
        self.delay = delay  # seconds per decode call, like a real model's step
        self.n_ctx = n_ctx
        self.n_seq_max = n_seq_max
        self._batch = batch
        self.kv: dict[int, dict[int, int]] = {}  # seq -> {pos: token}
        self.decoded_tokens = 0
        self.decode_calls = 0
        self.fail_after_calls: int | None = None
        self._rows: list[np.ndarray] = []

    @property
    def batch_capacity(self) -> int:
        return self._batch

    def render_chat(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        text = "".join(f"<{m['role']}>{m['content']}\n" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        return [ord(c) for c in text]

    def token_bytes(self, token: int) -> bytes:
        return chr(token).encode()

    def is_end(self, token: int) -> bool:
        return token == END

    def seq_remove(self, seq: int, start: int = 0, end: int = -1) -> None:
        cells = self.kv.get(seq, {})
        for pos in [p for p in cells if p >= start and (end < 0 or p < end)]:
            del cells[pos]

    def seq_copy(self, src: int, dst: int, start: int = 0, end: int = -1) -> None:
        for pos, tok in self.kv.get(src, {}).items():
            if pos >= start and (end < 0 or pos < end):
                self.kv.setdefault(dst, {})[pos] = tok

    def seq_state_save(self, seq: int) -> bytes:
        cells = self.kv.get(seq, {})
        return repr(sorted(cells.items())).encode()

    def seq_state_load(self, seq: int, data: bytes) -> bool:
        self.kv[seq] = dict(eval(data.decode()))  # noqa: S307 - our own repr, test-only
        return True

    def clear(self) -> None:
        self.kv.clear()

    def _next(self, seq: int, pos: int) -> int:
        """The script: after the prompt, recite `answer`, then stop."""
        cells = self.kv[seq]
        context = "".join(chr(cells[p]) for p in range(pos + 1) if p in cells)
        start = context.rfind("<assistant>")
        said = context[start + len("<assistant>") :] if start >= 0 else ""
        if said == self.answer[: len(said)] and len(said) < len(self.answer):
            return ord(self.answer[len(said)])
        return END

    def decode(self, items: Sequence[tuple[int, int, int, bool]]) -> None:
        self.decode_calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_after_calls is not None and self.decode_calls > self.fail_after_calls:
            raise RuntimeError("simulated engine crash")
        self._rows = []
        for token, pos, seq, _want in items:
            cells = self.kv.setdefault(seq, {})
            assert all(p in cells for p in range(pos)), f"seq {seq} has a hole before {pos}"
            cells[pos] = token
            self.decoded_tokens += 1
        for _token, pos, seq, want in items:
            row = np.zeros(VOCAB, dtype=np.float32)
            if want:
                row[self._next(seq, pos)] = 10.0
            self._rows.append(row)

    def logits(self, index: int) -> Any:
        return self._rows[index]

    def close(self) -> None:
        pass
