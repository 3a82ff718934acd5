"""The store page's test chat runs the real pipeline on the store's data and says why it answered so;
nothing it asks is recorded (no figure counts it), and staff can only try their own stores."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from conversations.models import Conversation, Message, Visitor
from kb.models import Store
from tests.kb.factories import FaqEntryFactory, StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(client):
    store = StoreFactory(slug="tea")
    faq = FaqEntryFactory(store=store, question="什么时候发货?", answer="付款后24小时内发货。", keywords=["发货"])
    client.force_login(StaffUserFactory(stores=[store]))
    return store, faq


def _try(client, store, question):
    url = reverse("admin:kb_store_try_answer", args=[store.pk])
    return client.post(url, json.dumps({"question": question}), content_type="application/json")


def test_an_faq_answer_names_its_entry_and_score_and_is_not_recorded(client, shop):
    store, faq = shop
    data = _try(client, store, "什么时候发货?").json()
    assert (data["answer"], data["source"], data["route"], data["handoff"]) == (faq.answer, "faq", "faq", False)
    assert [(m["kind"], m["id"]) for m in data["matched"]] == [("faq", faq.pk)]
    assert data["links"][f"faq_{faq.pk}"] == reverse("admin:kb_faqentry_change", args=[faq.pk])
    assert (Visitor.objects.count(), Conversation.objects.count(), Message.objects.count()) == (0, 0, 0)


def test_an_unanswerable_question_says_so_and_offers_a_prefilled_entry(client, shop):
    store, _faq = shop
    data = _try(client, store, "可以开发票吗?").json()
    assert data["route"] == "unsure" and data["handoff"] and data["matched"] == []
    form = client.get(data["links"]["faq_add"])
    assert form.context["adminform"].form.initial["question"] == "可以开发票吗?"


def test_only_your_stores_and_only_questions(client, shop):
    _store, _faq = shop
    other = StoreFactory(slug="toys")
    assert _try(client, other, "什么时候发货?").status_code == 404
    store = shop[0]
    assert _try(client, store, "").status_code == 400
    assert _try(client, store, "问" * 501).status_code == 400
    bad = client.post(reverse("admin:kb_store_try_answer", args=[store.pk]), "{", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["message"]
    assert client.get(reverse("admin:kb_store_try_answer", args=[store.pk])).status_code == 405


@pytest.mark.model
def test_a_model_answer_is_generated_and_guarded(client):
    call_command("load_demo", stdout=io.StringIO())
    demo = Store.objects.get(slug="demo")
    client.force_login(StaffUserFactory(stores=[demo]))
    data = _try(client, demo, "碎花连衣裙适合什么场合穿？").json()
    # The model's answer, or (when it was broken) the entry the pipeline matched.
    assert data["route"] == "llm" and data["answer"].strip() and data["ttft_ms"] is not None
    assert data["source"] in ("llm", "guardrail") or "fallback" in data["flags"], data
    assert any(m["kind"] == "product" for m in data["matched"]), data["matched"]
    assert Message.objects.count() == 0
