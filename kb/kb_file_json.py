"""Reading a knowledge-base file: its bytes into JSON safely, then each JSON value into a model value.

The value parsers (`as_...`) are the types of the field table in `kb.kb_file`; each returns the model
value or raises `InvalidValue` saying what is wrong, which the table prefixes with the row and field.
Values a store can also be given in the admin or the API (lists, origins, hours) go through the rules
in `kb.validation` and `kb.hours`, the same ones those use.
"""

import json
import math
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import models
from django.utils import timezone

from config.exceptions import ApplicationError
from kb.hours import HoursError, hours_clean
from kb.validation import InvalidValue, ListRule, attributes_clean, string_list_clean, value_shown

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


# --- value parsers: each returns the model value or raises InvalidValue with what is wrong -------------


def as_text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"expected a string, got {value_shown(value)}")
    return value


def as_string_list(rule: ListRule) -> Callable[[Any], list[str]]:
    def parse(value: Any) -> list[str]:
        return string_list_clean(value, rule=rule)

    return parse


def as_business_hours(value: Any) -> dict[str, list[str]]:
    try:
        return hours_clean(value)
    except HoursError as exc:
        raise InvalidValue(str(exc)) from None


def _plain_json(value: Any) -> Any:
    """Numbers parsed as Decimal go back to int/float so JSONField can store them."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else float(value)
    if isinstance(value, list):
        return [_plain_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain_json(item) for key, item in value.items()}
    return value


def as_json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidValue(f"expected an object, got {value_shown(value)}")
    return _plain_json(value)


def as_attributes(value: Any) -> dict[str, Any]:
    return attributes_clean(as_json_object(value))


def as_boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(f"expected true or false, got {value_shown(value)}")
    return value


def as_integer(*, minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidValue(f"expected a whole number, got {value_shown(value)}")
        if minimum is not None and value < minimum:
            raise InvalidValue(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise InvalidValue(f"must be at most {maximum}, got {value}")
        return value

    return parse


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidValue(f'expected a decimal number like "99.00", got {value_shown(value)}')
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise InvalidValue(f'expected a decimal number like "99.00", got {value_shown(value)}') from None
    if not number.is_finite():
        raise InvalidValue(f"expected a finite decimal number, got {value_shown(value)}")
    return number


def as_decimal(*, nullable: bool = False) -> Callable[[Any], Decimal | None]:
    def parse(value: Any) -> Decimal | None:
        if value is None and nullable:
            return None
        number = _to_decimal(value)
        if number < 0:
            raise InvalidValue(f"must not be negative, got {value_shown(value)}")
        return number

    return parse


def as_float_not_negative(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidValue(f"expected a number, got {value_shown(value)}")
    if value < 0 or not math.isfinite(value):
        raise InvalidValue(f"must be a finite number not below 0, got {value_shown(value)}")
    return float(value)


def as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidValue(
            f'expected an ISO 8601 date-time like "2026-06-01T00:00:00+08:00" or null, got {value_shown(value)}'
        )
    # A time without an offset is read in the project's time zone (settings.TIME_ZONE).
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def as_choice(choices: type[models.TextChoices]) -> Callable[[Any], str]:
    allowed = ", ".join(f'"{value}"' for value in choices.values)

    def parse(value: Any) -> str:
        if value not in choices.values:
            raise InvalidValue(f"expected one of {allowed}, got {value_shown(value)}")
        return str(value)

    return parse
