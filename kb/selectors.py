import hashlib
import threading
import time
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Max, QuerySet

from engine.knowledge import FaqFact, ProductFact, PromotionFact, StoreSnapshot
from kb.models import FaqEntry, Product, Promotion, Store


def store_list_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Store]:
    """The stores a staff member works for; superusers see every store, everyone else none."""
    if not user.is_authenticated or not getattr(user, "is_active", False):
        return Store.objects.none()
    if getattr(user, "is_superuser", False):
        return Store.objects.all()
    return Store.objects.filter(staff__pk=user.pk)


def promotion_list_active(*, store: Store, at: datetime | None = None) -> QuerySet[Promotion]:
    return Promotion.objects.filter(store=store).active(at)


def product_list(*, store: Store) -> QuerySet[Product]:
    return store.products.filter(is_active=True)


def faq_list_enabled(*, store: Store) -> QuerySet[FaqEntry]:
    return store.faqs.filter(enabled=True)


def store_get_by_slug(*, slug: str) -> Store | None:
    return Store.objects.filter(slug=slug).first()


_SNAPSHOT_TTL = 30.0  # seconds; promotion windows open and close on their own, without an edit
_snapshots: dict[int, tuple[str, float, StoreSnapshot]] = {}
_snapshots_lock = threading.Lock()


# Reading the version is five queries, more than the rest of a template answer costs, and every
# answer needs it: it is kept this long. An edit saved in this process forgets it at once
# (`store_version_forget`, on every save and delete of the store's rows); other processes see an edit,
# and a promotion's window opening or closing, within this time.
_VERSION_TTL = 2.0
_versions: dict[int, tuple[str, float]] = {}


def store_version_forget(*, store_id: int) -> None:
    with _snapshots_lock:
        _versions.pop(store_id, None)


def store_version(*, store: Store) -> str:
    """Changes whenever the store's knowledge base is edited; read again after _VERSION_TTL seconds."""
    now = time.monotonic()
    with _snapshots_lock:
        known = _versions.get(store.pk)
    if known is not None and now - known[1] < _VERSION_TTL:
        return known[0]
    version = _store_version_read(store=store)
    with _snapshots_lock:
        _versions[store.pk] = (version, now)
    return version


def _store_version_read(*, store: Store) -> str:
    """The version from the rows (a few aggregate queries, no rows)."""
    parts: list[object] = [store.pk, store.updated_at.isoformat()]
    for related in (store.faqs, store.products, store.promotions, store.synonyms):
        agg = related.aggregate(n=Count("id"), last=Max("updated_at"))
        parts.extend([agg["n"], agg["last"].isoformat() if agg["last"] else ""])
    parts.append(tuple(promotion_list_active(store=store).values_list("id", flat=True).order_by("id")))
    return hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()[:16]


def store_snapshot(*, store: Store) -> StoreSnapshot:
    """What the answer pipeline knows of this store; rebuilt when the knowledge base changes."""
    now = time.monotonic()
    with _snapshots_lock:
        cached = _snapshots.get(store.pk)
    version = store_version(store=store)
    if cached is not None and cached[0] == version and now - cached[1] < _SNAPSHOT_TTL:
        return cached[2]
    snapshot = _snapshot_build(store=store, version=version)
    with _snapshots_lock:
        _snapshots[store.pk] = (version, now, snapshot)
    return snapshot


def _text(value: object) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def _snapshot_build(*, store: Store, version: str) -> StoreSnapshot:
    fresh = Store.objects.get(pk=store.pk)
    return StoreSnapshot(
        store_id=fresh.pk,
        slug=fresh.slug,
        name=fresh.name,
        assistant_name=fresh.assistant_name,
        persona=fresh.persona,
        boundaries=fresh.boundaries,
        offtopic_reply=fresh.offtopic_reply,
        handoff_message=fresh.handoff_message,
        disclaimer=fresh.disclaimer,
        welcome=fresh.welcome,
        relevance_threshold=fresh.relevance_threshold,
        top_k=fresh.retrieval_top_k,
        prefix_entry_chars=settings.ENGINE_PREFIX_ENTRY_CHARS,
        synonyms=tuple(fresh.synonyms.order_by("phrase").values_list("phrase", "replacement")),
        faqs=tuple(
            FaqFact(
                id=f.pk,
                question=f.question,
                answer=f.answer,
                keywords=tuple(f.keywords or ()),
                alt_questions=tuple(f.alt_questions or ()),
                mode=f.mode,
                category=f.category,
            )
            for f in faq_list_enabled(store=fresh).order_by("id")
        ),
        products=tuple(
            ProductFact(
                id=p.pk,
                sku=p.sku,
                name=p.name,
                price=p.price,
                stock=p.stock,
                description=p.description,
                attributes=tuple((str(k), _text(v)) for k, v in (p.attributes or {}).items()),
                size_guide=p.size_guide,
                shipping_note=p.shipping_note,
            )
            for p in product_list(store=fresh).order_by("sku")
        ),
        promotions=tuple(
            PromotionFact(
                id=p.pk,
                title=p.title,
                kind=p.kind,
                description=p.description,
                threshold=p.threshold,
                amount=p.amount,
                multiplier=p.multiplier,
                gift=p.gift,
                member_only=p.member_only,
            )
            for p in promotion_list_active(store=fresh).order_by("id")
        ),
        version=version,
        blocked_phrases=tuple(fresh.blocked_phrases or ()),
    )


def store_snapshot_for_id(*, store_id: int) -> StoreSnapshot:
    return store_snapshot(store=Store.objects.get(pk=store_id))
