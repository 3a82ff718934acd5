"""Form fields for the store's list and mapping settings, typed the way people write them, stored as JSON.

Staff type one item per line (Chinese or Western punctuation, quotes or none), attributes as
"面料：纯棉" lines, business hours per weekday and the widget's colour with a picker. The values
these fields give are the JSON shapes the API and the knowledge-base file use, checked by the same
rules (kb/validation.py, kb/hours.py); only the framing of a message differs (a line number here).
"""

import json
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kb.hours import DAYS, HoursError, hours_clean
from kb.validation import InvalidValue, ListRule, attributes_clean, string_list_clean

# Quotes people wrap an item in, in both widths; they are not part of the item.
_QUOTES = "\"'“”‘’「」『』《》"
# Line breaks always separate items; `separators` adds more per field (keywords: "、", "，", "|" ...).
_NEWLINES = re.compile(r"\r\n|\r|\n")


def _unquote(text: str) -> str:
    text = text.replace("\u3000", " ").strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def _json_paste(text: str, kind: type) -> Any:
    """A JSON array or object pasted whole (from the API or an old export), or None."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, kind) else None


class LinesField(forms.Field):
    """A list of strings typed one per line; blank lines and surrounding quotes are dropped."""

    widget = forms.Textarea(attrs={"rows": 5, "cols": 60})

    def __init__(self, *, rule: ListRule, example: str, separators: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.rule = rule
        self.example = example
        self.split = re.compile("|".join([_NEWLINES.pattern, *(re.escape(sep) for sep in separators)]))
        self.widget.attrs.setdefault("placeholder", example)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return value

    def _hint(self) -> str:
        return _("Write one per line, e.g.:\n%(example)s") % {"example": self.example}

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        text = "" if value is None else str(value)
        pasted = _json_paste(text, list)
        if pasted is not None:
            return pasted
        return [item for item in (_unquote(part) for part in self.split.split(text)) if item]

    def clean(self, value: Any) -> list[str]:
        items = self.to_python(value)
        rule = self.rule
        if rule.max_items is not None and len(items) > rule.max_items:
            raise ValidationError(
                _("At most %(max)s lines, there are %(count)s. %(hint)s")
                % {"max": rule.max_items, "count": len(items), "hint": self._hint()}
            )
        for number, item in enumerate(items, start=1):
            if isinstance(item, str) and rule.max_chars is not None and len(item.strip()) > rule.max_chars:
                raise ValidationError(
                    _("Line %(number)s is longer than %(max)s characters: “%(start)s…”")
                    % {"number": number, "max": rule.max_chars, "start": item.strip()[:20]}
                )
        try:
            return string_list_clean(items, rule=rule)
        except InvalidValue as exc:
            raise ValidationError(f"{exc}. {self._hint()}") from None


class AttributesField(forms.Field):
    """Product attributes, one "name：value" per line; a value listing several options ("S、M、L") is a list."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 60, "placeholder": "面料：纯棉\n尺码：S、M、L、XL"})
    _KEY_VALUE = re.compile(r"^(.+?)\s*[:：=\t]\s*(.*)$")
    _OPTIONS = re.compile(r"\s*[、/／]\s*")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            lines = []
            for key, item in value.items():
                shown = "、".join(str(option) for option in item) if isinstance(item, list) else item
                lines.append(f"{key}：{shown}")
            return "\n".join(lines)
        return value

    def clean(self, value: Any) -> dict[str, Any]:
        try:
            return attributes_clean(self._parse(value))
        except InvalidValue as exc:
            raise ValidationError(str(exc)) from None

    def _parse(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        text = "" if value is None else str(value)
        pasted = _json_paste(text, dict)
        if pasted is not None:
            return pasted
        attributes: dict[str, Any] = {}
        for number, line in enumerate(_NEWLINES.split(text), start=1):
            line = line.replace("\u3000", " ").strip()
            if not line:
                continue
            match = self._KEY_VALUE.match(line)
            key = _unquote(match.group(1)) if match else ""
            raw = _unquote(match.group(2)) if match else ""
            if not key or not raw:
                raise ValidationError(
                    _("Line %(number)s “%(line)s” needs a name and a value, e.g. Material: cotton")
                    % {"number": number, "line": line}
                )
            if key in attributes:
                raise ValidationError(
                    _("Line %(number)s: “%(key)s” is already given above; write each name once.")
                    % {"number": number, "key": key}
                )
            options = [option for option in self._OPTIONS.split(raw) if option]
            attributes[key] = options if len(options) > 1 else raw
        return attributes


WEEKDAY_NAMES = {
    "mon": gettext_lazy("Monday"),
    "tue": gettext_lazy("Tuesday"),
    "wed": gettext_lazy("Wednesday"),
    "thu": gettext_lazy("Thursday"),
    "fri": gettext_lazy("Friday"),
    "sat": gettext_lazy("Saturday"),
    "sun": gettext_lazy("Sunday"),
}


class NamedMultiWidget(forms.MultiWidget):
    """Sub-inputs whose ids carry their names (id_theme_color), not their positions (id_theme_0)."""

    def __init__(self, widgets: dict[str, forms.Widget | type[forms.Widget]]) -> None:
        self.suffixes = [f"_{name}" for name in widgets]
        super().__init__(widgets)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        base = context["widget"]["attrs"].get("id")
        if base:
            for suffix, subwidget in zip(self.suffixes, context["widget"]["subwidgets"], strict=True):
                subwidget["attrs"]["id"] = f"{base}{suffix}"
        return context

    def id_for_label(self, id_: str) -> str:
        return f"{id_}{self.suffixes[0]}" if id_ else id_


class WeekHoursWidget(NamedMultiWidget):
    """One row per weekday: its time ranges, e.g. "09:00-18:00" or "09:00-12:00, 13:30-18:00"."""

    template_name = "admin/kb/widgets/week_hours.html"

    def __init__(self) -> None:
        widgets: dict[str, forms.Widget | type[forms.Widget]] = {
            day: forms.TextInput(attrs={"size": 30, "placeholder": gettext_lazy("closed")}) for day in DAYS
        }
        super().__init__(widgets)

    def decompress(self, value: Any) -> list[str]:
        value = value if isinstance(value, dict) else {}
        return ["，".join(value.get(day) or []) for day in DAYS]

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        for day, subwidget in zip(DAYS, context["widget"]["subwidgets"], strict=True):
            subwidget["day_name"] = WEEKDAY_NAMES[day]
        return context


class WeekHoursField(forms.MultiValueField):
    """Business hours per weekday; an empty day is closed, an empty week means "whenever an agent is online"."""

    widget = WeekHoursWidget
    # Range separators between times, and between ranges, as people type them in either width.
    _DASHES = re.compile(r"\s*(?:-|－|—|–|~|～|至|到)\s*")
    _RANGES = re.compile(r"[,，、;；\s]+")

    def __init__(self, **kwargs: Any) -> None:
        fields = tuple(forms.CharField(required=False) for _day in DAYS)
        kwargs.setdefault("required", False)
        super().__init__(fields=fields, require_all_fields=False, **kwargs)

    def clean(self, value: Any) -> dict[str, list[str]]:
        if isinstance(value, dict):  # the JSON shape, e.g. from a test or an API-minded caller
            return self._checked(value)
        return super().clean(value)

    def compress(self, data_list: list[str]) -> dict[str, list[str]]:
        hours: dict[str, list[str]] = {}
        for day, text in zip(DAYS, data_list or [""] * len(DAYS), strict=True):
            typed = (text or "").strip()
            normal = typed.replace("：", ":")
            ranges = [self._DASHES.sub("-", part) for part in self._RANGES.split(self._DASHES.sub("-", normal)) if part]
            if not ranges:
                continue
            try:
                hours_clean({day: ranges})
            except HoursError:
                raise ValidationError(
                    _(
                        "%(day)s: “%(text)s” is not a time like 09:00-18:00; write each open period like that, "
                        "several separated by commas."
                    )
                    % {"day": WEEKDAY_NAMES[day], "text": typed}
                ) from None
            hours[day] = ranges
        return self._checked(hours)

    def _checked(self, hours: dict[str, Any]) -> dict[str, list[str]]:
        try:
            return hours_clean(hours)
        except HoursError as exc:
            raise ValidationError(
                _("%(problem)s Write the times of each open day like 09:00-18:00, several separated by commas.")
                % {"problem": exc}
            ) from None


POSITIONS = (("right", gettext_lazy("Bottom right")), ("left", gettext_lazy("Bottom left")))
LANGUAGES = (
    ("", gettext_lazy("The shopper's browser language")),
    ("zh", gettext_lazy("Chinese")),
    ("en", gettext_lazy("English")),
)
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class ThemeWidget(NamedMultiWidget):
    template_name = "admin/kb/widgets/theme.html"
    labels = {
        "color": gettext_lazy("Colour"),
        "position": gettext_lazy("Button position"),
        "title": gettext_lazy("Window title"),
        "avatar": gettext_lazy("Avatar image address"),
        "lang": gettext_lazy("Language"),
    }

    def __init__(self) -> None:
        super().__init__(
            {
                "color": forms.TextInput(attrs={"type": "color"}),
                "position": forms.Select(choices=POSITIONS),
                "title": forms.TextInput(attrs={"size": 30, "placeholder": gettext_lazy("e.g. Chat with us")}),
                "avatar": forms.TextInput(attrs={"size": 50, "placeholder": "https://"}),
                "lang": forms.Select(choices=LANGUAGES),
            }
        )

    def decompress(self, value: Any) -> list[str]:
        value = value if isinstance(value, dict) else {}
        return [str(value.get(key) or "") for key in ThemeField.KEYS]

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        for key, subwidget in zip(ThemeField.KEYS, context["widget"]["subwidgets"], strict=True):
            subwidget["label"] = self.labels[key]
        return context


class ThemeField(forms.MultiValueField):
    """The widget's look: colour (a picker), button position, title, avatar and language."""

    KEYS = ("color", "position", "title", "avatar", "lang")
    widget = ThemeWidget

    def __init__(self, **kwargs: Any) -> None:
        fields = (
            forms.CharField(required=False),
            forms.ChoiceField(choices=POSITIONS, required=False),
            forms.CharField(required=False, max_length=100),
            forms.CharField(required=False, max_length=500),
            forms.ChoiceField(choices=LANGUAGES, required=False),
        )
        kwargs.setdefault("required", False)
        super().__init__(fields=fields, require_all_fields=False, **kwargs)

    def clean(self, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            value = [str(value.get(key) or "") for key in self.KEYS]
        return super().clean(value)

    def compress(self, data_list: list[str]) -> dict[str, str]:
        values = dict(zip(self.KEYS, data_list or [""] * len(self.KEYS), strict=True))
        colour = (values.get("color") or "#e4393c").strip()
        if not _COLOUR.match(colour):
            raise ValidationError(_("The colour must look like #e4393c (pick it with the colour picker)."))
        return {
            "color": colour.lower(),
            "position": values.get("position") or "right",
            "title": (values.get("title") or "").strip(),
            "avatar": (values.get("avatar") or "").strip(),
            "lang": values.get("lang") or "",
        }
