"""A day of seven conversations with known outcomes, played through the real services: every figure
comes out exactly, the period's summary agrees with its days, and the stored rows agree with live ones."""

from datetime import timedelta
from decimal import Decimal

import pytest

from conversations.metrics import OUTCOME_BUCKETS
from conversations.models import Conversation, ConversationEvent
from conversations.reports.models import DailyFigures
from conversations.reports.selectors import ReportPeriod, report_build, store_time_zone
from conversations.reports.services import daily_figures_compute, daily_figures_refresh
from conversations.services.messages import message_create_customer
from conversations.services.widget import conversation_start
from tests.conversations.reports.scenario import SHANGHAI, play_day
from tests.kb.factories import StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def day():
    return play_day(StoreFactory(slug="shop-a"))


def _report(d, first=None, last=None):
    period = ReportPeriod(first or d.day, last or d.day, store_time_zone(store=d.store))
    return report_build(store=d.store, period=period)


def test_each_conversation_ends_in_the_outcome_its_log_gives(day):
    outcomes = {key: (c.outcome, c.status) for key, c in day.c.items()}
    assert outcomes == {
        "c1": ("bot_resolved", "closed"),
        "c2": ("bot_resolved", "closed"),
        "c3": ("handed_off", "closed"),
        "c4": ("abandoned", "closed"),
        "c5": ("abandoned", "closed"),
        "c6": ("handed_off", "closed"),
        "c7": ("bot_resolved", "closed"),
    }
    closes = ConversationEvent.objects.filter(kind="close", store=day.store)
    assert closes.count() == 7
    assert set(closes.filter(outcome="abandoned").values_list("detail", flat=True)) == {"waiting", "before_answer"}
    kinds = list(ConversationEvent.objects.filter(conversation=day.c["c3"]).values_list("kind", flat=True))
    assert kinds == ["handoff", "claim", "close"]


def test_every_figure_of_the_day_is_exact(day):
    s = _report(day).summary
    c = day.c
    assert s["conversations"] == 7
    assert {b: s["outcomes"][b]["count"] for b in OUTCOME_BUCKETS} == {
        "bot_resolved_confirmed": 2,  # c1 (thumbs up), c7 (rated 5)
        "bot_resolved_assumed": 1,  # c2
        "handed_off": 2,  # c3 (claimed), c6 (contact left)
        "abandoned_before_answer": 1,  # c5
        "abandoned_waiting": 1,  # c4
    }
    shares = [s["outcomes"][b]["share"] for b in OUTCOME_BUCKETS]
    assert shares == [Decimal("28.6"), Decimal("14.3"), Decimal("28.5"), Decimal("14.3"), Decimal("14.3")]
    assert sum(shares) == Decimal("100.0")
    # Questions: one per conversation; the bot answered c1, c2 and c7 itself.
    assert (s["questions"], s["intercepted"], s["interception_rate"]) == (7, 3, Decimal("0.4286"))
    assert s["bot_resolution"] == {
        "rate": Decimal("0.4286"),
        "confirmed": Decimal("0.2857"),
        "assumed": Decimal("0.1429"),
    }
    handoff = s["handoff"]
    assert (handoff["count"], handoff["rate"]) == (3, Decimal("0.4286"))
    assert {r: v["count"] for r, v in handoff["by_reason"].items()} == {
        "shopper_asked": 0,
        "bot_unsure": 1,  # c3
        "complaint": 0,
        "guardrail": 1,  # c6
        "bot_busy": 1,  # c4 asked for a person right after "the line is busy"
    }
    assert s["csat"] == {
        "mean": Decimal("3.50"),
        "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1},
        "responses": 2,
    }
    assert s["thumbs"] == {"up": 1, "down": 1, "up_share": Decimal("0.5000")}
    assert s["first_token_ms"] == {
        "faq": {"p50": 25.0, "p95": 29.5, "count": 2},
        "guardrail": {"p50": 300.0, "p95": 300.0, "count": 1},
        "handoff": {"p50": 15.0, "p95": 15.0, "count": 1},
        "llm": {"p50": 400.0, "p95": 400.0, "count": 1},
    }
    # c3: question, unsure reply, handoff, claim, "agent joined" line, agent's reply, close, rating.
    # The bot's reply and the system line do not count as the person's response.
    assert s["human_first_response_s"] == {"p50": 180.0, "p90": 180.0, "mean": Decimal("180.00"), "count": 1}
    assert s["handling_s"] == {"p50": 180.0, "p90": 180.0, "mean": Decimal("180.00"), "count": 1}
    assert (s["guardrail_trips"], s["busy_refusals"]) == (1, 1)
    assert s["reopened"] == {"count": 0, "rate": Decimal("0.0000")}
    report = _report(day)
    assert sorted(report.figures.outcomes["bot_resolved_confirmed"]) == sorted([c["c1"].pk, c["c7"].pk])
    assert report.comments == [
        {
            "message": day.m["c7"].pk,
            "conversation": c["c7"].pk,
            "value": "down",
            "comment": "没说快递公司",
            "answer": day.faq.answer,
        }
    ]
    faq_row = next(r for r in report.faq_rows if r["id"] == day.faq.pk)
    assert (faq_row["hits"], faq_row["up"], faq_row["down"]) == (2, 1, 1)
    assert faq_row["last_used"] == day.m["c7"].__class__.objects.get(pk=day.m["c7"].pk).created_at


def test_a_shopper_back_within_7_days_reopens_and_later_does_not(day):
    for key, days_later in (("c2", 3), ("c5", 8)):
        closed = Conversation.objects.get(pk=day.c[key].pk)
        again = conversation_start(store=day.store, visitor=closed.visitor)
        message_create_customer(conversation=again, text="上次的问题还没解决")
        Conversation.objects.filter(pk=again.pk).update(created_at=closed.closed_at + timedelta(days=days_later))
    s = _report(day).summary
    assert s["reopened"] == {"count": 1, "rate": Decimal("0.1429")}
    assert _report(day).figures.reopened == [day.c["c2"].pk]


def test_the_summary_of_a_week_agrees_with_its_days_and_the_stored_rows(day):
    week_first = day.day - timedelta(days=3)
    live = _report(day, week_first, day.day + timedelta(days=1))
    totals = {b: sum(d["outcomes"][b]["count"] for _, d in live.days) for b in OUTCOME_BUCKETS}
    assert totals == {b: live.summary["outcomes"][b]["count"] for b in OUTCOME_BUCKETS}
    assert sum(d["questions"] for _, d in live.days) == live.summary["questions"] == 7
    for back in range(4):
        daily_figures_compute(store=day.store, day=week_first + timedelta(days=back))
    assert DailyFigures.objects.filter(store=day.store).count() == 4
    stored = _report(day, week_first, day.day + timedelta(days=1))
    assert stored.summary == live.summary
    assert stored.days == live.days


def test_the_refresh_task_recomputes_late_data(day):
    from conversations.services.widget import csat_submit

    daily_figures_refresh(now=day.c["c7"].closed_at + timedelta(days=1))
    assert _report(day).summary["bot_resolution"]["confirmed"] == Decimal("0.2857")
    # A late rating of 4 turns c2's assumed resolution into a confirmed one once the row is recomputed.
    csat_submit(conversation=day.c["c2"], score=4)
    from conversations.models import CSAT

    CSAT.objects.filter(conversation=day.c["c2"]).update(created_at=day.c["c2"].closed_at + timedelta(hours=1))
    daily_figures_refresh(now=day.c["c7"].closed_at + timedelta(days=2))
    s = _report(day).summary
    assert s["outcomes"]["bot_resolved_confirmed"]["count"] == 3
    assert s["outcomes"]["bot_resolved_assumed"]["count"] == 0


def test_the_days_are_the_stores_days(day):
    assert store_time_zone(store=day.store) == SHANGHAI
    # 09:00 in Shanghai is 01:00 UTC: still the same day in the store's time zone.
    assert day.c["c1"].closed_at.astimezone(SHANGHAI).date() == day.day
