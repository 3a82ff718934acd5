"""Product copy's own checks: materials the row does not name, and the chat habits of the model."""

from decimal import Decimal

from engine.knowledge import ProductFact, StoreSnapshot
from engine.product_copy import COPY_PARTS, clean_copy, clean_title, copy_messages, drop_unbacked_materials

SHIRT = ProductFact(
    id=1, sku="TS-1", name="经典圆领T恤", price=Decimal("99"), stock=3, attributes=(("面料", "100%精梳棉"),)
)


def test_a_sentence_naming_a_material_the_row_does_not_name_is_dropped():
    text, dropped = drop_unbacked_materials("精梳棉面料，柔软亲肤。采用真丝和羊毛混纺。Made of silk.", SHIRT)
    assert text == "精梳棉面料，柔软亲肤。"
    assert set(dropped) == {"silk", "羊毛", "真丝"}
    assert drop_unbacked_materials("穿着舒服，下载图片看细节。", SHIRT) == ("穿着舒服，下载图片看细节。", [])


def test_the_models_salutations_and_labels_are_cleaned():
    assert clean_copy("亲，亲，亲！夏天必备") == "夏天必备"
    assert clean_copy("精梳棉，好穿。亲，精梳棉，好穿。常规版型。亲，亲，亲！") == "精梳棉，好穿。常规版型。"
    guarded = "精梳棉，好穿。品质……具体价格和优惠以店铺页面和客服确认为准。回答仅供参考。"
    assert clean_copy(guarded, disclaimer="回答仅供参考。") == "精梳棉，好穿。"
    assert clean_title("亲，标题：“经典圆领T恤 精梳棉”\n第二行") == "经典圆领T恤 精梳棉"


def test_the_prompt_fences_the_row_and_speaks_in_the_stores_voice():
    store = StoreSnapshot(store_id=1, slug="s", name="示例店", persona="说话亲切。", products=(SHIRT,))
    for part in COPY_PARTS:
        messages = copy_messages(store=store, product=SHIRT, part=part)
        assert "说话亲切" in messages[0]["content"]
        assert "100%精梳棉" in messages[1]["content"] and "99元" in messages[1]["content"]
