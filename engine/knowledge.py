"""What the answer pipeline knows of one store: an immutable snapshot, no database access.

`kb.selectors.store_snapshot()` builds it from the database (and caches it by a version string that
changes with every knowledge-base edit); every engine step takes it as plain data, so each step is
testable without Django or the model.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


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
    # How many characters of FAQ entries the cached prompt prefix carries (0: none; engine/prompt.py).
    prefix_entry_chars: int = 0


def promotion_running(*, enabled: bool, starts_at: datetime | None, ends_at: datetime | None, at: datetime) -> bool:
    """Whether a promotion counts at `at`: enabled, and `at` within its half-open window [starts_at, ends_at).

    The one rule of an active promotion: the database query in `kb.models.PromotionQuerySet.active`
    says the same in SQL (a test holds the two together).
    """
    started = starts_at is None or starts_at <= at
    return enabled and started and (ends_at is None or at < ends_at)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _decimal(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _faq_facts(rows: list[dict[str, Any]]) -> tuple[FaqFact, ...]:
    return tuple(
        FaqFact(
            id=i,
            question=f["question"],
            answer=f["answer"],
            keywords=tuple(f.get("keywords", ())),
            alt_questions=tuple(f.get("alt_questions", ())),
            mode=f.get("mode", "reference"),
            category=f.get("category", ""),
        )
        for i, f in enumerate(rows, start=1)
        if f.get("enabled", True)
    )


def _product_facts(rows: list[dict[str, Any]]) -> tuple[ProductFact, ...]:
    return tuple(
        ProductFact(
            id=i,
            sku=p["sku"],
            name=p["name"],
            price=Decimal(str(p["price"])),
            stock=int(p.get("stock", 0)),
            description=p.get("description", ""),
            attributes=tuple(
                (str(k), "、".join(map(str, v)) if isinstance(v, list) else str(v))
                for k, v in p.get("attributes", {}).items()
            ),
            size_guide=p.get("size_guide", ""),
            shipping_note=p.get("shipping_note", ""),
        )
        for i, p in enumerate(rows, start=1)
        if p.get("is_active", True)
    )


def _promotion_facts(rows: list[dict[str, Any]], *, at: datetime) -> tuple[PromotionFact, ...]:
    return tuple(
        PromotionFact(
            id=i,
            title=p["title"],
            kind=p["kind"],
            description=p.get("description", ""),
            threshold=_decimal(p.get("threshold")) or Decimal("0"),
            amount=_decimal(p.get("amount")),
            multiplier=_decimal(p.get("multiplier")),
            gift=p.get("gift", ""),
            member_only=bool(p.get("member_only", False)),
        )
        for i, p in enumerate(rows, start=1)
        if promotion_running(
            enabled=p.get("enabled", True) is not False,
            starts_at=_when(p.get("starts_at")),
            ends_at=_when(p.get("ends_at")),
            at=at,
        )
    )


def snapshot_from_file(data: dict[str, Any], *, version: str = "") -> StoreSnapshot:
    """A snapshot straight from a knowledge-base file (the import_kb format), for benchmarks and
    evaluations that run without a database. Ids are positions; a promotion counts when it is running
    now. The version defaults to a digest of the data: every such snapshot has store id 0, and caches
    keyed by (store id, version) must not give one file's index to another."""
    if not version:
        digest = hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode(), usedforsecurity=False)
        version = f"file-{digest.hexdigest()[:16]}"
    store = data["store"]
    return StoreSnapshot(
        store_id=0,
        slug=store["slug"],
        name=store["name"],
        assistant_name=store.get("assistant_name", "小助手"),
        persona=store.get("persona", ""),
        boundaries=store.get("boundaries", ""),
        offtopic_reply=store.get("offtopic_reply", ""),
        handoff_message=store.get("handoff_message", ""),
        disclaimer=store.get("disclaimer", ""),
        welcome=store.get("welcome", ""),
        relevance_threshold=float(store.get("relevance_threshold", 1.0)),
        top_k=int(store.get("retrieval_top_k", 3)),
        synonyms=tuple((s["phrase"], s["replacement"]) for s in data.get("synonyms", [])),
        faqs=_faq_facts(data.get("faqs", [])),
        products=_product_facts(data.get("products", [])),
        promotions=_promotion_facts(data.get("promotions", []), at=datetime.now(UTC)),
        version=version,
        blocked_phrases=tuple(store.get("blocked_phrases", ())),
    )
