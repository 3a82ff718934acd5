"""A store's business hours: when its people answer chats.

Stored on the store as JSON, one key per weekday that is open, each with its time ranges:
`{"mon": ["09:00-18:00"], "sat": ["10:00-12:00", "13:00-16:00"]}`. Days left out are closed; an empty
object means no set hours (people answer whenever they are online). A range whose end is not after
its start runs past midnight ("20:00-02:00"). Times are in the project's time zone (TIME_ZONE).
"""

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_RANGE = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-4]):([0-5]\d)\s*$")


class HoursError(ValueError):
    pass


@dataclass(frozen=True)
class Span:
    start: time
    end: time | None  # None: until midnight ("24:00")

    @property
    def overnight(self) -> bool:
        return self.end is not None and self.end <= self.start

    def text(self) -> str:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"


def parse_hours(value: Any) -> dict[str, list[Span]]:
    """The hours as spans per weekday; HoursError names what is wrong."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise HoursError(_('Business hours are a JSON object like {"mon": ["09:00-18:00"]}.'))
    unknown = [key for key in value if key not in DAYS]
    if unknown:
        raise HoursError(_("Unknown weekday %(day)r; use %(days)s.") % {"day": unknown[0], "days": ", ".join(DAYS)})
    hours: dict[str, list[Span]] = {}
    for day in DAYS:
        if day not in value:
            continue
        ranges = value[day]
        if isinstance(ranges, str):
            ranges = [ranges]
        if not isinstance(ranges, list) or not all(isinstance(r, str) for r in ranges):
            raise HoursError(_('%(day)s: a list of ranges like ["09:00-18:00"].') % {"day": day})
        if not ranges:
            raise HoursError(_("%(day)s: give at least one range, or leave the day out (closed).") % {"day": day})
        spans = []
        for text in ranges:
            match = _RANGE.match(text)
            if match is None:
                raise HoursError(_('%(day)s: %(text)r is not a range like "09:00-18:00".') % {"day": day, "text": text})
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h2 == 24 and m2:
                raise HoursError(_("%(day)s: %(text)r ends after 24:00.") % {"day": day, "text": text})
            end = None if h2 == 24 else time(h2, m2)
            if end == time(h1, m1):
                raise HoursError(_("%(day)s: %(text)r is empty.") % {"day": day, "text": text})
            spans.append(Span(start=time(h1, m1), end=end))
        hours[day] = spans
    return hours


def hours_clean(value: Any) -> dict[str, list[str]]:
    """The hours in their stored shape (normalised), or HoursError."""
    return {day: [span.text() for span in spans] for day, spans in parse_hours(value).items()}


def is_open(value: Any, at: datetime | None = None) -> bool:
    """Whether `at` (default: now) falls in the business hours; no set hours means always open."""
    try:
        hours = parse_hours(value)
    except HoursError:
        return True  # a broken setting must not lock shoppers out of people; the admin refuses to save one
    if not hours:
        return True
    local = timezone.localtime(at or timezone.now())
    now = local.time()
    today = DAYS[local.weekday()]
    yesterday = DAYS[(local - timedelta(days=1)).weekday()]
    for span in hours.get(today, []):
        if span.end is None or span.overnight:
            if now >= span.start:
                return True
        elif span.start <= now < span.end:
            return True
    return any(span.overnight and span.end is not None and now < span.end for span in hours.get(yesterday, []))


def hours_text(value: Any) -> str:
    """Business hours for shoppers, days with the same hours grouped: 周一至周五 09:00-18:00；周六 10:00-16:00."""
    try:
        hours = parse_hours(value)
    except HoursError:
        return ""
    groups: list[tuple[int, int, str]] = []
    for index, day in enumerate(DAYS):
        if day not in hours:
            continue
        ranges = "、".join(span.text() for span in hours[day])
        if groups and groups[-1][1] == index - 1 and groups[-1][2] == ranges:
            groups[-1] = (groups[-1][0], index, ranges)
        else:
            groups.append((index, index, ranges))
    parts = []
    for first, last, ranges in groups:
        days = DAY_NAMES_ZH[first] if first == last else f"{DAY_NAMES_ZH[first]}至{DAY_NAMES_ZH[last]}"
        parts.append(f"{days} {ranges}")
    return "；".join(parts)
