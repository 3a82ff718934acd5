from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from kb.models import FaqEntry, Product, Promotion, Store


def store_list_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Store]:
    """The stores a staff member works for; superusers see every store, everyone else none."""
    if not user.is_authenticated or not getattr(user, "is_active", False):
        return Store.objects.none()
    if getattr(user, "is_superuser", False):
        return Store.objects.all()
    return Store.objects.filter(staff__pk=user.pk)


def promotion_list_active(*, store: Store, at: datetime | None = None) -> QuerySet[Promotion]:
    at = at or timezone.now()
    return store.promotions.filter(enabled=True).filter(
        Q(starts_at__isnull=True) | Q(starts_at__lte=at), Q(ends_at__isnull=True) | Q(ends_at__gt=at)
    )


def product_list(*, store: Store) -> QuerySet[Product]:
    return store.products.filter(is_active=True)


def faq_list_enabled(*, store: Store) -> QuerySet[FaqEntry]:
    return store.faqs.filter(enabled=True)


def store_get_by_slug(*, slug: str) -> Store | None:
    return Store.objects.filter(slug=slug).first()
