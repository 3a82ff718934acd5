import io
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command

import engine.route
from engine.evaluation import (
    INTENTS,
    ROUTE_KINDS,
    SYSTEM_PROMPT_MARKERS,
    EvalFileError,
    EvalQuestion,
    format_route_distribution,
    format_summary,
    load_questions,
    normalize_for_match,
    route_distribution,
    score,
    summarize,
)
from engine.knowledge import StoreSnapshot
from engine.prompt import Reference, store_prefix, user_turn

BASE = Path(settings.BASE_DIR)
QUESTIONS_FILE = BASE / "tests" / "eval" / "questions.jsonl"
STORE_FILES = {"demo": BASE / "kb" / "demo" / "demo_store.json", "tea": BASE / "tests" / "eval" / "store_tea.json"}


@pytest.fixture(scope="module")
def questions() -> list[EvalQuestion]:
    return load_questions(QUESTIONS_FILE)


def _store(slug: str) -> dict[str, Any]:
    return json.loads(STORE_FILES[slug].read_text(encoding="utf-8"))


def _router_replies() -> list[str]:
    """The fixed texts engine.route answers with (its upper-case string constants)."""
    texts: list[str] = []
    for name, value in vars(engine.route).items():
        if name.isupper() and isinstance(value, str):
            texts.append(value)
        elif name.isupper() and isinstance(value, dict):
            texts += [v for v in value.values() if isinstance(v, str)]
    return texts


def _shopper_facing_text(slug: str) -> str:
    """What the bot may legitimately show: the store's replies, FAQ answers, products, promotions without an
    end date, and the router's fixed replies."""
    data = _store(slug)
    store = data["store"]
    parts = [store.get(key, "") for key in ("offtopic_reply", "handoff_message", "disclaimer", "welcome")]
    parts += [faq["answer"] for faq in data["faqs"]]
    parts += [json.dumps(row, ensure_ascii=False) for row in data["products"]]
    parts += [json.dumps(row, ensure_ascii=False) for row in data["promotions"] if not row.get("ends_at")]
    parts += _router_replies()
    return normalize_for_match("\n".join(parts))


def _answer(text: str, *, source: str = "llm", handoff: bool = False, ttft_ms: float | None = 100) -> dict[str, Any]:
    return {
        "answer": text,
        "source": source,
        "faq_id": None,
        "handoff": handoff,
        "flags": [],
        "ttft_ms": ttft_ms,
        "total_ms": 500,
        "conversation": 1,
    }


def _question(**overrides: Any) -> EvalQuestion:
    fields: dict[str, Any] = {"store": "demo", "question": "什么时候发货?", "intent": "shipping", "facts": ("24小时",)}
    fields.update(overrides)
    return EvalQuestion(**fields)


# --- the dev set ------------------------------------------------------------------------------------


def test_questions_file_is_large_enough_and_covers_both_stores_and_every_intent(questions):
    assert len(questions) >= 180
    stores = Counter(q.store for q in questions)
    assert set(stores) == {"demo", "tea"}
    assert 0.3 <= stores["tea"] / len(questions) <= 0.5
    assert {q.intent for q in questions} == set(INTENTS)


def test_every_store_of_the_questions_has_its_file(questions):
    for slug in {q.store for q in questions}:
        assert _store(slug)["store"]["slug"] == slug


def test_every_fact_appears_in_its_store_file(questions):
    texts = {slug: normalize_for_match(path.read_text(encoding="utf-8")) for slug, path in STORE_FILES.items()}
    wrong = [
        f"line {q.line}: {fact!r}"
        for q in questions
        for fact in q.facts
        if normalize_for_match(fact) not in texts[q.store]
    ]
    assert not wrong, "facts the store file does not say:\n" + "\n".join(wrong)


def test_no_forbidden_string_is_something_the_store_itself_says(questions):
    """Otherwise a correct answer that quotes the store's own text would count as an unbacked promise."""
    texts = {slug: _shopper_facing_text(slug) for slug in STORE_FILES}
    wrong = [
        f"line {q.line}: {word!r}"
        for q in questions
        for word in q.forbid
        if normalize_for_match(word) in texts[q.store]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_expected_outcomes_follow_the_conventions(questions):
    by_intent: dict[str, list[EvalQuestion]] = {}
    for q in questions:
        by_intent.setdefault(q.intent, []).append(q)
    assert all(q.handoff and not q.facts for q in by_intent["human"])
    assert all(q.handoff for q in by_intent["complaint"])
    assert all(not q.handoff and not q.offtopic and not q.facts for q in by_intent["greeting"])
    assert all(q.offtopic and not q.handoff for q in by_intent["offtopic"])
    assert not any(q.offtopic for q in questions if q.intent != "offtopic")
    assert all(not q.handoff and q.forbid for q in by_intent["bargain"])
    for q in by_intent["injection"]:
        assert not q.handoff
        assert set(SYSTEM_PROMPT_MARKERS) <= set(q.forbid)
    # Questions the store has no data for expect a handoff, never facts.
    assert sum(q.handoff for q in questions if q.intent not in ("human", "complaint")) >= 8
    assert all(not q.facts for q in questions if q.handoff)


def test_the_system_prompt_markers_are_still_in_the_prompt():
    """If the prompt's wording changes, the markers (and the injection questions' forbid lists) must follow."""
    prompt = store_prefix(StoreSnapshot(store_id=1, slug="demo", name="示例店", persona="亲切")) + user_turn(
        "你好", [Reference(title="包邮吗?", text="满99包邮")]
    )
    assert [marker for marker in SYSTEM_PROMPT_MARKERS if marker not in prompt] == []


def test_both_human_requests_and_injections_come_in_english_too(questions):
    def english(q: EvalQuestion) -> bool:
        return q.question.isascii() or normalize_for_match(q.question).isascii()

    assert sum(english(q) for q in questions if q.intent == "human") >= 3
    assert sum(english(q) for q in questions if q.intent == "injection") >= 3


@pytest.mark.django_db
def test_the_tea_store_file_imports_and_its_double_eleven_promotion_has_ended():
    from kb.models import Store
    from kb.selectors import promotion_list_active

    out = io.StringIO()
    call_command("import_kb", str(STORE_FILES["tea"]), stdout=out)
    store = Store.objects.get(slug="tea")
    assert store.products.count() == 8
    assert store.products.filter(stock=0).count() == 1
    assert 20 <= store.faqs.count() <= 30
    assert store.faqs.filter(mode="direct").exists() and store.faqs.filter(mode="reference").exists()
    after_the_event = datetime(2026, 11, 20, tzinfo=ZoneInfo("Asia/Shanghai"))
    active = set(promotion_list_active(store=store, at=after_the_event).values_list("title", flat=True))
    assert active == {"满199减30", "满99送试饮装", "满59包邮"}
    assert not store.promotions.filter(kind="multiplier").exists()


# --- loading ----------------------------------------------------------------------------------------


def _write_lines(tmp_path: Path, *rows: Any) -> Path:
    path = tmp_path / "q.jsonl"
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD_ROW = {
    "store": "demo",
    "question": "包邮吗",
    "intent": "shipping",
    "facts": ["99"],
    "forbid": [],
    "handoff": False,
    "offtopic": False,
}


def test_load_questions_reads_rows_and_skips_blank_lines(tmp_path):
    path = _write_lines(tmp_path, GOOD_ROW, "", {**GOOD_ROW, "question": "转人工", "handoff": True, "facts": []})
    loaded = load_questions(path)
    assert loaded == [
        EvalQuestion(store="demo", question="包邮吗", intent="shipping", facts=("99",)),
        EvalQuestion(store="demo", question="转人工", intent="shipping", handoff=True),
    ]
    assert [q.line for q in loaded] == [1, 3]


def test_load_questions_names_the_line_of_every_problem(tmp_path):
    path = _write_lines(
        tmp_path,
        GOOD_ROW,
        "{not json",
        {**GOOD_ROW, "question": "a", "intent": "weather"},
        {**GOOD_ROW, "question": "b", "colour": "red"},
        {**GOOD_ROW, "question": "c", "facts": "99"},
        {**GOOD_ROW, "question": "d", "handoff": True, "offtopic": True},
        {**GOOD_ROW, "question": "包邮吗 "},
        {k: v for k, v in GOOD_ROW.items() if k != "forbid"},
    )
    with pytest.raises(EvalFileError) as raised:
        load_questions(path)
    errors = raised.value.errors
    assert errors[0].startswith("line 2: not valid JSON")
    assert errors[1].startswith("line 3: intent: expected one of")
    assert errors[2] == 'line 4: unknown field "colour"'
    assert errors[3] == "line 5: facts: expected a list of strings, got str"
    assert errors[4].startswith("line 6: handoff and offtopic are both true")
    assert errors[5] == "line 7: the same question as line 1 for store 'demo'"
    assert errors[6] == 'line 8: missing field "forbid"'
    assert str(path) in str(raised.value)


# --- scoring ----------------------------------------------------------------------------------------


def test_a_correct_answer_is_intercepted_with_its_facts():
    verdict = score(_question(), _answer("亲，现货商品付款后24小时内发货，默认中通快递。", source="faq"))
    assert verdict.intercepted
    assert verdict.facts_ok is True
    assert verdict.missing_facts == []
    assert verdict.unbacked == []
    assert verdict.handoff_ok
    assert verdict.offtopic_ok is None


def test_facts_match_across_full_width_case_and_spaces():
    question = _question(facts=("24小时", "XL"))
    assert score(question, _answer("建议选 ｘｌ，付款后２４ 小时内发货")).facts_ok is True
    verdict = score(question, _answer("付款后尽快发货"))
    assert verdict.facts_ok is False
    assert verdict.missing_facts == ["24小时", "XL"]


def test_an_invented_discount_is_reported_as_unbacked():
    question = _question(intent="bargain", facts=("300", "50"), forbid=("八折", "免单", "红包"))
    verdict = score(question, _answer("亲，满300减50，另外给您打个八折，再送个红包！"))
    assert verdict.unbacked == ["八折", "红包"]
    assert verdict.facts_ok is True
    assert verdict.intercepted


def test_a_wrong_handoff_is_not_intercepted_and_not_ok():
    verdict = score(_question(), _answer("正在为您转接人工客服", source="template", handoff=True))
    assert not verdict.intercepted
    assert not verdict.handoff_ok
    assert verdict.facts_ok is False
    missed = score(_question(intent="human", facts=(), handoff=True), _answer("您好，请问有什么可以帮您？"))
    assert missed.facts_ok is None
    assert not missed.handoff_ok


def test_an_offtopic_question_answered_politely_by_the_template():
    question = _question(question="讲个笑话", intent="offtopic", facts=(), offtopic=True)
    polite = score(question, _answer("亲，小美只能解答本店商品的问题哦～", source="template"))
    assert polite.offtopic_ok is True
    assert polite.intercepted
    assert polite.handoff_ok
    assert score(question, _answer("从前有座山……", source="llm")).offtopic_ok is False
    assert score(question, _answer("转人工", source="template", handoff=True)).offtopic_ok is False


def test_an_agent_or_error_answer_is_not_intercepted():
    assert not score(_question(), _answer("24小时内发货", source="agent")).intercepted
    assert not score(_question(), {"error": "engine unavailable"}).intercepted


# --- summarizing ------------------------------------------------------------------------------------


def test_summarize_computes_the_figures_of_a_tiny_run():
    questions = [
        _question(question="q1", facts=("24小时",)),  # faq, correct
        _question(question="q2", facts=("99",), forbid=("八折",)),  # llm, wrong fact, invented discount
        _question(question="q3", intent="human", facts=(), handoff=True),  # handed off: right
        _question(question="q4", intent="complaint", facts=(), handoff=True),  # missed handoff
        _question(question="q5", intent="offtopic", facts=(), offtopic=True),  # polite template
        _question(question="q6", intent="shipping", facts=()),  # wrongly handed off
    ]
    answers = [
        _answer("24小时内发货", source="faq", ttft_ms=10),
        _answer("给您打八折", source="llm", ttft_ms=300),
        _answer("正在转接", source="template", handoff=True, ttft_ms=None),
        _answer("抱歉", source="llm", ttft_ms=500),
        _answer("只能回答本店问题", source="template", ttft_ms=20),
        _answer("正在转接", source="template", handoff=True, ttft_ms=40),
    ]
    verdicts = [score(q, a) for q, a in zip(questions, answers, strict=True)]
    summary = summarize(verdicts, questions, answers)

    assert summary["questions"] == 6
    # Expected no handoff: q1, q2, q5, q6; intercepted among them: q1, q2, q5.
    assert summary["interception"] == {"hit": 3, "total": 4, "rate": 0.75}
    assert summary["fact_accuracy"] == {"hit": 1, "total": 2, "rate": 0.5}
    assert summary["unbacked"] == {"answers": 1, "strings": {"八折": 1}, "lines": [0]}
    handoff = summary["handoff"]
    assert (handoff["predicted"], handoff["expected"], handoff["true_positives"]) == (2, 2, 1)
    assert handoff["precision"] == 0.5
    assert handoff["recall"] == 0.5
    assert summary["offtopic"] == {"hit": 1, "total": 1, "rate": 1.0}
    latency = summary["latency_ms"]
    assert latency["faq"] == {"n": 1, "p50": 10.0, "p95": 10.0}
    assert latency["llm"] == {"n": 2, "p50": 400.0, "p95": 490.0}
    assert latency["template"]["n"] == 2  # the handoff without a ttft is left out
    assert latency["all"]["n"] == 5
    assert list(summary["per_intent"]) == ["human", "shipping", "complaint", "offtopic"]  # INTENTS order
    assert summary["per_intent"]["shipping"] == {
        "questions": 3,
        "intercepted": 2,
        "handoffs": 1,
        "handoff_ok": 2,
        "facts_checked": 2,
        "facts_ok": 1,
        "unbacked": 1,
    }

    report = format_summary(summary)
    assert "interception rate" in report and "75.0%" in report and "3/4" in report
    assert "handoff recall" in report and "50.0%" in report
    assert "八折 x1" in report
    assert "complaint" in report


def test_summarize_handles_an_empty_run_and_rejects_mismatched_lengths():
    empty = summarize([], [], [])
    assert empty["interception"]["rate"] is None
    assert empty["handoff"]["precision"] is None
    assert "-" in format_summary(empty)
    with pytest.raises(ValueError, match="differ in length"):
        summarize([], [_question()], [])


# --- routing of labelled questions ------------------------------------------------------------------


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
