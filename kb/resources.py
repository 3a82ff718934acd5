"""Spreadsheet import/export (django-import-export) of products and FAQ entries.

Every resource is built for one user: it reads, matches and writes rows of that user's stores only,
so a file naming another store's slug fails on that row instead of touching the other store. A file
may leave the store column out (or empty): its rows go to the store picked on the import page.

Files come as Excel writes them: CSV in UTF-8 (with or without BOM) or GBK/GB18030 (Excel on Chinese
Windows), or XLSX; headers are the column keys below or the fields' names in Chinese or English.
"""

import codecs
import json
import re
from typing import Any

import tablib
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet, TextChoices
from django.utils import translation
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.formats.base_formats import CSV

from kb.form_fields import AttributesField
from kb.models import FaqEntry, Product, Store
from kb.selectors import store_list_for_user
from kb.validation import InvalidValue, attributes_clean

LIST_SEPARATOR = "|"
# Languages whose field names a header may use.
HEADER_LANGUAGES = ("zh-hans", "en")


class UnreadableFile(ValueError):
    """The file is not text in an encoding a spreadsheet program writes; the message says what to do."""


def spreadsheet_text(data: bytes) -> str:
    """The text of a CSV file: UTF-8 with or without BOM, else GB18030 (which covers GBK and GB2312)."""
    if data.startswith(codecs.BOM_UTF8):
        candidates: tuple[str, ...] = ("utf-8",)
        data = data[len(codecs.BOM_UTF8) :]
    else:
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(
        _(
            "The file is not a CSV text file (UTF-8 or GBK). In Excel choose “Save as”, "
            "“CSV UTF-8 (comma delimited)” or “Excel workbook (.xlsx)”, then upload it again."
        )
    )


class SpreadsheetCSV(CSV):
    """CSV read as bytes and decoded by `spreadsheet_text`; written as UTF-8 with a BOM so Excel opens it."""

    def is_binary(self) -> bool:
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> tablib.Dataset:
        if isinstance(in_stream, bytes):
            in_stream = spreadsheet_text(in_stream)
        return super().create_dataset(in_stream, **kwargs)

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> bytes:
        text = super().export_data(dataset, **kwargs)
        return codecs.BOM_UTF8 + (text.encode("utf-8") if isinstance(text, str) else text)


class PipeListWidget(widgets.Widget):
    """A list of strings in one cell, e.g. ``发货|快递|几天到`` (or one per line in the cell); blanks are dropped."""

    def __init__(self, separators: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.split = re.compile("|".join([r"\r\n|\r|\n", *(re.escape(sep) for sep in LIST_SEPARATOR + separators)]))

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> list[str]:
        if value is None:
            return []
        items = value if isinstance(value, list | tuple) else self.split.split(str(value))
        return [text for text in (str(item).strip() for item in items) if text]

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return LIST_SEPARATOR.join(str(item) for item in value or [])


class JSONObjectWidget(widgets.Widget):
    """Attributes in one cell: "名称：值" pairs, one per line or separated by "；", or a JSON object such as
    ``{"颜色": "红色"}`` (what export writes; Chinese stays readable)."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> dict[str, Any]:
        parsed: Any = value
        text = "" if value is None or isinstance(value, dict) else str(value).strip()
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        if isinstance(parsed, dict):
            try:
                return attributes_clean(parsed)
            except InvalidValue as exc:
                raise ValueError(str(exc)) from None
        if not text:
            return {}
        try:
            return AttributesField().clean(re.sub(r"\s*[;；]\s*", "\n", text))
        except Exception as exc:  # a ValidationError: its message says what to write
            raise ValueError(" ".join(getattr(exc, "messages", [str(exc)]))) from None

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return json.dumps(value, ensure_ascii=False) if value else ""


class StoreSlugWidget(widgets.ForeignKeyWidget):
    """The store column: a store slug, looked up among the importing user's stores only."""

    max_listed = 10  # stores named in the error message

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Store, field="slug", **kwargs)
        # Set per user by StoreScopedResource; no user means no store, never every store.
        self.stores: QuerySet[Store] | None = None
        self.default: Store | None = None  # the store picked on the import page

    def get_queryset(self, value: Any, row: Any, *args: Any, **kwargs: Any) -> QuerySet[Store]:
        return self.stores if self.stores is not None else Store.objects.none()

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Store:
        slug = "" if value is None else str(value).strip()
        if not slug and self.default is not None:
            return self.default
        if not slug:
            raise ValueError(_("The store column is empty; choose the store on the import page."))
        stores = self.get_queryset(slug, row)
        try:
            return stores.get(slug=slug)
        except Store.DoesNotExist:
            slugs = list(stores.values_list("slug", flat=True)[: self.max_listed + 1])
            yours = ", ".join(slugs[: self.max_listed]) + (", ..." if len(slugs) > self.max_listed else "")
            raise ValueError(
                _('Store "%(slug)s" is not one of your stores (yours: %(yours)s).')
                % {"slug": slug, "yours": yours or _("none")}
            ) from None


class ChoiceWidget(widgets.Widget):
    """A choice column: its code ("direct") or its name in Chinese or English; anything else is refused
    with the values allowed."""

    def __init__(self, choices: type[TextChoices], default: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = choices
        self.default = default

    def _names(self) -> dict[str, str]:
        names = {}
        for code, label in self.choices.choices:
            names[str(code).lower()] = str(code)
            for language in HEADER_LANGUAGES:
                with translation.override(language):
                    names[str(label).lower()] = str(code)
        return names

    def allowed(self) -> str:
        return "、".join(f"{code}（{label}）" for code, label in self.choices.choices)

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        text = "" if value is None else str(value).strip()
        if not text:
            return self.default
        code = self._names().get(text.lower())
        if code is None:
            raise ValueError(
                _("“%(value)s” is not allowed; write one of: %(allowed)s") % {"value": text, "allowed": self.allowed()}
            )
        return code

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return "" if value is None else str(value)


class YesNoWidget(widgets.BooleanWidget):
    """Yes/no as 1/0, TRUE/FALSE, yes/no or 是/否; empty is the field's default."""

    YES = {"1", "true", "yes", "y", "是", "启用", "在售"}
    NO = {"0", "false", "no", "n", "否", "停用", "下架"}

    def __init__(self, default: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default = default

    def allowed(self) -> str:
        return (
            _("1 or 是 (yes), 0 or 否 (no); empty: yes")
            if self.default
            else _("1 or 是 (yes), 0 or 否 (no); empty: no")
        )

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = "" if value is None else str(value).strip().lower()
        if not text:
            return self.default
        if text in self.YES:
            return True
        if text in self.NO:
            return False
        raise ValueError(_("“%(value)s” is not allowed; write 1 (yes) or 0 (no).") % {"value": value})


class StoreScopedResource(resources.ModelResource):
    """Base for resources of rows that belong to a store; pass ``user`` (the admin does)."""

    store = fields.Field(attribute="store", column_name="store", widget=StoreSlugWidget())

    # One example row for the downloadable template, by column key.
    template_example: dict[str, str] = {}

    def __init__(
        self,
        *,
        user: AbstractBaseUser | AnonymousUser | None = None,
        store: Store | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stores = store_list_for_user(user=user) if user is not None else Store.objects.none()
        self.default_store = store if store is not None and self.stores.filter(pk=store.pk).exists() else None
        self.fields["store"].widget.stores = self.stores
        self.fields["store"].widget.default = self.default_store

    def column_titles(self) -> dict[str, str]:
        """Column key -> the field's name in the active language (the template's headers)."""
        titles = {}
        for field in self.get_import_fields():
            model_field = self._meta.model._meta.get_field(field.attribute)
            titles[field.column_name] = str(getattr(model_field, "verbose_name", field.column_name))
        return titles

    def get_diff_headers(self) -> list[str]:
        """The preview's column headings: the fields' names in the user's language."""
        titles = self.column_titles()
        return [titles.get(field.column_name, field.column_name) for field in self.get_import_fields()]

    def before_import(self, dataset: tablib.Dataset, **kwargs: Any) -> None:
        """Headers in Chinese or English become the column keys; a file without a store column gets the
        store picked on the import page."""
        super().before_import(dataset, **kwargs)
        keys: dict[str, str] = {}
        for language in HEADER_LANGUAGES:
            with translation.override(language):
                keys |= {_header_key(title): key for key, title in self.column_titles().items()}
        keys |= {_header_key(key): key for key in self.column_titles()}
        if dataset.headers:
            dataset.headers = [keys.get(_header_key(str(header or "")), header) for header in dataset.headers]
        if dataset.headers and "store" not in dataset.headers and dataset.height:
            slug = self.default_store.slug if self.default_store is not None else ""
            dataset.append_col([slug] * dataset.height, header="store")

    def get_queryset(self) -> QuerySet[Any]:
        # Also the queryset the instance loader matches natural keys in.
        return super().get_queryset().filter(store__in=self.stores).select_related("store")

    def filter_export(self, queryset: QuerySet[Any], **kwargs: Any) -> QuerySet[Any]:
        return super().filter_export(queryset, **kwargs).filter(store__in=self.stores)


def _header_key(header: str) -> str:
    return re.sub(r"[\s*＊_]+", "", header).lower()


class ProductResource(StoreScopedResource):
    attributes = fields.Field(attribute="attributes", column_name="attributes", widget=JSONObjectWidget())
    is_active = fields.Field(attribute="is_active", column_name="is_active", widget=YesNoWidget(default=True))
    template_example = {
        "sku": "TS-001",
        "name": "经典纯棉圆领T恤",
        "price": "99.00",
        "stock": "120",
        "description": "180g精梳纯棉，常规版型。",
        "attributes": "面料：纯棉；尺码：S、M、L、XL",
        "size_guide": "S：胸围100cm；M：胸围104cm",
        "shipping_note": "现货，付款后24小时内发货。",
        "is_active": "1",
    }

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
    keywords = fields.Field(attribute="keywords", column_name="keywords", widget=PipeListWidget(separators="、，,"))
    alt_questions = fields.Field(attribute="alt_questions", column_name="alt_questions", widget=PipeListWidget())
    mode = fields.Field(
        attribute="mode", column_name="mode", widget=ChoiceWidget(FaqEntry.Mode, default=FaqEntry.Mode.REFERENCE)
    )
    enabled = fields.Field(attribute="enabled", column_name="enabled", widget=YesNoWidget(default=True))
    template_example = {
        "question": "什么时候发货?",
        "answer": "现货商品付款后24小时内发货。",
        "keywords": "发货|几天发",
        "alt_questions": "多久能发货?|啥时候发",
        "mode": "direct",
        "category": "shipping",
        "enabled": "1",
    }

    class Meta:
        model = FaqEntry
        fields = ("store", "question", "answer", "keywords", "alt_questions", "mode", "category", "enabled")
        import_id_fields = ("store", "question")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
