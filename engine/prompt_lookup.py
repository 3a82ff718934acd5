"""Prompt-lookup drafting: guess the next tokens by finding what the model just wrote in the prompt.

A shop answer often copies its reference text (an FAQ answer, a product's size guide); the tokens
that followed the same words in the prompt are a cheap draft the model then verifies several at a
time (`engine.scheduler`), instead of producing them one decode step each.
"""

from collections.abc import Sequence


def lookup_draft(
    prompt: Sequence[int], generated: Sequence[int], *, max_draft: int, ngram: int, min_ngram: int = 2
) -> list[int]:
    """Tokens that followed the latest occurrence in the prompt of the text just generated."""
    if max_draft <= 0 or not generated:
        return []
    history = list(prompt[-ngram:]) + list(generated[-ngram:])
    n_prompt = len(prompt)
    for n in range(min(ngram, len(history)), 0, -1):
        pattern = history[-n:]
        first = pattern[0]
        for start in range(n_prompt - n - 1, -1, -1):
            if prompt[start] == first and list(prompt[start : start + n]) == pattern:
                draft = list(prompt[start + n : start + n + max_draft])
                if draft:
                    return draft
        if n <= min_ngram:
            # Shorter matches are too weak a signal to spend compute on (measured: mostly rejected).
            break
    return []
