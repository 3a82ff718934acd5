"""What a question is about when it does not say: the product on the page and what was just said.

A shopper on a product page asks "有现货吗" or "这件尺码偏大吗" without naming anything, and a follow-up
("那L码呢", "白色的还有吗") leans on the turn before. `ChatContext` carries what the conversation knows
(the product in view, the recent turns as plain text); the pipeline resolves the question against it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatContext:
    product_in_view: str = ""  # the SKU of the product page the shopper is on ("" when none)
    recent: tuple[str, ...] = ()  # the conversation's recent texts, oldest first (shopper and bot, as shown)


NO_CONTEXT = ChatContext()
