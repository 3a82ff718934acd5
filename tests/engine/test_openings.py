"""Turn openings evaluated ahead (engine.openings): they must open a turn exactly as `decide()` renders it,
or no chat's prompt would ever begin with their tokens."""

import json
from pathlib import Path

import pytest

from engine.knowledge import snapshot_from_file
from engine.openings import opening_request, opening_turns
from engine.pipeline import decide
from engine.prompt import QUESTION_LABEL, REFERENCE_HEADER

ROOT = Path(__file__).resolve().parents[2]


def _store(path: str):
    return snapshot_from_file(json.loads((ROOT / path).read_text("utf-8")))


@pytest.fixture(scope="module")
def demo():
    return _store("kb/demo/demo_store.json")


@pytest.fixture(scope="module")
def tea():
    return _store("tests/eval/store_tea.json")


def _shared(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _best_opening(store, turn: str) -> str:
    return max(opening_turns(store, limit=1000), key=lambda opening: _shared(opening, turn))


@pytest.mark.parametrize(
    ("store", "question"),
    [("demo", "收到的T恤有破洞怎么办？"), ("tea", "龙井泡几次比较好"), ("demo", "衣服洗了会缩水吗")],
)
def test_a_turn_that_goes_to_the_model_opens_exactly_as_its_first_entrys_opening(request, store, question):
    snapshot = request.getfixturevalue(store)
    decision = decide(store=snapshot, question=question)
    assert decision.kind == "generate"
    first_reference = decision.user_content.split("\n[2] ")[0].split("\n>>>")[0]
    opening = _best_opening(snapshot, decision.user_content)
    # The whole first reference: only the rest of the turn (other entries, the question) is left to evaluate.
    assert decision.user_content.startswith(opening.split("\n>>>")[0])
    assert opening.split("\n>>>")[0] == first_reference


def test_a_product_reference_focused_on_the_question_still_opens_as_its_product(demo):
    decision = decide(store=demo, question="经典纯棉圆领T恤适合多高的人穿M码？")
    assert decision.kind == "generate"
    opening = _best_opening(demo, decision.user_content)
    shared = decision.user_content[: _shared(opening, decision.user_content)]
    # The header, the product's name, price and stock come ahead; the lines picked for the question do not.
    assert shared.startswith(REFERENCE_HEADER) and "经典纯棉圆领T恤" in shared and "120件" in shared
    assert "165-172cm" not in shared and "165-172cm" in decision.user_content


def test_a_request_for_copy_opens_as_its_products_copy_opening(demo):
    decision = decide(store=demo, question="帮我给经典纯棉圆领T恤写一段商品描述")
    assert decision.kind == "generate" and decision.route == "copy"
    opening = _best_opening(demo, decision.user_content)
    shared = decision.user_content[: _shared(opening, decision.user_content)]
    # The product's whole row came ahead: only the request's own instruction is left.
    assert shared.startswith(REFERENCE_HEADER) and shared.endswith(">>>\n")
    assert decision.user_content[len(shared) :].startswith("请为上面这件商品写")


def test_every_entry_and_product_of_the_store_has_one_opening_up_to_the_limit(demo):
    turns = opening_turns(demo, limit=1000)
    entries = len(demo.faqs) + len(demo.products) + len(demo.promotions)
    assert len(turns) == entries + len(demo.products)
    assert all(t.startswith(REFERENCE_HEADER) and t.endswith(QUESTION_LABEL) for t in turns[:entries])
    assert all(t.endswith(">>>\n") for t in turns[entries:])
    assert opening_turns(demo, limit=5) == turns[:5]
    assert opening_turns(demo, limit=0) == []


def test_an_opening_is_a_one_token_background_job_over_the_store_prefix():
    request = opening_request("店铺规则", "参考资料", key="opening-7-0")
    assert request.max_tokens == 1 and request.priority > 0 and not request.prompt_lookup
    assert request.messages == [{"role": "system", "content": "店铺规则"}, {"role": "user", "content": "参考资料"}]
    assert request.conversation_key == "opening-7-0"
