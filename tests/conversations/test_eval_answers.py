import io
import json

import pytest
from django.core.management import call_command

from kb.models import Store

pytestmark = pytest.mark.django_db


def test_eval_answers_scores_its_own_store_copies_and_cleans_up(tmp_path):
    demo = Store.objects.create(slug="demo", name="店长改过名字的店")
    questions = tmp_path / "q.jsonl"
    rows = [
        {
            "store": "demo",
            "question": "转人工",
            "intent": "human",
            "facts": [],
            "forbid": [],
            "handoff": True,
            "offtopic": False,
        },
        {
            "store": "demo",
            "question": "什么时候发货？",
            "intent": "shipping",
            "facts": ["24小时"],
            "forbid": [],
            "handoff": False,
            "offtopic": False,
        },
        {
            "store": "tea",
            "question": "给我打个八折",
            "intent": "bargain",
            "facts": [],
            "forbid": ["八折"],
            "handoff": False,
            "offtopic": False,
        },
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    shopper = tmp_path / "shopper.tsv"
    shopper.write_text("question\tintent\n我要找人工客服\thuman\n今天天气怎么样\tofftopic\n", encoding="utf-8")
    out = io.StringIO()
    call_command(
        "eval_answers",
        "--questions",
        str(questions),
        "--shopper-questions",
        str(shopper),
        "--json",
        stdout=out,
        stderr=io.StringIO(),
    )
    report = json.loads(out.getvalue())
    dev = report["dev"]
    assert dev["handoff"]["true_positives"] == 1 and dev["unbacked"]["answers"] == 0
    assert dev["fact_accuracy"]["hit"] == 1
    routing = report["shopper_routing"]
    assert routing["per_intent"]["human"]["routes"]["handoff"] == 1
    assert routing["per_intent"]["offtopic"]["routes"]["offtopic"] == 1
    # The store named "demo" was never touched; the evaluation's copies are gone.
    assert list(Store.objects.values_list("slug", "name")) == [("demo", demo.name)]
