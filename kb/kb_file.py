"""The knowledge-base file's format: a table of sections and fields, every row checked before anything is written.

Nothing here touches the database. `kb_file_validate` turns the parsed JSON (see `kb.kb_file_json`)
into rows of model field values (every field filled in, left-out fields get the model default) and
collects an error message, with the row it belongs to, for everything wrong, with a hint where one
helps; `kb.services.store_import` then writes the rows.
"""

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone

from kb.kb_file_json import (
    as_attributes,
    as_boolean,
    as_business_hours,
    as_choice,
    as_datetime,
    as_decimal,
    as_float_not_negative,
    as_integer,
    as_json_object,
    as_string_list,
    as_text,
)
from kb.models import FaqEntry, Product, Promotion, Store, SynonymRule
from kb.validation import (
    ALLOWED_ORIGINS,
    BLOCKED_PHRASES,
    FAQ_ALT_QUESTIONS,
    FAQ_KEYWORDS,
    PROMOTION_KIND_FIELD,
    PROMOTION_KIND_FIELDS,
    QUICK_QUESTIONS,
    InvalidValue,
    promotion_errors,
    value_shown,
)

# --- the format -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileField:
    name: str
    parse: Callable[[Any], Any]
    required: bool = False


@dataclass(frozen=True)
class Section:
    """One kind of row: its key in the file, its model, its natural key (within the store) and fields."""

    name: str
    model: type[models.Model]
    key: str
    fields: tuple[FileField, ...]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


STORE = Section(
    name="store",
    model=Store,
    key="slug",
    fields=(
        FileField("slug", as_text, required=True),
        FileField("name", as_text, required=True),
        FileField("assistant_name", as_text),
        FileField("persona", as_text),
        FileField("boundaries", as_text),
        FileField("offtopic_reply", as_text),
        FileField("handoff_message", as_text),
        FileField("offline_message", as_text),
        FileField("business_hours", as_business_hours),
        FileField("disclaimer", as_text),
        FileField("blocked_phrases", as_string_list(BLOCKED_PHRASES)),
        FileField("welcome", as_text),
        FileField("quick_questions", as_string_list(QUICK_QUESTIONS)),
        FileField("theme", as_json_object),
        FileField("allowed_origins", as_string_list(ALLOWED_ORIGINS)),
        FileField("relevance_threshold", as_float_not_negative),
        FileField("retrieval_top_k", as_integer(minimum=1, maximum=20)),
    ),
)
PRODUCTS = Section(
    name="products",
    model=Product,
    key="sku",
    fields=(
        FileField("sku", as_text, required=True),
        FileField("name", as_text, required=True),
        FileField("price", as_decimal(), required=True),
        FileField("stock", as_integer(minimum=0)),
        FileField("description", as_text),
        FileField("attributes", as_attributes),
        FileField("size_guide", as_text),
        FileField("shipping_note", as_text),
        FileField("is_active", as_boolean),
    ),
)
PROMOTIONS = Section(
    name="promotions",
    model=Promotion,
    key="title",
    fields=(
        FileField("title", as_text, required=True),
        FileField("kind", as_choice(Promotion.Kind), required=True),
        FileField("description", as_text),
        FileField("threshold", as_decimal()),
        FileField("amount", as_decimal(nullable=True)),
        FileField("multiplier", as_decimal(nullable=True)),
        FileField("gift", as_text),
        FileField("member_only", as_boolean),
        FileField("starts_at", as_datetime),
        FileField("ends_at", as_datetime),
        FileField("enabled", as_boolean),
    ),
)
FAQS = Section(
    name="faqs",
    model=FaqEntry,
    key="question",
    fields=(
        FileField("question", as_text, required=True),
        FileField("answer", as_text, required=True),
        FileField("keywords", as_string_list(FAQ_KEYWORDS)),
        FileField("alt_questions", as_string_list(FAQ_ALT_QUESTIONS)),
        FileField("mode", as_choice(FaqEntry.Mode)),
        FileField("category", as_text),
        FileField("enabled", as_boolean),
    ),
)
SYNONYMS = Section(
    name="synonyms",
    model=SynonymRule,
    key="phrase",
    fields=(
        FileField("phrase", as_text, required=True),
        FileField("replacement", as_text, required=True),
    ),
)
ROW_SECTIONS = (PRODUCTS, PROMOTIONS, FAQS, SYNONYMS)
WINDOW = ("starts_at", "ends_at")


@dataclass
class KbRow:
    label: str
    key: Any
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors.append(f"{self.label}: {message}")


@dataclass
class KbFile:
    store: KbRow | None
    sections: dict[str, list[KbRow]]  # only the sections the file has
    errors: list[str]  # about the file as a whole

    def all_errors(self) -> list[str]:
        found = list(self.errors)
        rows = ([self.store] if self.store else []) + [row for rows in self.sections.values() for row in rows]
        for row in rows:
            found.extend(row.errors)
        return found


def _model_default(model: type[models.Model], name: str) -> Any:
    model_field = model._meta.get_field(name)
    assert isinstance(model_field, models.Field)
    return model_field.get_default()


def _row_label(section: Section, index: int | None, obj: Any) -> str:
    label = section.name if index is None else f"{section.name}[{index}]"
    key = obj.get(section.key) if isinstance(obj, dict) else None
    if isinstance(key, str) and index is not None:
        label += f' ({section.key} "{key if len(key) <= 40 else key[:37] + "..."}")'
    return label


def _parse_row(section: Section, index: int | None, obj: Any) -> KbRow:
    row = KbRow(label=_row_label(section, index, obj), key=None)
    if not isinstance(obj, dict):
        row.error(f"expected an object, got {value_shown(obj)}")
        return row
    for key in getattr(obj, "duplicate_keys", []):
        row.error(f'field "{key}" is written twice')
    names = section.field_names
    for key in obj:
        if key not in names:
            hint = difflib.get_close_matches(key, names, n=1)
            row.error(f'unknown field "{key}"' + (f' (did you mean "{hint[0]}"?)' if hint else ""))
    for spec in section.fields:
        if spec.name not in obj:
            if spec.required:
                row.error(f'missing required field "{spec.name}"')
            else:
                row.values[spec.name] = _model_default(section.model, spec.name)
            continue
        try:
            row.values[spec.name] = spec.parse(obj[spec.name])
        except InvalidValue as exc:
            row.error(f"{spec.name}: {exc}")
    row.key = row.values.get(section.key)
    if section is PROMOTIONS and all(name in row.values for name in ("kind", *PROMOTION_KIND_FIELDS, *WINDOW)):
        _check_promotion(row, given=set(obj))
    return row


def _check_promotion(row: KbRow, *, given: set[str]) -> None:
    values = row.values
    errors = promotion_errors(
        kind=values["kind"],
        amount=values["amount"],
        multiplier=values["multiplier"],
        gift=values["gift"],
        starts_at=values["starts_at"],
        ends_at=values["ends_at"],
        given=given,
    )
    for name, message in errors.items():
        row.error(f"{name}: {message}")


def kb_file_validate(*, data: Any) -> KbFile:
    """Check the parsed file; every problem found is in the result's `all_errors()`."""
    if not isinstance(data, dict):
        return KbFile(store=None, sections={}, errors=[f"the file must hold a JSON object, got {value_shown(data)}"])
    errors: list[str] = [f'top level: field "{key}" is written twice' for key in getattr(data, "duplicate_keys", [])]
    known = [STORE.name, *(s.name for s in ROW_SECTIONS)]
    for key in data:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            errors.append(f'top level: unknown field "{key}"' + (f' (did you mean "{hint[0]}"?)' if hint else ""))
    store = None
    if STORE.name not in data:
        errors.append('top level: missing required field "store"')
    else:
        store = _parse_row(STORE, None, data[STORE.name])
    sections: dict[str, list[KbRow]] = {}
    for section in ROW_SECTIONS:
        if section.name not in data:
            continue
        items = data[section.name]
        if not isinstance(items, list):
            errors.append(f"{section.name}: expected an array of objects, got {value_shown(items)}")
            continue
        rows = sections[section.name] = []
        first_index: dict[Any, int] = {}
        for index, item in enumerate(items):
            row = _parse_row(section, index, item)
            rows.append(row)
            if isinstance(row.key, str):
                if row.key in first_index:
                    row.error(
                        f'duplicate {section.key} "{row.key}", already used by {section.name}[{first_index[row.key]}]'
                    )
                else:
                    first_index[row.key] = index
    return KbFile(store=store, sections=sections, errors=errors)


# --- export -----------------------------------------------------------------------------------------


def _export_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    return value


def kb_row_export(*, section: Section, obj: models.Model) -> dict[str, Any]:
    """One row as the file writes it; a promotion only carries the fields its kind uses."""
    names = section.field_names
    if isinstance(obj, Promotion):
        used = PROMOTION_KIND_FIELD[obj.kind]
        names = [name for name in names if name not in PROMOTION_KIND_FIELDS or name == used]
    return {name: _export_value(getattr(obj, name)) for name in names}
