"""Seven conversations of one day with known outcomes, played through the real services, then moved to
fixed times (one minute per step) so every figure has one right value."""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import F, Q
from django.utils import timezone

from conversations.models import CSAT, Conversation, ConversationEvent, Message
from conversations.services.agents import conversation_close_by_agent, message_create_agent, ticket_claim
from conversations.services.handoff import (
    conversation_hand_off,
    conversation_request_human,
    conversations_close_idle,
    ticket_contact_set,
)
from conversations.services.messages import message_create_bot, message_create_customer
from conversations.services.widget import (
    conversation_close_by_shopper,
    conversation_start,
    csat_submit,
    message_feedback_set,
    visitor_create,
)
from kb.models import FaqEntry
from tests.kb.factories import FaqEntryFactory, StaffUserFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class Day:
    store: Any
    agent: Any
    day: date
    faq: Any
    c: dict[str, Conversation] = field(default_factory=dict)
    m: dict[str, Message] = field(default_factory=dict)


def _bot(conversation, text, source, *, flags=(), matched=(), ttft_ms=None):
    return message_create_bot(
        conversation_id=conversation.pk,
        job_id=uuid.uuid4().hex,
        text=text,
        source=source,
        flags=list(flags),
        matched=list(matched),
        ttft_ms=ttft_ms,
        total_ms=ttft_ms,
    )


def _new(store):
    return conversation_start(store=store, visitor=visitor_create(store=store))


def _retime(conversation: Conversation, start: datetime) -> None:
    """Every row of the conversation, in the order it was written, one minute after the other."""
    rows: list[tuple[datetime, int, str, Any]] = []
    rows += [(m.created_at, 0, "m", m) for m in conversation.messages.all()]
    rows += [(e.at, 1, "e", e) for e in ConversationEvent.objects.filter(conversation=conversation)]
    rows += [(r.created_at, 2, "r", r) for r in CSAT.objects.filter(conversation=conversation)]
    rows.sort(key=lambda row: (row[0], row[1], row[3].pk))
    for step, (_at, _kind, kind, row) in enumerate(rows):
        at = start + timedelta(minutes=step)
        if kind == "m":
            Message.objects.filter(pk=row.pk).update(created_at=at)
        elif kind == "e":
            ConversationEvent.objects.filter(pk=row.pk).update(at=at)
            if row.kind == "close":
                Conversation.objects.filter(pk=conversation.pk).update(closed_at=at)
        else:
            CSAT.objects.filter(pk=row.pk).update(created_at=at)
    Conversation.objects.filter(pk=conversation.pk).update(created_at=start - timedelta(seconds=30))


def play_day(store, *, day: date | None = None) -> Day:
    agent = StaffUserFactory(stores=[store])
    faq = FaqEntry.objects.filter(store=store, question="什么时候发货?").first() or FaqEntryFactory(
        store=store, question="什么时候发货?", answer="付款后24小时内发货。"
    )
    matched = [{"kind": "faq", "id": faq.pk, "title": faq.question, "score": 3.2}]
    today = timezone.now().astimezone(SHANGHAI).date()
    d = Day(store=store, agent=agent, day=day or today - timedelta(days=1), faq=faq)
    c, m = d.c, d.m

    # c1: an FAQ answer, thumbs up, the shopper ends the chat: bot resolved, confirmed.
    c["c1"] = _new(store)
    message_create_customer(conversation=c["c1"], text="什么时候发货?")
    m["c1"] = _bot(c["c1"], faq.answer, "faq", matched=matched, ttft_ms=20)
    message_feedback_set(conversation=c["c1"], message_id=m["c1"].pk, value="up")
    conversation_close_by_shopper(conversation=c["c1"])
    # c2: a model answer, then the shopper leaves (the sweep): bot resolved, assumed.
    c["c2"] = _new(store)
    message_create_customer(conversation=c["c2"], text="这件T恤会起球吗?")
    m["c2"] = _bot(c["c2"], "纯棉面料不易起球。", "llm", ttft_ms=400)
    # c3: the bot is not sure, a person claims it and answers, then ends it; rated 2: handed off.
    c["c3"] = _new(store)
    message_create_customer(conversation=c["c3"], text="能开发票吗?")
    _bot(c["c3"], "这个问题我不太确定。", "handoff", flags=["unsure"], ttft_ms=15)
    ticket = conversation_hand_off(conversation=c["c3"], reason="bot_unsure")
    ticket_claim(ticket_id=ticket.pk, agent=agent)
    message_create_agent(conversation_id=c["c3"].pk, agent=agent, text="可以开电子发票。")
    conversation_close_by_agent(conversation_id=c["c3"].pk, agent=agent)
    csat_submit(conversation=c["c3"], score=2)
    # c4: the line is busy, the shopper asks for a person and leaves before one comes: abandoned waiting.
    c["c4"] = _new(store)
    message_create_customer(conversation=c["c4"], text="尺码怎么选?")
    m["c4"] = _bot(c["c4"], "当前咨询的顾客较多，请稍后再试。", "template", flags=["busy"])
    conversation_request_human(conversation=c["c4"])
    # c5: nobody answered before the shopper left: abandoned before an answer.
    c["c5"] = _new(store)
    message_create_customer(conversation=c["c5"], text="在吗")
    # c6: the guardrail replaced a claim and got a person; the shopper left a phone number: handed off.
    c["c6"] = _new(store)
    message_create_customer(conversation=c["c6"], text="能便宜点吗?")
    m["c6"] = _bot(c["c6"], "价格以页面为准。", "guardrail", ttft_ms=300)
    conversation_hand_off(conversation=c["c6"], reason="guardrail")
    ticket_contact_set(conversation=c["c6"], value="13800138000")
    # c7: an FAQ answer with a thumbs down and a comment, then a 5: bot resolved, confirmed.
    c["c7"] = _new(store)
    message_create_customer(conversation=c["c7"], text="发货用什么快递?")
    m["c7"] = _bot(c["c7"], faq.answer, "faq", matched=matched, ttft_ms=30)
    message_feedback_set(conversation=c["c7"], message_id=m["c7"].pk, value="down", comment="没说快递公司")
    conversation_close_by_shopper(conversation=c["c7"])
    csat_submit(conversation=c["c7"], score=5)

    # The shoppers of c2, c4, c5 and c6 left: a day later the sweep ends their chats.
    left = Q(conversation__in=[c["c2"], c["c4"], c["c5"], c["c6"]])
    Message.objects.filter(left).update(created_at=F("created_at") - timedelta(hours=25))
    ConversationEvent.objects.filter(left).update(at=F("at") - timedelta(hours=25))
    assert conversations_close_idle(now=timezone.now()) == 4
    for hour, key in enumerate(sorted(c), start=9):
        _retime(c[key], datetime.combine(d.day, time(hour), tzinfo=SHANGHAI))
        c[key].refresh_from_db()
    return d
