"""Turn openings evaluated ahead of the questions that need them.

A first turn that goes to the model opens the same way after the store prefix: the reference header, then
its best entry, one of the store's FAQ entries or products (or, asking for copy, the product's row). Those
tokens are most of the turn (~80 of ~130 on the evaluation's questions) and all of them had to be evaluated
before the first token: ~0.5 s on an AVX2 CPU. When a store's prefix is warmed, each entry's opening is
evaluated too, as a one-token background job of its own; idle, it is parked among the saved states
(`engine.kv_cache`), and a new chat whose prompt begins with the same tokens loads those cells instead of
evaluating them (`engine.admission._borrow`). A cell depends only on the tokens before it, so the loaded
cells are what evaluating those tokens gives (up to rounding: cells computed in another batch).
"""

import uuid

from engine.copywriting import product_facts_text
from engine.generate import BACKGROUND, GenerationRequest
from engine.knowledge import StoreSnapshot
from engine.pipeline import focus
from engine.prompt import Reference, copy_turn, user_turn
from engine.retrieve import index_for


def opening_turns(store: StoreSnapshot, *, limit: int) -> list[str]:
    """Up to `limit` turn openings, rendered as `decide()` renders them, what they go on with left empty: each
    entry of the store (FAQ entries, products, promotions, in its index's order) as a question's first
    reference, then each product's row as a request for copy about it ("帮我写个文案") opens."""
    limit = max(0, limit)
    turns = [
        # `focus` with no question words keeps what every question keeps (the first line, price, stock).
        user_turn("", [Reference(title=doc.title, text=focus(doc.text, set()))])
        for doc in index_for(store).docs[:limit]
    ]
    turns += [copy_turn(product_facts_text(product), "") for product in store.products[: limit - len(turns)]]
    return turns


def opening_request(prefix: str, turn: str, *, key: str) -> GenerationRequest:
    """A one-token background job whose only use is to leave a turn's opening in the saved states."""
    return GenerationRequest(
        job_id=f"{key}-{uuid.uuid4().hex[:12]}",
        conversation_key=key,
        messages=[{"role": "system", "content": prefix}, {"role": "user", "content": turn}],
        max_tokens=1,
        prompt_lookup=False,
        priority=BACKGROUND,
    )
