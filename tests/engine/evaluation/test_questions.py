"""The dev evaluation's questions file: what it holds, and how the loader checks it."""

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
from engine.evaluation.questions import (
    INTENTS,
    SYSTEM_PROMPT_MARKERS,
    EvalFileError,
    EvalQuestion,
    load_questions,
    normalize_for_match,
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
