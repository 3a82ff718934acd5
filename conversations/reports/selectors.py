"""Reads of the reports: the period asked for, each day's figures (stored rows, today live), the report."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from conversations.campaigns import selectors as campaign_selectors
from conversations.campaigns.models import ReminderSettings
from conversations.metrics import ConversationRow, DayFigures, day_figures, faq_usage, summarize
from conversations.models import CSAT, Conversation, ConversationEvent, Message
from conversations.reports.gaps import GapGroup, faq_gaps
from conversations.reports.models import DailyFigures
from conversations.selectors import conversation_log_rows
from kb.models import FaqEntry, Store

MAX_PERIOD_DAYS = 731  # two years
# Ratings, thumbs and returning shoppers arrive after a conversation ended: a day's row is recomputed
# while they can (a closed chat is shown for a day, a return within 7 days reopens it).
LATE_DATA_DAYS = 8


def store_time_zone(*, store: Store) -> ZoneInfo:
    """The store's time zone (its reminder settings'), else the project's."""
    name = ReminderSettings.objects.filter(store=store).values_list("time_zone", flat=True).first()
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def store_today(*, store: Store, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(store_time_zone(store=store)).date()


@dataclass(frozen=True)
class ReportPeriod:
    first: date
    last: date  # included
    tz: ZoneInfo

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def bounds(self, day: date | None = None, last: date | None = None) -> tuple[datetime, datetime]:
        """[start, end) of a day (or of the whole period) in the store's time zone."""
        first = day or self.first
        end_day = (last or day or self.last) + timedelta(days=1)
        return datetime.combine(first, time.min, tzinfo=self.tz), datetime.combine(end_day, time.min, tzinfo=self.tz)


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ApplicationError(
            _("%(name)s is not a date like 2026-03-01: %(value)s") % {"name": name, "value": value[:40]},
            extra={"code": "bad_date", "field": name},
        ) from None


def report_period_parse(
    *, store: Store, period: str = "", day: str = "", start: str = "", end: str = "", now: datetime | None = None
) -> ReportPeriod:
    """The period asked for: `day` or `week` (Monday to Sunday) around `day`, or `custom` from `start` to
    `end` (both included); by default the last 7 days up to today. Dates are days in the store's time zone."""
    tz = store_time_zone(store=store)
    today = store_today(store=store, now=now)
    period = period or ("custom" if start or end else "week7")
    if period in ("day", "week"):
        anchor = _date(day, "day") if day else today
        if period == "day":
            return ReportPeriod(anchor, anchor, tz)
        monday = anchor - timedelta(days=anchor.weekday())
        return ReportPeriod(monday, monday + timedelta(days=6), tz)
    if period == "week7":
        return ReportPeriod(today - timedelta(days=6), today, tz)
    if period != "custom":
        raise ApplicationError(
            _("period is day, week or custom, not %(value)s") % {"value": period[:20]},
            extra={"code": "bad_period", "field": "period"},
        )
    if not start or not end:
        raise ApplicationError(
            _("A custom period needs both start and end dates."), extra={"code": "bad_period", "field": "start"}
        )
    first, last = _date(start, "start"), _date(end, "end")
    if last < first:
        raise ApplicationError(
            _("The period ends (%(end)s) before it starts (%(start)s).") % {"start": first, "end": last},
            extra={"code": "reversed_period", "field": "end"},
        )
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise ApplicationError(
            _("A period is at most two years (%(max)s days).") % {"max": MAX_PERIOD_DAYS},
            extra={"code": "period_too_long", "field": "end"},
        )
    return ReportPeriod(first, last, tz)


def figures_compute(*, store: Store, start: datetime, end: datetime) -> DayFigures:
    """The figures of [start, end) from the conversation log of this store only."""
    ids = set(
        Message.objects.filter(conversation__store=store, created_at__gte=start, created_at__lt=end).values_list(
            "conversation_id", flat=True
        )
    )
    ids |= set(
        ConversationEvent.objects.filter(store=store, at__gte=start, at__lt=end).values_list(
            "conversation_id", flat=True
        )
    )
    ids |= set(
        CSAT.objects.filter(conversation__store=store, created_at__gte=start, created_at__lt=end).values_list(
            "conversation_id", flat=True
        )
    )
    messages, events = conversation_log_rows(conversation_ids=sorted(ids))
    ratings = {c: (s, at) for c, s, at in CSAT.objects.filter(conversation_id__in=ids).values_list(
        "conversation_id", "score", "created_at"
    )}  # fmt: skip
    own = list(Conversation.objects.filter(pk__in=ids, store=store).values_list("pk", "visitor_id", "closed_at"))
    visitors = {v for _, v, closed in own if closed is not None}
    later: dict[int, list[tuple[datetime, int]]] = {}
    if visitors:
        rows = (
            Conversation.objects.filter(store=store, visitor_id__in=visitors, messages__role=Message.Role.CUSTOMER)
            .values_list("visitor_id", "created_at", "pk")
            .distinct()
        )
        for visitor_id, created_at, pk in rows:
            later.setdefault(visitor_id, []).append((created_at, pk))
    conversations = []
    for pk, visitor_id, closed_at in own:
        back = [at for at, other in later.get(visitor_id, []) if other != pk and closed_at and at >= closed_at]
        score, rated_at = ratings.get(pk, (None, None))
        conversations.append(
            ConversationRow(id=pk, csat=score, csat_at=rated_at, came_back_at=min(back) if back else None)
        )
    return day_figures(conversations=conversations, messages=messages, events=events, start=start, end=end)


def daily_figures(*, store: Store, period: ReportPeriod, now: datetime | None = None) -> list[tuple[date, DayFigures]]:
    """Each day of the period: its stored row, or computed now (today, and a day no task has computed yet)."""
    today = store_today(store=store, now=now)
    stored = {
        row.day: DayFigures.from_json(row.figures)
        for row in DailyFigures.objects.filter(store=store, day__gte=period.first, day__lte=period.last)
    }
    result = []
    for day in period.days:
        if day > today:
            result.append((day, DayFigures()))
        elif day in stored and day < today:
            result.append((day, stored[day]))
        else:
            start, end = period.bounds(day)
            result.append((day, figures_compute(store=store, start=start, end=end)))
    return result


@dataclass(frozen=True)
class CampaignSection:
    key: str
    title: str
    rows: list[tuple[str, str, Any]]  # key, label, value


def campaign_sections(*, store: Store, start: datetime, end: datetime) -> list[CampaignSection]:
    """The campaign figures of the period: every campaign's section is added here, and only here."""
    reminders = campaign_selectors.campaign_figures(store=store, since=start, until=end)
    sections = [
        CampaignSection(
            "reminders",
            _("Cart reminders"),
            [
                ("sent", _("Reminders sent"), reminders.sent),
                ("clicked", _("Reminders clicked"), reminders.clicked),
                ("recovered", _("Orders recovered"), reminders.recovered),
                ("recovered_revenue", _("Revenue recovered"), reminders.recovered_revenue),
                ("ordered_after", _("Orders after a reminder, without a click"), reminders.ordered_after),
            ],
        )
    ]
    reviews = campaign_selectors.review_figures(store=store, start=start, end=end)
    sections.append(
        CampaignSection(
            "reviews",
            _("Review replies"),
            [
                ("bad_reviews", _("Reviews of 3 stars or fewer"), reviews.bad_reviews),
                ("replied", _("Of those, replied"), reviews.replied),
                ("reply_rate", _("Reply rate (3 stars or fewer)"), reviews.reply_rate),
                ("median_reply_minutes", _("Median time to reply (minutes)"), reviews.median_reply_minutes),
                ("drafts", _("Drafts written"), reviews.drafts),
                ("edited_share", _("Drafts edited before approval"), reviews.edited_share),
                ("validator_rejected", _("Drafts refused by the checks"), reviews.validator_rejected),
            ],
        )
    )
    return sections


@dataclass(frozen=True)
class Report:
    store: Store
    period: ReportPeriod
    summary: dict[str, Any]
    days: list[tuple[date, dict[str, Any]]]  # each day's summary, for the charts and the daily table
    figures: DayFigures  # the period's ids, for audit and the lists below
    faq_rows: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    campaigns: list[CampaignSection]
    gaps: list[GapGroup]  # the questions the bot could not answer, grouped
    in_progress: int  # conversations going on now (not ended, so in no outcome yet)


def report_build(*, store: Store, period: ReportPeriod, now: datetime | None = None) -> Report:
    per_day = daily_figures(store=store, period=period, now=now)
    total = DayFigures()
    for _day, figures in per_day:
        total = total.add(figures)
    start, end = period.bounds()
    return Report(
        store=store,
        period=period,
        summary=summarize(total),
        days=[(day, summarize(figures)) for day, figures in per_day],
        figures=total,
        faq_rows=_faq_rows(store=store, figures=total),
        comments=_comments(store=store, figures=total),
        campaigns=campaign_sections(store=store, start=start, end=end),
        gaps=faq_gaps(store=store, start=start, end=end),
        in_progress=Conversation.objects.filter(store=store, messages__role=Message.Role.CUSTOMER)
        .exclude(status=Conversation.Status.CLOSED)
        .distinct()
        .count(),
    )


def _faq_rows(*, store: Store, figures: DayFigures) -> list[dict[str, Any]]:
    """Every FAQ entry of the store with the period's answers that used it, their thumbs, the last one."""
    usage = faq_usage(figures)
    message_ids = [m for ids in figures.faq_answers.values() for m in ids]
    last_at = dict(
        Message.objects.filter(pk__in=message_ids, conversation__store=store)
        .values_list("pk", "created_at")
        .order_by("pk")
    )
    rows: list[dict[str, Any]] = []
    for entry in FaqEntry.objects.filter(store=store).order_by("question"):
        used = usage.get(entry.pk, {"hits": 0, "up": 0, "down": 0})
        times = [last_at[m] for m in figures.faq_answers.get(str(entry.pk), []) if m in last_at]
        rows.append(
            {
                "id": entry.pk,
                "question": entry.question,
                "enabled": entry.enabled,
                **used,
                "last_used": max(times, default=None),
            }
        )
    rows.sort(key=lambda r: (-r["hits"], r["question"]))
    return rows


def _comments(*, store: Store, figures: DayFigures) -> list[dict[str, Any]]:
    """The thumbs with a comment, newest first, with the answer they were about."""
    ids = [row[0] for row in figures.comments]
    answers = dict(Message.objects.filter(pk__in=ids, conversation__store=store).values_list("pk", "text"))
    return [
        {"message": m, "conversation": c, "value": v, "comment": comment, "answer": answers.get(m, "")}
        for m, c, v, comment in sorted(figures.comments, key=lambda row: -row[0])
        if m in answers
    ]


def latest_computed(*, store: Store) -> datetime | None:
    return DailyFigures.objects.filter(store=store).aggregate(at=Max("computed_at"))["at"]
