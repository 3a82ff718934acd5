"""The report's tables, the same for the page and the CSV export (one CSV per table)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from conversations.metrics import HANDOFF_REASONS, OUTCOME_BUCKETS
from conversations.reports.selectors import Report

OUTCOME_LABELS: dict[str, Promise] = {
    "bot_resolved_confirmed": _("Bot resolved, confirmed"),
    "bot_resolved_assumed": _("Bot resolved, assumed"),
    "handed_off": _("Handed off"),
    "abandoned_before_answer": _("Abandoned before an answer"),
    "abandoned_waiting": _("Abandoned while waiting"),
}
REASON_LABELS: dict[str, Promise] = {
    "shopper_asked": _("Shopper asked"),
    "bot_unsure": _("Bot unsure"),
    "complaint": _("Complaint"),
    "guardrail": _("Safety rule"),
    "bot_busy": _("Bot busy"),
}


def percent(value: Decimal | None) -> str:
    """A fraction as a percentage with one decimal; "-" when there was nothing to divide by."""
    return "-" if value is None else f"{value * 100:.1f}%"


def blank(value: Any) -> Any:
    return "-" if value is None else value


def _local(at: datetime | None, report: Report) -> str:
    return at.astimezone(report.period.tz).strftime("%Y-%m-%d %H:%M") if at else "-"


@dataclass(frozen=True)
class Table:
    key: str
    title: Promise
    headers: list[Any]
    rows: list[list[Any]]


def report_tables(report: Report) -> list[Table]:
    s = report.summary
    daily = [
        [
            day.isoformat(),
            d["conversations"],
            *(d["outcomes"][b]["count"] for b in OUTCOME_BUCKETS),
            d["questions"],
            d["intercepted"],
            percent(d["interception_rate"]),
            blank(d["csat"]["mean"]),
            d["csat"]["responses"],
            d["thumbs"]["up"],
            d["thumbs"]["down"],
            d["guardrail_trips"],
            d["busy_refusals"],
        ]
        for day, d in report.days
    ]
    tables = [
        Table(
            "daily",
            _("Day by day"),
            [
                _("Day"),
                _("Conversations"),
                *(OUTCOME_LABELS[b] for b in OUTCOME_BUCKETS),
                _("Questions"),
                _("Intercepted"),
                _("Interception rate"),
                _("Mean rating"),
                _("Ratings"),
                _("Thumbs up"),
                _("Thumbs down"),
                _("Guardrail trips"),
                _("Busy refusals"),
            ],
            daily,
        ),
        Table(
            "outcomes",
            _("Outcomes"),
            [_("Outcome"), _("Conversations"), _("Share")],
            [[OUTCOME_LABELS[b], s["outcomes"][b]["count"], f"{s['outcomes'][b]['share']}%"] for b in OUTCOME_BUCKETS],
        ),
        Table(
            "handoffs",
            _("Handoffs by reason"),
            [_("Reason"), _("Conversations"), _("Rate")],
            [
                [REASON_LABELS[r], s["handoff"]["by_reason"][r]["count"], percent(s["handoff"]["by_reason"][r]["rate"])]
                for r in HANDOFF_REASONS
            ],
        ),
        Table(
            "csat",
            _("Ratings"),
            [_("Score"), _("Ratings")],
            [[score, count] for score, count in s["csat"]["distribution"].items()],
        ),
        Table(
            "first_token",
            _("First token by source"),
            [_("Source"), _("Answers"), _("p50 (ms)"), _("p95 (ms)")],
            [[src, v["count"], blank(v["p50"]), blank(v["p95"])] for src, v in s["first_token_ms"].items()],
        ),
        Table(
            "faq",
            _("FAQ entries"),
            [_("Entry"), _("Question"), _("Answers"), _("Thumbs up"), _("Thumbs down"), _("Last used")],
            [
                [
                    r["id"],
                    r["question"],
                    r["hits"],
                    r["up"],
                    r["down"],
                    _local(r["last_used"], report),
                ]
                for r in report.faq_rows
            ],
        ),
        Table(
            "comments",
            _("Thumbs with comments"),
            [_("Conversation"), _("Message"), _("Thumb"), _("Comment"), _("Answer")],
            [[c["conversation"], c["message"], c["value"], c["comment"], c["answer"]] for c in report.comments],
        ),
        Table(
            "gaps",
            _("Questions the bot could not answer"),
            [_("Question"), _("Times asked"), _("Other phrasings"), _("A person's reply")],
            [
                [g.question, g.count, " | ".join(e for e in g.examples if e != g.question), g.agent_reply]
                for g in report.gaps
            ],
        ),
        Table(
            "campaigns",
            _("Campaigns"),
            [_("Campaign"), _("Figure"), _("Value")],
            [[section.title, label, value] for section in report.campaigns for _key, label, value in section.rows],
        ),
    ]
    return tables
