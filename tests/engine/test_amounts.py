"""Which numbers in an answer are money: prices, discounts, refunds and order thresholds, not sizes or times."""

from decimal import Decimal

import pytest

from engine.amounts import THRESHOLD_OFF, money_amounts, plain_numbers, thresholds


@pytest.mark.parametrize(
    ("text", "values", "kind"),
    [
        ("这款99元", (Decimal(99),), "price"),
        ("只要九块九", (Decimal("9.9"),), "price"),
        ("价格两百五", (Decimal(250),), "price"),
        ("¥1,299", (Decimal(1299),), "price"),
        ("立减20", (Decimal(20),), "discount"),
        ("返现10元", (Decimal(10),), "compensation"),
        ("20 off", (Decimal(20),), "discount"),
        ("100-200元", (Decimal(100), Decimal(200)), "price"),
    ],
)
def test_money_amounts(text, values, kind):
    [amount] = money_amounts(text)
    assert (amount.values, amount.kind) == (values, kind)


@pytest.mark.parametrize(
    "text", ["身高170cm", "体重55kg", "24小时内发货", "M码", "sku ts-001", "7天无理由", "95折", "10:30发货", "3件"]
)
def test_sizes_times_counts_and_skus_are_no_money(text):
    assert money_amounts(text) == []


def test_a_number_cut_short_may_be_the_start_of_a_price():
    assert money_amounts("一共99", truncated=True)
    assert not money_amounts("一共99")


def test_what_a_store_text_can_back():
    assert plain_numbers("满99包邮，不满99元运费10元，M码胸围106cm") == {Decimal(99), Decimal(10)}


def test_order_thresholds_and_threshold_discounts():
    assert thresholds("满59包邮，200元以上送小样") == {Decimal(59), Decimal(200)}
    pair = THRESHOLD_OFF.search("全场满三百减五十")
    assert pair is not None and pair.groups() == ("三百", "五十")
