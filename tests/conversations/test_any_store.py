"""A store of a kind nobody wrote rules for, loaded with `import_kb`: its goods are understood from its data."""

import io
import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

KITCHEN = {
    "store": {
        "slug": "kitchen",
        "name": "小厨电器铺",
        "assistant_name": "小厨",
        "persona": "你是小厨电器铺的在线客服“小厨”。",
        "handoff_message": "好的，马上为您转接人工客服。",
        "offtopic_reply": "亲，小厨只能解答本店厨房电器、订单和售后方面的问题哦～",
    },
    "products": [
        {
            "sku": "AF-35",
            "name": "3.5升空气炸锅",
            "price": "299.00",
            "stock": 40,
            "description": "一人食到三口之家都合适，可视窗口，免翻面。",
            "attributes": {"容量": "3.5L", "功率": "1400W", "颜色": ["奶白", "薄荷绿"], "电压": "220V"},
        },
        {
            "sku": "AF-55",
            "name": "5.5升空气炸锅",
            "price": "399.00",
            "stock": 0,
            "description": "家庭装，可放整只小鸡。",
            "attributes": {"容量": "5.5L", "功率": "1700W", "颜色": ["奶白", "曜石黑"], "电压": "220V"},
        },
        {
            "sku": "KT-17",
            "name": "1.7升电热水壶",
            "price": "129.00",
            "stock": 80,
            "description": "304不锈钢内胆，自动断电。",
            "attributes": {"容量": "1.7L", "功率": "1800W", "材质": "304不锈钢", "颜色": ["白色"]},
        },
    ],
    "promotions": [
        {"title": "满299包邮", "kind": "free_shipping", "description": "实付满299元包邮。", "threshold": "299"}
    ],
    "faqs": [
        {
            "question": "保修多久?",
            "answer": "所有电器整机保修一年，电机保修三年，凭订单号即可申请。",
            "keywords": ["保修", "质保"],
            "mode": "direct",
        }
    ],
}


def ask(*args: str) -> dict:
    out = io.StringIO()
    call_command("ask", "--store", "kitchen", *args, stdout=out)
    return json.loads(out.getvalue().splitlines()[-1])


@pytest.fixture
def kitchen(tmp_path):
    path = tmp_path / "kitchen.json"
    path.write_text(json.dumps(KITCHEN, ensure_ascii=False), "utf-8")
    call_command("import_kb", str(path), stdout=io.StringIO())


def test_questions_about_its_goods_are_answered_from_its_rows(kitchen):
    power = ask("5.5升空气炸锅功率多少")
    assert power["source"] == "template" and "1700W" in power["answer"]
    stock = ask("5.5升的还有货吗")
    assert "缺货" in stock["answer"] and "5.5升空气炸锅" in stock["answer"]
    # A kind with several products: each with what was asked, and which one.
    fryers = ask("空气炸锅多大容量")
    assert "3.5L" in fryers["answer"] and "5.5L" in fryers["answer"] and "哪一款" in fryers["answer"]
    assert "1.7L" not in fryers["answer"]
    listing = ask("有哪几种容量")
    assert all(v in listing["answer"] for v in ("3.5L", "5.5L", "1.7L"))


def test_the_product_on_the_page_and_follow_ups(kitchen):
    on_page = ask("这个功率多大？", "--product", "KT-17")
    assert "1800W" in on_page["answer"] and "电热水壶" in on_page["answer"]
    conversation = str(on_page["conversation"])
    colour = ask("有曜石黑吗", "--conversation", conversation)
    assert "没有曜石黑" in colour["answer"] and "白色" in colour["answer"]
    warranty = ask("保修多久", "--conversation", conversation)
    assert warranty["source"] == "faq" and "一年" in warranty["answer"]
    gap = ask("买了200元，差多少包邮", "--conversation", conversation)
    assert "还差99元" in gap["answer"]


def test_its_goods_are_not_chit_chat(kitchen):
    answer = ask("空气炸锅可以烤红薯吗")
    assert answer["source"] != "template" or "只能解答" not in answer["answer"]
    assert not answer["answer"].startswith("亲，小厨只能解答")
