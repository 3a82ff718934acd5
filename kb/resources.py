"""Spreadsheet import/export (django-import-export) of products and FAQ entries.

Every resource is built for one user: it reads, matches and writes rows of that user's stores only,
so a file naming another store's slug fails on that row instead of touching the other store.
"""

import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from import_export import fields, resources, widgets

from kb.models import FaqEntry, Product, Store
from kb.selectors import store_list_for_user

LIST_SEPARATOR = "|"


class PipeListWidget(widgets.Widget):
    """A list of strings in one cell, e.g. ``发货|快递|几天到``; blanks around items are dropped."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> list[str]:
        if value is None:
            return []
        items = value if isinstance(value, list | tuple) else str(value).split(LIST_SEPARATOR)
        return [text for text in (str(item).strip() for item in items) if text]

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return LIST_SEPARATOR.join(str(item) for item in value or [])


class JSONObjectWidget(widgets.Widget):
    """A JSON object in one cell, e.g. ``{"颜色": "红色"}``; Chinese stays readable on export."""

    example = '{"颜色": "红色", "尺码": "M"}'

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        if value is None or not str(value).strip():
            return {}
        try:
            parsed = json.loads(str(value))
        except ValueError:
            raise ValueError(f"Not valid JSON; write an object like {self.example}.") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"Must be a JSON object like {self.example}, not {type(parsed).__name__}.")
        return parsed

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return json.dumps(value, ensure_ascii=False) if value else ""


class StoreSlugWidget(widgets.ForeignKeyWidget):
    """The store column: a store slug, looked up among the importing user's stores only."""

    max_listed = 10  # stores named in the error message

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Store, field="slug", **kwargs)
        # Set per user by StoreScopedResource; no user means no store, never every store.
        self.stores: QuerySet[Store] | None = None

    def get_queryset(self, value: Any, row: Any, *args: Any, **kwargs: Any) -> QuerySet[Store]:
        return self.stores if self.stores is not None else Store.objects.none()

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Store:
        slug = "" if value is None else str(value).strip()
        if not slug:
            raise ValueError("The store column is empty; give the slug of one of your stores.")
        stores = self.get_queryset(slug, row)
        try:
            return stores.get(slug=slug)
        except Store.DoesNotExist:
            slugs = list(stores.values_list("slug", flat=True)[: self.max_listed + 1])
            yours = ", ".join(slugs[: self.max_listed]) + (", ..." if len(slugs) > self.max_listed else "")
            raise ValueError(f'Store "{slug}" is not one of your stores (yours: {yours or "none"}).') from None


class StoreScopedResource(resources.ModelResource):
    """Base for resources of rows that belong to a store; pass ``user`` (the admin does)."""

    store = fields.Field(attribute="store", column_name="store", widget=StoreSlugWidget())

    def __init__(self, *, user: AbstractBaseUser | AnonymousUser | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stores = store_list_for_user(user=user) if user is not None else Store.objects.none()
        self.fields["store"].widget.stores = self.stores

    def get_queryset(self) -> QuerySet[Any]:
        # Also the queryset the instance loader matches natural keys in.
        return super().get_queryset().filter(store__in=self.stores).select_related("store")

    def filter_export(self, queryset: QuerySet[Any], **kwargs: Any) -> QuerySet[Any]:
        return super().filter_export(queryset, **kwargs).filter(store__in=self.stores)


class ProductResource(StoreScopedResource):
    attributes = fields.Field(attribute="attributes", column_name="attributes", widget=JSONObjectWidget())

    class Meta:
        model = Product
        fields = (
            "store",
            "sku",
            "name",
            "price",
            "stock",
            "description",
            "attributes",
            "size_guide",
            "shipping_note",
            "is_active",
        )
        import_id_fields = ("store", "sku")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class FaqEntryResource(StoreScopedResource):
    keywords = fields.Field(attribute="keywords", column_name="keywords", widget=PipeListWidget())
    alt_questions = fields.Field(attribute="alt_questions", column_name="alt_questions", widget=PipeListWidget())

    class Meta:
        model = FaqEntry
        fields = ("store", "question", "answer", "keywords", "alt_questions", "mode", "category", "enabled")
        import_id_fields = ("store", "question")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
