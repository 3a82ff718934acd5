"""The evaluation's questions file: what it holds (dev and held-out splits), and how the loader checks it."""

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
    MAX_HISTORY,
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
STORE_FILES = {
    "demo": BASE / "kb" / "demo" / "demo_store.json",
    "tea": BASE / "tests" / "eval" / "store_tea.json",
    "skincare": BASE / "tests" / "eval" / "store_skincare.json",
}
NEW_INTENTS = {"usage", "family", "copywriting"}


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


def test_the_dev_split_is_large_enough_and_covers_every_store(questions):
    dev = [q for q in questions if q.split == "dev"]
    assert len(dev) >= 190
    stores = Counter(q.store for q in dev)
    assert set(stores) == set(STORE_FILES)
    assert 0.3 <= stores["tea"] / len(dev) <= 0.5
    assert stores["skincare"] >= 10
    assert {q.intent for q in dev} >= set(INTENTS) - NEW_INTENTS
    assert {q.intent for q in questions} == set(INTENTS)


# --- the held-out split -------------------------------------------------------------------------------


def test_the_held_out_split_covers_every_store_with_enough_cases(questions):
    heldout = [q for q in questions if q.split == "heldout"]
    stores = Counter(q.store for q in heldout)
    assert set(stores) == set(STORE_FILES)
    assert min(stores.values()) >= 40
    assert sum(bool(q.history) for q in heldout) >= 20
    assert sum(bool(q.product) for q in heldout) >= 15
    for slug in STORE_FILES:
        mine = [q for q in heldout if q.store == slug]
        assert sum(bool(q.history) for q in mine) >= 5, slug
        assert sum(bool(q.product) for q in mine) >= 5, slug
        assert sum(q.question.isascii() for q in mine) >= 4, slug
        intents = {q.intent for q in mine}
        assert {"stock", "price", "family", "promotion", "returns", "complaint", "bargain", "greeting"} <= intents
        assert {"offtopic", "human", "injection", "copywriting", "usage"} <= intents, slug


def test_the_held_out_questions_are_not_dev_questions(questions):
    """A held-out case that is a dev question word for word would have been tuned on."""
    dev = {(q.store, normalize_for_match(q.question)) for q in questions if q.split == "dev" and not q.history}
    again = [
        f"line {q.line}"
        for q in questions
        if q.split == "heldout"
        and not q.history
        and not q.product
        and (q.store, normalize_for_match(q.question)) in dev
    ]
    assert not again


def test_every_product_page_of_the_questions_is_a_product_the_store_sells(questions):
    skus = {slug: {p["sku"] for p in _store(slug)["products"] if p.get("is_active", True)} for slug in STORE_FILES}
    wrong = [f"line {q.line}: {q.product}" for q in questions if q.product and q.product not in skus[q.store]]
    assert not wrong


def test_every_history_is_a_short_conversation_of_shopper_messages(questions):
    with_history = [q for q in questions if q.history]
    assert all(1 <= len(q.history) <= MAX_HISTORY for q in with_history)
    # The earlier messages are not questions that should end the conversation with a person.
    assert not [q.line for q in with_history for turn in q.history if "人工" in turn]


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
    assert all(not q.handoff and q.facts and q.forbid for q in by_intent["copywriting"])
    # A kind with several products: the answer names them, or gives the asked value of each.
    assert all(not q.handoff and q.facts for q in by_intent["family"])
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
    # English questions that ask about the shop are asked with the shop intents, and come for every store.
    for slug in STORE_FILES:
        shop = [q for q in questions if q.store == slug and english(q) and q.intent not in ("greeting", "human")]
        assert len(shop) >= 3, slug


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


@pytest.mark.django_db
def test_the_skincare_store_file_imports_with_a_family_of_creams_a_sold_out_item_and_a_member_promotion():
    from kb.models import Store
    from kb.selectors import promotion_list_active

    out = io.StringIO()
    call_command("import_kb", str(STORE_FILES["skincare"]), stdout=out)
    store = Store.objects.get(slug="skincare")
    assert 8 <= store.products.count() <= 12
    sold_out = store.products.get(stock=0)
    assert "12月15日" in sold_out.shipping_note
    assert store.products.filter(name__contains="面霜").count() == 3
    assert 10 <= store.faqs.count() <= 15
    assert store.faqs.filter(mode="direct").exists() and store.faqs.filter(mode="reference").exists()
    active = promotion_list_active(store=store, at=datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Shanghai")))
    assert {p.kind for p in active} == {"free_shipping", "threshold_off", "multiplier", "gift"}
    assert list(store.promotions.filter(member_only=True).values_list("title", flat=True)) == ["会员9折"]
    # The store's attribute keys are not clothing or tea words.
    keys = {key for attributes in store.products.values_list("attributes", flat=True) for key in attributes}
    assert {"适用肤质", "容量", "保质期", "续航"} <= keys and not keys & {"尺码", "面料", "产地"}


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


def test_load_questions_reads_the_split_the_product_in_view_and_the_history(tmp_path):
    path = _write_lines(
        tmp_path,
        GOOD_ROW,
        {**GOOD_ROW, "question": "有现货吗", "split": "heldout", "product": "TS-001"},
        {**GOOD_ROW, "question": "有现货吗", "split": "heldout", "product": "TS-002"},
        {**GOOD_ROW, "question": "那L码呢", "split": "heldout", "history": ["T恤M码胸围多少", "有货吗"]},
        {**GOOD_ROW, "question": "那L码呢", "split": "heldout", "history": ["连衣裙M码腰围多少"]},
    )
    loaded = load_questions(path)
    assert [(q.split, q.product, q.history) for q in loaded] == [
        ("dev", "", ()),
        ("heldout", "TS-001", ()),
        ("heldout", "TS-002", ()),
        ("heldout", "", ("T恤M码胸围多少", "有货吗")),
        ("heldout", "", ("连衣裙M码腰围多少",)),
    ]


def test_load_questions_rejects_a_bad_split_product_or_history(tmp_path):
    path = _write_lines(
        tmp_path,
        {**GOOD_ROW, "question": "a", "split": "test"},
        {**GOOD_ROW, "question": "b", "product": ""},
        {**GOOD_ROW, "question": "c", "product": 12},
        {**GOOD_ROW, "question": "d", "history": "你好"},
        {**GOOD_ROW, "question": "e", "history": []},
        {**GOOD_ROW, "question": "f", "history": ["你好", ""]},
        {**GOOD_ROW, "question": "g", "history": ["x"] * (MAX_HISTORY + 1)},
        {**GOOD_ROW, "question": "有现货吗", "product": "TS-001"},
        {**GOOD_ROW, "question": "有现货吗 ", "product": "TS-001"},
    )
    with pytest.raises(EvalFileError) as raised:
        load_questions(path)
    assert raised.value.errors == [
        "line 1: split: expected one of dev, heldout, got 'test'",
        "line 2: product: expected a product SKU, got ''",
        "line 3: product: expected a product SKU, got 12",
        "line 4: history: expected a list of strings, got str",
        f"line 5: history: expected 1 to {MAX_HISTORY} earlier messages, got 0",
        "line 6: history[1]: expected a non-empty string",
        f"line 7: history: expected 1 to {MAX_HISTORY} earlier messages, got {MAX_HISTORY + 1}",
        "line 9: the same question as line 8 for store 'demo' in the same context",
    ]


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
