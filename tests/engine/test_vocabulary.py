"""A store of any kind is understood from its own data: its goods' questions reach the knowledge base, whatever
chit-chat words they contain, while its shoppers' real chit-chat stays off-topic. No database, no model."""

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from engine.knowledge import FaqFact, ProductFact, PromotionFact, StoreSnapshot, snapshot_from_file
from engine.pipeline import decide
from engine.route import route
from engine.vocabulary import store_vocabulary

ROOT = Path(__file__).resolve().parents[2]
OFFTOPIC = "抱歉，我只负责童趣玩具屋的玩具问题哦。"


def _toy(id: int, sku: str, name: str, price: str, **attributes: str) -> ProductFact:
    return ProductFact(id=id, sku=sku, name=name, price=Decimal(price), stock=20, attributes=tuple(attributes.items()))


# A shop of a third kind, nothing like the clothing and tea stores the rules were first written for.
TOY_SHOP = StoreSnapshot(
    store_id=31,
    slug="toys",
    name="童趣玩具屋",
    offtopic_reply=OFFTOPIC,
    products=(
        _toy(1, "TOY-MB-100", "磁力积木100片", "199", 材质="ABS塑料", 适用年龄="3岁以上"),
        _toy(2, "TOY-RC-01", "遥控越野车", "259", 电池="5号电池4节", 防水="生活防水"),
        _toy(3, "TOY-PL-02", "毛绒小熊公仔", "89", 填充="PP棉"),
        _toy(4, "TOY-PZ-03", "木质拼图", "59", 片数="500片"),
    ),
    faqs=(
        FaqFact(id=1, question="积木有异味吗?", answer="积木为食品级ABS塑料，无异味。", keywords=("异味", "安全")),
        FaqFact(
            id=2,
            question="遥控车能在雨天玩吗?",
            answer="遥控越野车为生活防水，小雨可以玩，不要泡水。",
            keywords=("防水", "泡水"),
        ),
        FaqFact(id=3, question="公仔可以机洗吗?", answer="毛绒公仔建议手洗，阴干。", keywords=("机洗", "手洗")),
    ),
    promotions=(PromotionFact(id=1, title="积木节满200减20", kind="threshold_off", threshold=Decimal(200)),),
)


@pytest.fixture(scope="module")
def tea() -> StoreSnapshot:
    return snapshot_from_file(json.loads((ROOT / "tests" / "eval" / "store_tea.json").read_text("utf-8")))


@pytest.fixture(scope="module")
def demo() -> StoreSnapshot:
    return snapshot_from_file(json.loads((ROOT / "kb" / "demo" / "demo_store.json").read_text("utf-8")))


def test_a_tea_shops_question_about_its_tea_is_no_chit_chat(tea, demo):
    # 天气/下雨 are chit-chat words; 红茶 is no product of the tea shop, but tea is what it sells.
    for question in ("下雨天适合喝红茶吗", "天气冷了喝普洱好还是白茶好"):
        assert route(question, store=tea).kind == "continue"
    # The clothing store sells no tea: there, it is chit-chat.
    assert route("下雨天适合喝红茶吗", store=demo).kind == "offtopic"


@pytest.mark.parametrize(
    "question",
    [
        "下雨天遥控越野车能在外面玩吗",
        "磁力积木能帮孩子学数学吗",
        "今天天气好，带毛绒小熊去公园会弄脏吗",
        "拼图适合旅游的时候带着玩吗",
        "积木有异味吗？孩子玩游戏的时候会放嘴里",
    ],
)
def test_a_toy_shops_questions_about_its_goods_reach_the_knowledge_base(question):
    assert route(question, store=TOY_SHOP).kind == "continue"
    assert decide(store=TOY_SHOP, question=question).route != "offtopic"


def test_a_toy_shops_goods_are_answered_from_its_data_despite_chit_chat_words():
    decision = decide(store=TOY_SHOP, question="下雨天遥控越野车多少钱")
    assert (decision.route, decision.source) == ("product", "template")
    assert "259元" in decision.text


@pytest.mark.parametrize(
    "question",
    ["讲个笑话", "今天天气怎么样", "明天会下雨吗", "推荐一部好看的电影", "帮我写一段python代码", "你还会唱歌吗"],
)
def test_a_toy_shops_real_chit_chat_stays_off_topic(question):
    assert route(question, store=TOY_SHOP).reply == OFFTOPIC
    assert decide(store=TOY_SHOP, question=question).route == "offtopic"


def test_a_product_added_to_the_knowledge_base_makes_its_questions_shop_questions():
    question = "今天天气好，小黄鸭雨靴好看吗"
    assert route(question, store=TOY_SHOP).kind == "offtopic"
    added = replace(TOY_SHOP, products=(*TOY_SHOP.products, _toy(9, "TOY-RB-09", "小黄鸭防滑雨靴", "79")))
    assert route(question, store=added).kind == "continue"


def test_the_vocabulary_holds_the_stores_words_not_generic_ones(tea):
    terms = store_vocabulary(tea).terms
    assert {"大红袍", "龙井", "绿豆糕", "茉莉花茶", "保质期", "试饮装"} <= terms
    # Time words of its FAQ ("今天拍明天能发吗"), numbers, single characters, and words across two words of
    # its text (天下 in 今天下单) would make anything a question for the shop.
    assert not {"今天", "明天", "天下", "还会", "茶", "250g", "199"} & terms
    assert store_vocabulary(tea).kinds == {"茶"}


def test_chit_chat_words_in_a_stores_data_are_no_store_terms():
    umbrellas = replace(
        TOY_SHOP, products=(_toy(1, "UM-01", "晴雨两用折叠伞", "69", 适用="下雨天气"),), faqs=(), promotions=()
    )
    assert not {"下雨", "天气", "下雨天"} & store_vocabulary(umbrellas).terms
    assert route("明天下雨吗", store=umbrellas).kind == "offtopic"
    assert route("下雨天折叠伞会漏水吗", store=umbrellas).kind == "continue"


def test_the_vocabulary_is_built_once_per_snapshot():
    assert store_vocabulary(TOY_SHOP) is store_vocabulary(TOY_SHOP)
    edited = replace(TOY_SHOP, version="2")
    assert store_vocabulary(edited) is not store_vocabulary(TOY_SHOP)
