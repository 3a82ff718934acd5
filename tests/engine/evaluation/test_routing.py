"""Where the pipeline's first steps send labelled questions, and how that is reported."""

import json
from pathlib import Path

import pytest
from django.conf import settings

from engine.evaluation.report import format_route_distribution
from engine.evaluation.routing import ROUTE_KINDS, route_distribution, route_kind
from engine.knowledge import snapshot_from_file
from engine.pipeline import decide

DEMO_FILE = Path(settings.BASE_DIR) / "kb" / "demo" / "demo_store.json"


def test_route_distribution_reports_the_headline_shares():
    rows = [
        ("转人工", "human"),
        ("找客服", "human"),
        ("你好", "greeting"),
        ("讲个笑话", "offtopic"),
        ("太差了我要投诉", "complaint"),
        ("垃圾", "complaint"),
        ("什么时候发货", "shipping"),
        ("天气热发货吗", "shipping"),
    ]
    routes = {
        "转人工": "handoff",
        "找客服": "continue",
        "你好": "greeting",
        "讲个笑话": "offtopic",
        "太差了我要投诉": "complaint",
        "垃圾": "handoff",
        "什么时候发货": "faq",
        "天气热发货吗": "offtopic",
    }
    d = route_distribution(rows, routes.__getitem__)
    assert d["rows"] == 8
    assert d["human_handoff_recall"] == {"hit": 1, "total": 2, "rate": 0.5}
    assert d["offtopic_handled"]["rate"] == 1.0
    assert d["greeting_accuracy"]["rate"] == 1.0
    assert d["complaint_handoff_rate"] == {"hit": 2, "total": 2, "rate": 1.0}
    assert d["shop_to_offtopic"] == {"hit": 1, "total": 7, "rate": 1 / 7}
    assert d["per_intent"]["shipping"] == {"n": 2, "routes": dict.fromkeys(ROUTE_KINDS, 0) | {"faq": 1, "offtopic": 1}}
    report = format_route_distribution(d)
    assert "explicit-human handoff recall" in report and "50.0%" in report
    assert "shipping" in report


def test_route_distribution_rejects_an_unknown_route_kind():
    with pytest.raises(ValueError, match="'weather'"):
        route_distribution([("x", "other")], lambda q: "weather")


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("转人工", "handoff"),
        ("你好", "greeting"),
        ("能便宜点吗", "boundary"),
        ("今天天气怎么样", "offtopic"),
        ("太差了，我要投诉", "complaint"),
        ("什么时候发货？", "faq"),
        # Past the router and the keyword trigger: size advice, a product's facts, the unsure
        # handoff (the bot's, not the shopper's) and the model all count as "continue".
        ("纯棉T恤身高170体重60kg穿什么码", "continue"),
        ("纯棉T恤多少钱", "continue"),
        ("你们有实体店吗", "continue"),
        ("连衣裙是什么面料的？", "continue"),
    ],
)
def test_route_kind_of_the_pipelines_decision_on_the_demo_store(question, kind):
    store = snapshot_from_file(json.loads(DEMO_FILE.read_text(encoding="utf-8")))
    assert route_kind(decide(store=store, question=question)) == kind
