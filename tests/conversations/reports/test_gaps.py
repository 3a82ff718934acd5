"""The FAQ gap loop end to end with the real pipeline: questions the bot was not sure about are grouped with
what a person replied, the report's "make an FAQ entry" opens the entry form filled from the group, and once
the entry is saved the bot answers those questions from it."""

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.metrics import MessageRow
from conversations.models import Conversation, HandoffTicket
from conversations.reports.gaps import Unanswered, faq_gaps, group_alike, unanswered_in
from conversations.services.agents import message_create_agent, ticket_claim
from conversations.services.answers import ask_question
from conversations.services.widget import conversation_start, message_feedback_set, visitor_create
from kb.models import FaqEntry
from tests.kb.factories import FaqEntryFactory, StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db

INVOICE = ["可以开发票吗?", "能开发票吗", "可以开发票吗?"]
REPLY = "可以开电子发票，下单时在备注里写上抬头和税号即可。"


def _ask(store, text):
    conversation = conversation_start(store=store, visitor=visitor_create(store=store))
    return conversation, ask_question(conversation=conversation, text=text)


def test_an_unanswered_question_becomes_an_faq_entry_the_bot_then_uses(client):
    store = StoreFactory(slug="tea")
    FaqEntryFactory(store=store, question="什么时候发货?", answer="付款后24小时内发货。", keywords=["发货"])
    agent = StaffUserFactory(stores=[store])

    first = [_ask(store, text) for text in INVOICE]
    for _conversation, answer in first:
        assert answer["handoff"] and "unsure" in answer["flags"], answer  # nothing in the store's data says
    # A person takes the first one and answers it.
    conversation = first[0][0]
    ticket = HandoffTicket.objects.get(conversation=conversation)
    ticket_claim(ticket_id=ticket.pk, agent=agent)
    message_create_agent(conversation_id=conversation.pk, agent=agent, text=REPLY)

    now = timezone.now()
    groups = faq_gaps(store=store, start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    assert len(groups) == 1
    group = groups[0]
    assert (group.question, group.count, group.agent_reply) == ("可以开发票吗?", 3, REPLY)

    # The report's button opens the FAQ entry form filled from the group.
    client.force_login(agent)
    page = client.get(reverse("admin:reports_store_report", args=["tea"]))
    link = next(href for g, href in page.context["gaps"] if g.question == group.question)
    form = client.get(link)
    assert form.status_code == 200
    fields = form.context["adminform"].form.initial
    assert (
        fields["question"] == "可以开发票吗?" and fields["answer"] == REPLY and "能开发票吗" in fields["alt_questions"]
    )
    query = {k: v[0] for k, v in parse_qs(urlparse(link).query).items()}
    saved = client.post(
        reverse("admin:kb_faqentry_add"),
        {**query, "keywords": "发票", "mode": "direct", "category": "invoice", "enabled": "on"},
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    entry = FaqEntry.objects.get(store=store, question="可以开发票吗?")

    # The same questions are now answered by the bot, from the new entry, without a person.
    for text in INVOICE:
        _conversation, answer = _ask(store, text)
        assert (answer["source"], answer["faq_id"], answer["handoff"]) == ("faq", entry.pk, False)
        assert answer["answer"] == REPLY


def test_a_thumbs_down_counts_as_unanswered_and_another_store_never_shows():
    store, other = StoreFactory(slug="tea"), StoreFactory(slug="toys")
    faq = FaqEntryFactory(store=store, question="什么时候发货?", answer="付款后24小时内发货。", keywords=["发货"])
    conversation, answer = _ask(store, "什么时候发货?")
    assert answer["faq_id"] == faq.pk
    bot = conversation.messages.filter(role="bot").get()
    message_feedback_set(conversation=conversation, message_id=bot.pk, value="down", comment="要具体日期")
    _ask(other, "可以开发票吗?")
    now = timezone.now()
    groups = faq_gaps(store=store, start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    assert [(g.question, [i.why for i in g.items]) for g in groups] == [("什么时候发货?", ["thumbs_down"])]
    assert Conversation.objects.filter(store=other).count() == 1


def test_questions_group_by_the_words_they_share():
    items = [
        Unanswered(i, i, text, "unsure")
        for i, text in enumerate(["能开发票吗", "可以开发票吗?", "支持退货吗", "退货怎么办"])
    ]
    groups = group_alike(items)
    assert sorted(sorted(i.text for i in g.items) for g in groups)[0] == ["可以开发票吗?", "能开发票吗"]
    assert all(len(g.items) <= 2 for g in groups)


def test_only_the_first_reply_decides_and_a_persons_reply_is_kept():
    t = timezone.now()
    rows = [
        MessageRow(1, 1, "customer", t, text="能开发票吗"),
        MessageRow(2, 1, "bot", t + timedelta(seconds=1), source="handoff", flags=("unsure",)),
        MessageRow(3, 1, "agent", t + timedelta(seconds=9), source="agent", text=REPLY),
        MessageRow(4, 1, "customer", t + timedelta(seconds=20), text="好的谢谢"),
        MessageRow(5, 1, "bot", t + timedelta(seconds=21), source="template"),
    ]
    assert unanswered_in(rows) == [Unanswered(1, 1, "能开发票吗", "unsure", REPLY)]
