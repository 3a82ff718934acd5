import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import conversations.management.commands.eval_answers as eval_answers
from kb.models import Store

pytestmark = pytest.mark.django_db


def _row(store: str, question: str, intent: str, **extra: Any) -> dict[str, Any]:
    row = {"store": store, "question": question, "intent": intent, "facts": [], "forbid": []}
    return {**row, "handoff": False, "offtopic": False, **extra}


def _write(tmp_path, rows: list[dict[str, Any]]):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def _run(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("eval_answers", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


# Every question below is answered without the model: the router, a keyword FAQ entry, the boundary reply.
ROWS = [
    _row("demo", "转人工", "human", handoff=True),
    _row("demo", "什么时候发货？", "shipping", facts=["24小时"]),
    _row("tea", "给我打个八折", "bargain", forbid=["八折"]),
    _row("skincare", "什么时候发货？", "shipping", facts=["24小时"], split="heldout"),
    _row(
        "skincare",
        "包邮吗？",
        "shipping",
        facts=["89"],
        split="heldout",
        product="MS-101",
        history=["你好", "什么时候发货？"],
    ),
    _row("tea", "什么时候发货？", "shipping", facts=["24小时"], split="heldout"),  # the tea store says 48小时
]


def test_eval_answers_scores_its_own_store_copies_and_cleans_up(tmp_path):
    demo = Store.objects.create(slug="demo", name="店长改过名字的店")
    shopper = tmp_path / "shopper.tsv"
    shopper.write_text("question\tintent\n我要找人工客服\thuman\n今天天气怎么样\tofftopic\n", encoding="utf-8")
    report = _run("--questions", str(_write(tmp_path, ROWS)), "--shopper-questions", str(shopper))
    answers = report["answers"]
    whole = answers["all"]
    assert whole["questions"] == 6
    assert whole["handoff"]["true_positives"] == 1 and whole["unbacked"]["answers"] == 0
    assert whole["fact_accuracy"] == {"hit": 3, "total": 4, "rate": 0.75}
    assert whole["echoes"]["answers"] == 0
    assert answers["by_split"]["dev"]["questions"] == 3
    assert answers["by_split"]["heldout"]["fact_accuracy"] == {"hit": 2, "total": 3, "rate": 2 / 3}
    assert answers["by_store_split"]["tea"]["heldout"]["fact_accuracy"]["hit"] == 0
    assert answers["by_store_split"]["skincare"]["heldout"]["fact_accuracy"]["rate"] == 1.0
    assert set(answers["by_store_split"]["skincare"]) == {"heldout"}
    routing = report["shopper_routing"]
    assert routing["per_intent"]["human"]["routes"]["handoff"] == 1
    assert routing["per_intent"]["offtopic"]["routes"]["offtopic"] == 1
    # The store named "demo" was never touched; the evaluation's copies are gone.
    assert list(Store.objects.values_list("slug", "name")) == [("demo", demo.name)]


def test_eval_answers_asks_the_history_first_in_the_same_conversation_on_the_product_page(tmp_path, monkeypatch):
    asked: list[tuple[int, str, str]] = []
    real_ask = eval_answers.ask_question

    def ask_and_record(*, conversation, text):
        conversation.refresh_from_db()
        asked.append((conversation.pk, conversation.product_sku, text))
        return real_ask(conversation=conversation, text=text)

    monkeypatch.setattr(eval_answers, "ask_question", ask_and_record)
    report = _run("--questions", str(_write(tmp_path, ROWS)), "--split", "heldout", "--store", "skincare")
    assert report["answers"]["all"]["questions"] == 2
    assert [(sku, text) for _, sku, text in asked] == [
        ("", "什么时候发货？"),
        ("MS-101", "你好"),
        ("MS-101", "什么时候发货？"),
        ("MS-101", "包邮吗？"),
    ]
    conversations = [pk for pk, _, _ in asked]
    assert conversations[0] != conversations[1] == conversations[2] == conversations[3]
    # Only the last message of a case is scored: its answer holds the free-shipping threshold.
    assert report["answers"]["all"]["fact_accuracy"]["hit"] == 2
    assert not Store.objects.exists()


def test_eval_answers_prints_the_figures_per_store_and_split(tmp_path):
    out = io.StringIO()
    call_command("eval_answers", "--questions", str(_write(tmp_path, ROWS)), stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    rows = {line.split("  ")[0] for line in text.splitlines()}
    assert {"all", "dev", "heldout", "demo dev", "tea dev", "tea heldout", "tea all", "skincare heldout"} <= rows
    assert "echoes" in text


def test_eval_answers_refuses_an_unknown_store_or_product_page_and_keeps_nothing(tmp_path):
    path = _write(tmp_path, ROWS)
    with pytest.raises(CommandError, match="unknown store 'shoes'"):
        _run("--questions", str(path), "--store", "shoes")
    with pytest.raises(CommandError, match="no question matches"):
        _run("--questions", str(path), "--split", "heldout", "--store", "demo")
    wrong = _write(tmp_path, [*ROWS, _row("skincare", "有现货吗", "stock", split="heldout", product="NOPE-1")])
    with pytest.raises(CommandError, match=r"line 7: 'NOPE-1'"):
        _run("--questions", str(wrong))
    assert not Store.objects.exists()
