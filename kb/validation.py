"""The rules a store's settings and a promotion must follow, in one place.

The admin forms, the REST API and the knowledge-base file all check what they receive with these
functions, so a value one of them refuses is refused by the others with the same message. Each
entrance only adds its own framing (a form field error, `"field: message"` in JSON, a row label).
"""

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

from kb.models import Promotion


class InvalidValue(ValueError):
    """What is wrong with one value; the caller names the field."""


def value_shown(value: Any) -> str:
    """A value as it looks in JSON, cut short, for messages that quote what was given."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = str(value) if isinstance(value, Decimal) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


# --- free text -------------------------------------------------------------------------------------

# C0 and C1 control characters, DEL included, except the tab and the line feed a message may hold.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def text_clean(value: str) -> str:
    """Text as it can always be stored and shown: a lone surrogate (what a broken paste leaves) becomes
    U+FFFD, line ends become "\\n", NUL and the other control characters but tab and line feed are
    dropped. UTF-8 cannot encode a lone surrogate and PostgreSQL refuses NUL, so either would otherwise
    fail the write instead of saving the message."""
    text = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


# --- product attributes -------------------------------------------------------------------------------


def attributes_clean(value: Any) -> dict[str, Any]:
    """Product attributes: names to a text, a number, true/false or an array of them, as the bot reads them.

    Names and texts go through `text_clean` (PostgreSQL refuses NUL in JSON as in text); a nested object or
    null is refused: the bot would show it as it is stored."""
    if not isinstance(value, dict):
        raise InvalidValue(_("expected an object, got %(value)s") % {"value": value_shown(value)})
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        name = text_clean(str(key)).strip()
        if not name:
            raise InvalidValue(_("an attribute needs a name"))
        if name in cleaned:
            raise InvalidValue(_('"%(name)s" is given twice; give each name once') % {"name": name})
        items = item if isinstance(item, list) else [item]
        if not all(_attribute_value(one) for one in items):
            raise InvalidValue(
                _('"%(name)s" is %(value)s; expected a text, a number or an array of them')
                % {"name": name, "value": value_shown(item)}
            )
        kept = [text_clean(one) if isinstance(one, str) else one for one in items]
        cleaned[name] = kept if isinstance(item, list) else kept[0]
    return cleaned


def _attribute_value(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    return isinstance(value, str | int | Decimal)  # bool is an int


# --- lists of strings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListRule:
    max_items: int | None = None
    max_chars: int | None = None  # per item
    origins: bool = False  # every item is a page origin, see origin_clean


# The widget shows every quick question as a button; ten fit on a phone.
QUICK_QUESTIONS = ListRule(max_items=10, max_chars=100)
BLOCKED_PHRASES = ListRule(max_items=200, max_chars=100)
ALLOWED_ORIGINS = ListRule(max_items=20, origins=True)
FAQ_KEYWORDS = ListRule(max_chars=50)
FAQ_ALT_QUESTIONS = ListRule(max_chars=300)


def string_list_clean(value: Any, *, rule: ListRule) -> list[str]:
    """The strings with blanks around them dropped; an empty item is refused, it would match every question."""
    if not isinstance(value, list):
        raise InvalidValue(_("expected an array of strings, got %(value)s") % {"value": value_shown(value)})
    if rule.max_items is not None and len(value) > rule.max_items:
        raise InvalidValue(_("at most %(max)s items, got %(count)s") % {"max": rule.max_items, "count": len(value)})
    cleaned = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidValue(_("item %(n)s is %(value)s, expected a string") % {"n": i, "value": value_shown(item)})
        text = item.strip()
        if not text:
            raise InvalidValue(_("item %(n)s is an empty string") % {"n": i})
        if rule.max_chars is not None and len(text) > rule.max_chars:
            raise InvalidValue(_("item %(n)s is longer than %(max)s characters") % {"n": i, "max": rule.max_chars})
        cleaned.append(origin_clean(text) if rule.origins else text)
    return cleaned


# --- origins ------------------------------------------------------------------------------------------

_URL = URLValidator(schemes=["http", "https"])


def origin_normalize(origin: str) -> str:
    """The form browsers send in the Origin header: lower case, no trailing slash."""
    return origin.strip().rstrip("/").lower()


def origin_clean(value: str) -> str:
    """A page origin (scheme, host, optional port) in its normal form; a path, query or login is refused.

    A trailing slash is dropped rather than refused: it is what a copied address bar gives, and the
    origin it names is the same.
    """
    origin = origin_normalize(value)
    parts = urlsplit(origin)
    try:
        _URL(origin)
        well_formed = True
    except ValidationError:
        well_formed = False
    if not well_formed or parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        raise InvalidValue(
            _(
                '"%(value)s" is not an origin; write scheme, host and optional port only, '
                'like "https://shop.example.com" (no path)'
            )
            % {"value": value}
        )
    return origin


# --- promotions ---------------------------------------------------------------------------------------

# Which promotion field each kind uses besides `threshold` (which every kind may use: 0 = any order).
PROMOTION_KIND_FIELD: dict[str, str | None] = {
    Promotion.Kind.THRESHOLD_OFF: "amount",
    Promotion.Kind.MULTIPLIER: "multiplier",
    Promotion.Kind.GIFT: "gift",
    Promotion.Kind.FREE_SHIPPING: None,
}
PROMOTION_KIND_FIELDS = ("amount", "multiplier", "gift")


def promotion_errors(
    *,
    kind: str,
    amount: Decimal | None,
    multiplier: Decimal | None,
    gift: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    given: Collection[str],
) -> dict[str, str]:
    """What is wrong with a promotion's terms, by field; empty when they hold.

    These are the model's check constraints with messages, plus one rule the database cannot see: a
    field the kind does not use must not be `given` (a gift promotion with an amount off reads as a
    discount the shop never offered).
    """
    errors: dict[str, str] = {}
    used = PROMOTION_KIND_FIELD.get(kind)
    values = {"amount": amount, "multiplier": multiplier, "gift": gift}
    for name in PROMOTION_KIND_FIELDS:
        if name != used and name in given and values[name] not in (None, ""):
            message = _('a %(kind)s promotion does not use "%(field)s"; leave it out')
            errors[name] = message % {"kind": kind, "field": name}
    if kind == Promotion.Kind.THRESHOLD_OFF and not (amount is not None and amount > 0):
        errors["amount"] = _('a threshold_off promotion needs an amount greater than 0, like "50"')
    if kind == Promotion.Kind.MULTIPLIER and not (multiplier is not None and 0 < multiplier < 1):
        errors["multiplier"] = _('a multiplier promotion needs a factor between 0 and 1, like "0.95" for 95折')
    if kind == Promotion.Kind.GIFT and not (gift or "").strip():
        errors["gift"] = _('a gift promotion needs the gift, like "精美小礼品"')
    if starts_at and ends_at and ends_at <= starts_at:
        errors["ends_at"] = _("must be after starts_at")
    return errors
