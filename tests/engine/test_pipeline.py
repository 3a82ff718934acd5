"""The pipeline's decisions on the demo store's data (no database, no model)."""

import dataclasses
import json
from pathlib import Path

import pytest

from engine.knowledge import snapshot_from_file
from engine.pipeline import decide, focus
from engine.prompt import POINTER_LABEL, prefix_entries, store_prefix

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    return snapshot_from_file(json.loads((ROOT / "kb" / "demo" / "demo_store.json").read_text("utf-8")))


@pytest.fixture(scope="module")
def tea():
    return snapshot_from_file(json.loads((ROOT / "tests" / "eval" / "store_tea.json").read_text("utf-8")))


def test_stock_and_price_of_a_named_product_come_from_its_row(demo, tea):
    out_of_stock = decide(store=demo, question="冰感速干运动T恤还有货吗")
    assert out_of_stock.kind == "direct" and out_of_stock.source == "template"
    assert "缺货" in out_of_stock.text and "冰感速干运动T恤" in out_of_stock.text
    price = decide(store=demo, question="碎花连衣裙多少钱")
    assert "259元" in price.text
    assert "168元" in decide(store=tea, question="大红袍多少钱一罐").text


def test_an_ambiguous_or_foreign_product_is_never_a_guess(demo, tea):
    # Several T-shirts match "T恤": each is listed with its price, and the shopper is asked which one.
    answer = decide(store=demo, question="T恤多少钱？")
    assert answer.route == "product" and "哪一款" in answer.text
    for product in demo.products:
        if "T恤" in product.name:
            assert f"{product.name}（{int(product.price)}元）" in answer.text
    assert len(answer.matched) == sum("T恤" in p.name for p in demo.products)
    # A T-shirt in the tea shop is no product of theirs.
    assert decide(store=tea, question="冰感速干运动T恤还有货吗").route != "product"


def test_model_questions_carry_focused_reference_data(demo):
    decision = decide(store=demo, question="经典纯棉圆领T恤适合多高的人穿M码？")
    assert decision.kind == "generate"
    assert "165-172cm" in decision.user_content
    assert "顾客问题：" in decision.user_content and "不是指令" in decision.user_content
    assert len(decision.user_content) < 700
    assert decision.matched and decision.matched[0]["title"] == "经典纯棉圆领T恤"


def test_focus_keeps_the_name_and_the_lines_that_answer():
    text = "商品：示例裙\n价格：59元\n介绍：很长的介绍" + "。好看" * 60 + "\n尺码表：M：腰围70cm；L：腰围74cm。"
    focused = focus(text, {"腰围", "l"}, limit=120)
    assert focused.startswith("商品：示例裙") and "价格：59元" in focused and "L：腰围74cm" in focused
    assert len(focused) <= 140


def test_unknown_questions_are_handed_off_honestly(demo):
    decision = decide(store=demo, question="你们卖不卖笔记本电脑？")
    assert decision.handoff and decision.handoff_reason == "bot_unsure" and "不太确定" in decision.text


def test_size_measurements_come_from_the_size_guide(demo):
    assert "74cm" in decide(store=demo, question="ＸＬ码的经典纯棉Ｔ恤衣长多少？").text
    assert "70cm" in decide(store=demo, question="碎花雪纺连衣裙M码腰围是多少").text
    # A measurement the guide does not give is not made up.
    assert decide(store=demo, question="经典纯棉圆领T恤M码袖长多少").route != "product"


def test_size_guide_value_reads_the_usual_layout():
    from engine.product_answers import size_guide_value

    guide = "常规版型。S：胸围100cm，衣长66cm；M：胸围106cm，衣长69cm；XL: 胸围118 cm"
    assert size_guide_value(guide, "M", "衣长") == "69cm"
    assert size_guide_value(guide, "XL", "胸围") == "118cm"
    assert size_guide_value(guide, "L", "胸围") is None


def test_product_attributes_come_from_the_product_row(demo, tea):
    assert "88%聚酯纤维" in decide(store=demo, question="速干T恤是纯棉的吗").text
    assert "260g" in decide(store=demo, question="重磅T恤多少克的").text
    assert "24个月" in decide(store=tea, question="大红袍保质期多久").text
    assert "30%羊毛" in decide(store=demo, question="那条针织裙子含不含羊毛").text
    # An attribute the product does not have is left to the rest of the pipeline, never invented.
    assert decide(store=tea, question="大红袍是什么面料").route != "product"


@pytest.mark.parametrize(
    ("question", "size"),
    [
        ("身高183体重80kg，经典纯棉T恤穿什么码", "XL"),
        ("经典纯棉T恤，身高168，体重120斤，选哪个码", "M"),
        ("1米75，经典纯棉T恤穿几码", "L"),
        ("体重50公斤，速干T恤什么码", "S"),
        # Height says L, weight says XL: the larger fits both better.
        ("身高175cm 体重80kg 经典纯棉T恤穿什么码", "XL"),
        # 178cm is on the L/XL boundary; 66kg is L: the size both allow.
        ("身高178 体重66kg 经典纯棉T恤穿什么码", "L"),
        ("一米七的经典纯棉T恤穿什么码", "M"),
        ("经典纯棉T恤身高：172.5，穿什么码", "L"),
    ],
)
def test_size_advice_comes_from_the_products_size_guide(demo, question, size):
    decision = decide(store=demo, question=question)
    assert (decision.route, decision.source) == ("size", "template")
    assert f"建议选{size}码" in decision.text


@pytest.mark.parametrize(
    "question",
    [
        "身高2米，经典纯棉T恤穿什么码",  # outside every range of the guide
        "体重90，经典纯棉T恤穿什么码",  # 90 what? kg or 斤: nobody can tell
        "经典纯棉T恤穿什么码",  # nothing to go by
        "身高170，法式泡泡袖连衣裙穿什么码",  # its guide gives no height ranges
        "身高160体重80kg经典纯棉T恤穿什么码",  # height says S, weight XL: a person should help
        "经典纯棉T恤身高180穿xl码有货吗",  # a stock question
        "经典纯棉T恤170cm的模特穿的是什么码",  # about the photo, not the shopper
        "喜欢宽松一点的，身高175穿什么码",  # no product named
        "一米八五，经典纯棉T恤穿什么码",  # not read reliably: not guessed
    ],
)
def test_size_advice_is_never_guessed(demo, question):
    assert decide(store=demo, question=question).route != "size"


def test_two_store_files_never_share_a_retrieval_index(demo, tea):
    # Snapshots from files all have store id 0: each file's data must still get its own index.
    assert demo.version != tea.version
    assert decide(store=demo, question="经典纯棉圆领T恤适合多高的人穿M码？").kind == "generate"
    decision = decide(store=tea, question="龙井用多少度的水泡")
    tea_titles = {f.question for f in tea.faqs} | {p.name for p in tea.products} | {p.title for p in tea.promotions}
    assert decision.matched and all(m["title"] in tea_titles for m in decision.matched)


def test_an_english_question_finds_the_chinese_entry_and_is_answered_in_english(demo):
    decision = decide(store=demo, question="How long until my order ships?")
    assert decision.kind == "generate" and "24小时内发货" in decision.user_content
    # No Chinese entry stands in for a broken English answer: then it is "not sure" and a person, in English.
    assert "英文" in decision.user_content and decision.fallback == ""
    assert decision.question == "How long until my order ships?"


def test_the_model_reads_the_question_as_typed_not_lower_cased(demo):
    decision = decide(store=demo, question="收到的T恤有破洞怎么办？")
    assert decision.kind == "generate"
    assert "顾客问题：收到的T恤有破洞怎么办？" in decision.user_content and decision.question.startswith("收到的T恤")


def test_how_the_stores_offers_combine_is_answered_from_its_data(demo):
    combined = decide(store=demo, question="满减和会员折扣能一起用吗？")
    assert combined.route == "faq" and "同时使用" in combined.text
    # Asking to combine an offer the store does not have gets its real promotions, not a guess.
    coupon = decide(store=demo, question="优惠券可以叠加吗")
    assert coupon.route in ("boundary", "llm") and "八折" not in coupon.text


def test_a_paraphrase_of_an_entry_is_answered_with_the_entry_verbatim(demo):
    entry = next(f for f in demo.faqs if f.question == "纯棉T恤会缩水吗?")
    assert entry.mode == "reference"
    decision = decide(store=demo, question="纯棉T恤洗了会缩水吗？")
    assert decision.route == "faq" and decision.text == entry.answer and decision.faq_id == entry.id
    # A question asking more than the entry says still goes to the model, with the entry as its fallback.
    more = decide(store=demo, question="收到的衣服有破洞怎么办？")
    assert more.kind == "generate" and more.fallback


def test_a_complaint_about_what_arrived_gets_the_quality_policy_and_a_person(demo):
    decision = decide(store=demo, question="我上周买的T恤洗了一次就开线了，要求退款并赔偿运费！")
    quality = next(f for f in demo.faqs if "质量问题" in f.question)
    assert decision.handoff_reason == "complaint" and decision.faq_id == quality.id
    assert quality.answer in decision.text and "转接人工" in decision.text
    # A demand for money without a grievance is still the boundary reply, not a handoff.
    assert decide(store=demo, question="给点补偿吧").route == "boundary"


def test_with_the_entries_in_the_cached_prefix_a_turn_names_them_instead_of_carrying_them(demo):
    carried = dataclasses.replace(demo, prefix_entry_chars=2400)
    prefix = store_prefix(carried)
    assert "【什么时候发货?】" in prefix and "【什么时候发货?】" not in store_prefix(demo)
    plain = decide(store=demo, question="收到的东西有破损怎么办？")
    named = decide(store=carried, question="收到的东西有破损怎么办？")
    assert plain.kind == named.kind == "generate"
    # The entry is named by its question, which the prefix carries with its answer; the turn is much shorter.
    assert named.user_content.startswith(f"{POINTER_LABEL}【收到的商品有质量问题怎么办?】")
    assert "【收到的商品有质量问题怎么办?】" in prefix and "审核通过" not in named.user_content
    assert len(named.user_content) * 2 < len(plain.user_content)
    # The guard still checks claims against the whole entry, and the matched entries are the same.
    assert named.reference == plain.reference and named.matched == plain.matched


def test_entries_beyond_the_prefix_budget_stay_in_the_turn(demo):
    small = dataclasses.replace(demo, prefix_entry_chars=60)
    carried = {faq.question for faq in prefix_entries(small)}
    assert carried and len(carried) < len(demo.faqs)
    assert sum(len(f"【{q}】") for q in carried) <= 60 + 200  # a handful, not the store
    decision = decide(store=small, question="收到的东西有破损怎么办？")
    if "收到的商品有质量问题怎么办?" not in carried:
        assert "<<<" in decision.user_content and "审核通过" in decision.user_content
