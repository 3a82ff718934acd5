"""What the answer pipeline knows of one store: an immutable snapshot, no database access.

`kb.selectors.store_snapshot()` builds it from the database (and caches it by a version string that
changes with every knowledge-base edit); every engine step takes it as plain data, so each step is
testable without Django or the model.
"""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class FaqFact:
    id: int
    question: str
    answer: str
    keywords: tuple[str, ...] = ()
    alt_questions: tuple[str, ...] = ()
    mode: str = "reference"  # "direct" | "reference"
    category: str = ""


@dataclass(frozen=True)
class ProductFact:
    id: int
    sku: str
    name: str
    price: Decimal
    stock: int
    description: str = ""
    attributes: tuple[tuple[str, str], ...] = ()  # (name, value as text)
    size_guide: str = ""
    shipping_note: str = ""


@dataclass(frozen=True)
class PromotionFact:
    """An active promotion. kind: threshold_off | multiplier | gift | free_shipping."""

    id: int
    title: str
    kind: str
    description: str = ""
    threshold: Decimal = Decimal("0")
    amount: Decimal | None = None
    multiplier: Decimal | None = None
    gift: str = ""
    member_only: bool = False


@dataclass(frozen=True)
class StoreSnapshot:
    store_id: int
    slug: str
    name: str
    assistant_name: str = "小助手"
    persona: str = ""
    boundaries: str = ""
    offtopic_reply: str = ""
    handoff_message: str = ""
    disclaimer: str = ""
    welcome: str = ""
    relevance_threshold: float = 1.0
    top_k: int = 3
    synonyms: tuple[tuple[str, str], ...] = ()  # (phrase, replacement)
    faqs: tuple[FaqFact, ...] = ()  # enabled entries only
    products: tuple[ProductFact, ...] = ()  # active products only
    promotions: tuple[PromotionFact, ...] = ()  # promotions active when the snapshot was taken
    version: str = ""
    blocked_phrases: tuple[str, ...] = field(default=())
