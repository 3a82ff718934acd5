"""The knowledge-base JSON file: reading it safely and checking every row before anything is written.

Nothing here touches the database. `kb_file_validate` turns the parsed JSON into rows of model field
values (every field filled in, left-out fields get the model default) and collects an error message,
with the row it belongs to, for everything wrong; `kb.services.store_import` then writes the rows.
"""

import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.db import models
from django.utils import timezone

from config.exceptions import ApplicationError
from kb.hours import HoursError, hours_clean
from kb.models import FaqEntry, Product, Promotion, Store, SynonymRule

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_SHOWN_ERRORS = 50


class KbFileError(ApplicationError):
    """The file cannot be imported; `errors` holds one message per problem, each naming its row."""

    def __init__(self, errors: list[str]) -> None:
        shown = errors[:MAX_SHOWN_ERRORS]
        lines = [f"- {error}" for error in shown]
        if len(errors) > len(shown):
            lines.append(f"- ... and {len(errors) - len(shown)} more")
        noun = "error" if len(errors) == 1 else "errors"
        super().__init__(f"{len(errors)} {noun}, nothing was imported:\n" + "\n".join(lines), extra={"errors": errors})
        self.errors = errors


class _Invalid(Exception):
    pass


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers keys written twice (plain json.loads keeps the last silently)."""

    duplicate_keys: list[str]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> "_JsonObject":
        obj = cls()
        obj.duplicate_keys = []
        for key, value in pairs:
            if key in obj and key not in obj.duplicate_keys:
                obj.duplicate_keys.append(key)
            obj[key] = value
        return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


# --- reading ---------------------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.3g} MB"


def kb_file_parse(*, raw: bytes) -> Any:
    """Decode and parse the file's bytes; numbers with a fraction come back as exact Decimals."""
    if len(raw) > MAX_FILE_BYTES:
        raise KbFileError([f"the file is larger than the limit of {_megabytes(MAX_FILE_BYTES)}"])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KbFileError([f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"]) from exc
    try:
        return json.loads(
            text, parse_float=Decimal, parse_constant=_reject_constant, object_pairs_hook=_JsonObject.from_pairs
        )
    except json.JSONDecodeError as exc:
        raise KbFileError([f"the file is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]) from exc
    except ValueError as exc:
        raise KbFileError([f"the file is not valid JSON: {exc}"]) from exc
    except RecursionError as exc:
        raise KbFileError(["the file is not valid JSON: it is nested too deeply"]) from exc


def kb_file_read(*, path: str | Path) -> Any:
    try:
        with open(path, "rb") as fh:
            size = Path(path).stat().st_size
            if size > MAX_FILE_BYTES:
                raise KbFileError(
                    [f"the file is {_megabytes(size)}, larger than the limit of {_megabytes(MAX_FILE_BYTES)}"]
                )
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise KbFileError([f"cannot read {path}: {exc.strerror or exc}"]) from exc
    return kb_file_parse(raw=raw)


def kb_file_dumps(*, data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


# --- value parsers: each returns the model value or raises _Invalid with what is wrong ------------------


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = str(value) if isinstance(value, Decimal) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {_shown(value)}")
    return value


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid(f"expected an array of strings, got {_shown(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _Invalid(f"item {i} is {_shown(item)}, expected a string")
        if not item.strip():
            # An empty keyword would match every question.
            raise _Invalid(f"item {i} is an empty string")
    return list(value)


def _origin_list(value: Any) -> list[str]:
    origins = _string_list(value)
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query or parts.fragment:
            raise _Invalid(
                f'"{origin}" is not an origin; write scheme, host and optional port only, '
                'like "https://shop.example.com" (no path, no trailing slash)'
            )
    return origins


def _business_hours(value: Any) -> dict[str, list[str]]:
    try:
        return hours_clean(value)
    except HoursError as exc:
        raise _Invalid(str(exc)) from None


def _plain_json(value: Any) -> Any:
    """Numbers parsed as Decimal go back to int/float so JSONField can store them."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else float(value)
    if isinstance(value, list):
        return [_plain_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain_json(item) for key, item in value.items()}
    return value


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"expected an object, got {_shown(value)}")
    return _plain_json(value)


def _attributes(value: Any) -> dict[str, Any]:
    obj = _json_object(value)
    for key, item in value.items():
        items = item if isinstance(item, list) else [item]
        if not all(isinstance(one, str | int | Decimal) for one in items):
            raise _Invalid(f'"{key}" is {_shown(item)}; expected a string, a number or an array of them')
    return obj


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_shown(value)}")
    return value


def _integer(*, minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(f"expected a whole number, got {_shown(value)}")
        if minimum is not None and value < minimum:
            raise _Invalid(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise _Invalid(f"must be at most {maximum}, got {value}")
        return value

    return parse


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _Invalid(f'expected a decimal number like "99.00", got {_shown(value)}')
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise _Invalid(f'expected a decimal number like "99.00", got {_shown(value)}') from None
    if not number.is_finite():
        raise _Invalid(f"expected a finite decimal number, got {_shown(value)}")
    return number


def _decimal(*, nullable: bool = False) -> Callable[[Any], Decimal | None]:
    def parse(value: Any) -> Decimal | None:
        if value is None and nullable:
            return None
        number = _to_decimal(value)
        if number < 0:
            raise _Invalid(f"must not be negative, got {_shown(value)}")
        return number

    return parse


def _float_not_negative(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _Invalid(f"expected a number, got {_shown(value)}")
    if value < 0 or not math.isfinite(value):
        raise _Invalid(f"must be a finite number not below 0, got {_shown(value)}")
    return float(value)


def _datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise _Invalid(f'expected an ISO 8601 date-time like "2026-06-01T00:00:00+08:00" or null, got {_shown(value)}')
    # A time without an offset is read in the project's time zone (settings.TIME_ZONE).
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def _choice(choices: type[models.TextChoices]) -> Callable[[Any], str]:
    allowed = ", ".join(f'"{value}"' for value in choices.values)

    def parse(value: Any) -> str:
        if value not in choices.values:
            raise _Invalid(f"expected one of {allowed}, got {_shown(value)}")
        return str(value)

    return parse


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
        FileField("slug", _text, required=True),
        FileField("name", _text, required=True),
        FileField("assistant_name", _text),
        FileField("persona", _text),
        FileField("boundaries", _text),
        FileField("offtopic_reply", _text),
        FileField("handoff_message", _text),
        FileField("offline_message", _text),
        FileField("business_hours", _business_hours),
        FileField("disclaimer", _text),
        FileField("blocked_phrases", _string_list),
        FileField("welcome", _text),
        FileField("quick_questions", _string_list),
        FileField("theme", _json_object),
        FileField("allowed_origins", _origin_list),
        FileField("relevance_threshold", _float_not_negative),
        FileField("retrieval_top_k", _integer(minimum=1, maximum=20)),
    ),
)
PRODUCTS = Section(
    name="products",
    model=Product,
    key="sku",
    fields=(
        FileField("sku", _text, required=True),
        FileField("name", _text, required=True),
        FileField("price", _decimal(), required=True),
        FileField("stock", _integer(minimum=0)),
        FileField("description", _text),
        FileField("attributes", _attributes),
        FileField("size_guide", _text),
        FileField("shipping_note", _text),
        FileField("is_active", _boolean),
    ),
)
PROMOTIONS = Section(
    name="promotions",
    model=Promotion,
    key="title",
    fields=(
        FileField("title", _text, required=True),
        FileField("kind", _choice(Promotion.Kind), required=True),
        FileField("description", _text),
        FileField("threshold", _decimal()),
        FileField("amount", _decimal(nullable=True)),
        FileField("multiplier", _decimal(nullable=True)),
        FileField("gift", _text),
        FileField("member_only", _boolean),
        FileField("starts_at", _datetime),
        FileField("ends_at", _datetime),
        FileField("enabled", _boolean),
    ),
)
FAQS = Section(
    name="faqs",
    model=FaqEntry,
    key="question",
    fields=(
        FileField("question", _text, required=True),
        FileField("answer", _text, required=True),
        FileField("keywords", _string_list),
        FileField("alt_questions", _string_list),
        FileField("mode", _choice(FaqEntry.Mode)),
        FileField("category", _text),
        FileField("enabled", _boolean),
    ),
)
SYNONYMS = Section(
    name="synonyms",
    model=SynonymRule,
    key="phrase",
    fields=(
        FileField("phrase", _text, required=True),
        FileField("replacement", _text, required=True),
    ),
)
ROW_SECTIONS = (PRODUCTS, PROMOTIONS, FAQS, SYNONYMS)

# Which promotion field each kind uses besides `threshold` (which every kind may use: 0 = any order).
PROMOTION_KIND_FIELD: dict[str, str | None] = {
    Promotion.Kind.THRESHOLD_OFF: "amount",
    Promotion.Kind.MULTIPLIER: "multiplier",
    Promotion.Kind.GIFT: "gift",
    Promotion.Kind.FREE_SHIPPING: None,
}
PROMOTION_KIND_FIELDS = ("amount", "multiplier", "gift")
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
        row.error(f"expected an object, got {_shown(obj)}")
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
        except _Invalid as exc:
            row.error(f"{spec.name}: {exc}")
    row.key = row.values.get(section.key)
    if section is PROMOTIONS and all(name in row.values for name in ("kind", *PROMOTION_KIND_FIELDS, *WINDOW)):
        _check_promotion(row, given=set(obj))
    return row


def _check_promotion(row: KbRow, *, given: set[str]) -> None:
    values = row.values
    kind = values["kind"]
    used = PROMOTION_KIND_FIELD[kind]
    for name in PROMOTION_KIND_FIELDS:
        if name != used and name in given and values[name] not in (None, ""):
            row.error(f'{name}: a {kind} promotion does not use "{name}"; leave it out')
    if kind == Promotion.Kind.THRESHOLD_OFF and not (values["amount"] and values["amount"] > 0):
        row.error('amount: a threshold_off promotion needs an amount greater than 0, like "50"')
    if kind == Promotion.Kind.MULTIPLIER and not (values["multiplier"] and 0 < values["multiplier"] < 1):
        row.error('multiplier: a multiplier promotion needs a factor between 0 and 1, like "0.95" for 95折')
    if kind == Promotion.Kind.GIFT and not values["gift"].strip():
        row.error('gift: a gift promotion needs the gift, like "精美小礼品"')
    if values["starts_at"] and values["ends_at"] and values["ends_at"] <= values["starts_at"]:
        row.error("ends_at: must be after starts_at")


def kb_file_validate(*, data: Any) -> KbFile:
    """Check the parsed file; every problem found is in the result's `all_errors()`."""
    if not isinstance(data, dict):
        return KbFile(store=None, sections={}, errors=[f"the file must hold a JSON object, got {_shown(data)}"])
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
            errors.append(f"{section.name}: expected an array of objects, got {_shown(items)}")
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
