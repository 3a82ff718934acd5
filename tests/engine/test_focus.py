"""What a question is about when it does not say: the product on the page, the turn before, a kind."""

import json
from pathlib import Path

import pytest

from engine.focus import ChatContext, resolve_products
from engine.knowledge import snapshot_from_file
from engine.normalize import normalize
from engine.pipeline import decide

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    return snapshot_from_file(json.loads((ROOT / "kb" / "demo" / "demo_store.json").read_text("utf-8")))


@pytest.fixture(scope="module")
def tea():
    return snapshot_from_file(json.loads((ROOT / "tests" / "eval" / "store_tea.json").read_text("utf-8")))


def _product(store, sku):
    return next(p for p in store.products if p.sku == sku)


def _ask(store, question, *, view="", recent=()):
    return decide(store=store, question=question, context=ChatContext(product_in_view=view, recent=tuple(recent)))


def test_a_bare_question_on_a_product_page_is_about_that_product(demo):
    tee = _product(demo, "TS-001")
    stock = _ask(demo, "这件T恤有现货吗？", view="TS-001")
    assert stock.route == "product" and tee.name in stock.text and "有现货" in stock.text
    fit = _ask(demo, "尺码偏大吗？", view="TS-001")
    assert tee.name in fit.text and "按平时尺码选择" in fit.text
    # The same question on another page is about that page's product.
    sporty = _ask(demo, "尺码偏大吗？", view="TS-003")
    assert _product(demo, "TS-003").name in sporty.text and "大一码" in sporty.text


def test_a_page_does_not_override_what_the_question_names(demo):
    answer = _ask(demo, "重磅宽松落肩短袖T恤多少钱", view="TS-001")
    assert "129元" in answer.text and "99元" not in answer.text


def test_the_policy_is_still_the_policy_on_a_product_page(demo):
    answer = _ask(demo, "支持7天无理由退货吗？", view="TS-001")
    assert answer.route == "faq" and "7天" in answer.text


def test_a_follow_up_stays_with_the_product_just_talked_about(demo):
    recent = [("shopper", "重磅T恤有货吗"), ("bot", "亲，重磅宽松落肩短袖T恤目前有现货。")]
    answer = _ask(demo, "那尺码偏大吗？", recent=recent)
    assert "重磅宽松落肩短袖T恤" in answer.text and "小一码" in answer.text
    advice = _ask(demo, "身高170体重60kg穿什么码", view="DR-003", recent=recent)
    assert advice.route == "size" and "重磅宽松落肩短袖T恤" in advice.text


def test_ellipsis_carries_the_measure_asked_before(demo):
    recent = [("shopper", "经典纯棉圆领T恤XL码衣长多少"), ("bot", "亲，经典纯棉圆领T恤XL码的衣长是74cm。")]
    answer = _ask(demo, "那L码呢", recent=recent)
    assert "L码的衣长是72cm" in answer.text


def test_a_kind_with_several_products_lists_them_with_what_was_asked(demo):
    answer = _ask(demo, "连衣裙是什么面料")
    assert "哪一款" in answer.text
    for sku in ("DR-001", "DR-002", "DR-003"):
        product = _product(demo, sku)
        assert product.name in answer.text and dict(product.attributes)["面料"] in answer.text


def test_a_distinguishing_word_picks_one_of_the_listed_products(demo):
    listed = _ask(demo, "连衣裙多少钱")
    recent = [("shopper", "连衣裙多少钱"), ("bot", listed.text)]
    answer = _ask(demo, "雪纺的呢", recent=recent)
    assert answer.text.count("元") == 1 and "碎花雪纺连衣裙的价格是259元" in answer.text


def test_an_option_the_product_lacks_is_said_not_switched(demo):
    # Pink exists in the store (another T-shirt), not for this one: say so, list what it has.
    answer = _ask(demo, "粉色的有吗", view="TS-001")
    assert "没有粉色" in answer.text and "雾霾蓝" in answer.text
    assert _product(demo, "TS-004").name not in answer.text


def test_stock_of_a_colour_and_size_says_what_is_known(demo):
    answer = _ask(demo, "黑色L码还有货吗？", view="TS-001")
    assert "有现货" in answer.text and "以商品页面" in answer.text


def test_a_count_is_priced_with_the_promotions_it_reaches(demo):
    answer = _ask(demo, "两件一起多少钱", view="TS-001")
    assert "2件共198元" in answer.text and "满99包邮" in answer.text
    three = _ask(demo, "买4件多少钱", view="DR-001")
    assert "4件共1036元" in three.text and "减50后986元" in three.text


def test_any_attribute_of_any_store_by_its_own_name(tea):
    product = tea.products[0]
    key, value = next((k, v) for k, v in product.attributes if k not in ("面料", "配料"))
    answer = _ask(tea, f"{key}是什么", view=product.sku)
    assert answer.route == "product" and value in answer.text and product.name in answer.text


def test_the_bots_policy_text_does_not_become_a_focus(demo):
    # The washing FAQ mentions 纯棉T恤 but is about no product; only whole names in the bot's texts count.
    recent = [("bot", "纯棉T恤建议30℃以下冷水洗涤，反面洗、反面晾。")]
    resolved = resolve_products(store=demo, text=normalize("有现货吗").text, context=ChatContext(recent=recent))
    assert resolved.products == ()


def test_an_unknown_sku_in_view_is_ignored(demo):
    resolved = resolve_products(store=demo, text="有现货吗", context=ChatContext(product_in_view="NOPE-1"))
    assert resolved.products == ()


def test_copy_for_a_named_product_is_written_from_its_row_only(demo):
    decision = _ask(demo, "帮我写一段关于经典纯棉圆领T恤的商品描述")
    tee = _product(demo, "TS-001")
    assert decision.kind == "generate" and decision.route == "copy"
    assert "100%精梳棉" in decision.user_content and "99元" in decision.user_content
    assert "不要写资料里没有的" in decision.user_content
    # Nothing about another product reaches the model, and the row's plain text stands in for a broken answer.
    assert "连衣裙" not in decision.user_content
    assert decision.fallback.startswith(f"【{tee.name}】") and decision.fallback_source == "template"


def test_copy_for_a_kind_with_several_products_asks_which(demo):
    decision = _ask(demo, "帮我写个连衣裙的朋友圈推广语")
    assert decision.kind == "direct" and "哪一款" in decision.text
    assert "碎花雪纺连衣裙" in decision.text and "法式方领泡泡袖连衣裙" in decision.text
    # On a product page, "这件" is enough.
    on_page = _ask(demo, "帮我给这件写个朋友圈文案", view="DR-002")
    assert on_page.kind == "generate" and "法式方领泡泡袖连衣裙" in on_page.user_content
    assert "朋友圈" in on_page.user_content


def test_a_poem_is_still_chit_chat(demo):
    assert _ask(demo, "写首诗给我").route == "offtopic"


def test_listings_come_from_the_rows(demo, tea):
    materials = _ask(demo, "有哪几种面料")
    for product in demo.products:
        assert dict(product.attributes)["面料"] in materials.text
    dresses = _ask(demo, "有哪些连衣裙")
    assert all(p.name in dresses.text for p in demo.products if "连衣裙" in p.name)
    assert not any(p.name in dresses.text for p in demo.products if "T恤" in p.name)
    # Another kind of store, another attribute: the same question works from its data.
    key = next(k for p in tea.products for k, _ in p.attributes if k not in ("面料",))
    listing = _ask(tea, f"有哪几种{key}")
    assert listing.route == "product" and all(
        dict(p.attributes)[key] in listing.text for p in tea.products if key in dict(p.attributes)
    )


def test_the_gap_to_a_threshold_is_computed_from_what_was_said(demo):
    said = _ask(demo, "买了80元，差多少能包邮")
    assert "还差19元" in said.text and "满99包邮" in said.text
    two = _ask(demo, "买两件还差多少能减", view="TS-001")
    assert "2件共198元" in two.text and "满300减50还差102元" in two.text
    # Without an amount or a product, the policy itself answers.
    assert _ask(demo, "差多少包邮").route == "faq"


def test_a_pointing_question_stays_with_the_product_in_view(demo, tea):
    # 纯棉 is in another T-shirt's name; "这件" is the polyester one on the page.
    answer = _ask(demo, "这件是纯棉的吗", view="TS-003")
    assert "88%聚酯纤维" in answer.text and "精梳棉" not in answer.text
    assert "99元" in _ask(demo, "这件运动的时候穿热不热，多少钱", view="TS-001").text
    # One character ("茶") names nothing in a tea shop.
    assert "明前西湖龙井的价格是198元" in _ask(tea, "这款茶多少钱", view="LJ-001").text


def test_goods_the_store_does_not_sell_are_not_answered_from_another_row(demo):
    for question in ("纯棉衬衫有货吗", "运动裤多少钱"):
        assert _ask(demo, question).route != "product"


def test_a_policy_entry_that_mentions_a_product_is_no_focus(demo):
    recent = [("shopper", "衣服偏大还是偏小?"), ("entry", "整体按标准尺码制作，冰感速干运动T恤是修身版型。")]
    answer = _ask(demo, "有现货吗", view="TS-001", recent=recent)
    assert "经典纯棉圆领T恤目前有现货" in answer.text


def test_a_follow_up_that_asks_something_new_does_not_repeat_the_last_answer(demo):
    recent = [("shopper", "这件多少钱"), ("bot", "亲，经典纯棉圆领T恤的价格是99元。")]
    for question in ("那质量有问题呢", "模特多高呢"):
        assert "99元" not in _ask(demo, question, view="TS-001", recent=recent).text
    assert "有白色" in _ask(demo, "白色的呢", view="TS-001", recent=[("shopper", "这件有货吗")]).text


def test_the_gap_needs_a_threshold_and_money(demo):
    assert _ask(demo, "我的快递还差多久到", view="TS-001").route != "product"
    counted = _ask(demo, "买了2件，还差多少包邮", view="TS-003")
    assert "2件共178元" in counted.text and "按2元" not in counted.text
    # Where the store does not ship free, no threshold is promised.
    far = _ask(demo, "差多少钱包邮？我在新疆", view="TS-003")
    assert "新疆不参加" in far.text and "还差10元" not in far.text


def test_a_size_question_on_a_product_without_a_size_table_does_not_crash(tea):
    assert _ask(tea, "身高170体重60kg穿什么码", view="LJ-001").kind in ("direct", "generate")


def test_shopper_questions_that_mention_copy_words_are_not_copy_requests(demo):
    for question in (
        "这件衣服出了质量问题，我该怎么描述问题？",
        "我想看下详情页的尺码表",
        "想问一下朋友圈里看到的那件",
    ):
        assert _ask(demo, question, view="TS-001").route != "copy"


def test_an_english_question_about_a_product_gets_its_facts_in_english(demo):
    stock = _ask(demo, "Is this in stock?", view="TS-003")
    assert stock.route == "product" and "out of stock" in stock.text and "冰感速干运动T恤" in stock.text
    price = _ask(demo, "How much is this?", view="TS-001")
    assert "99 yuan" in price.text and "价格" not in price.text
