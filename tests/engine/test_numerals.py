"""Numbers as shoppers and the model write them: one parser for the router, the size advice and the guard."""

from decimal import Decimal

import pytest

from engine.numerals import DISCOUNT_RATE, cn_int, discount_multiplier, metre_height_cm, number_value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("五", 5),
        ("十", 10),
        ("十五", 15),
        ("五十", 50),
        ("九十九", 99),
        ("九九", 99),
        ("一百", 100),
        ("一百零五", 105),
        ("两百", 200),
        ("两百五", 250),
        ("一千二", 1200),
        ("一千零二十", 1020),
        ("三万", 30000),
        ("一万五千", 15000),
        ("壹佰", 100),
        ("〇", 0),
    ],
)
def test_chinese_numbers(text, value):
    assert cn_int(text) == value


@pytest.mark.parametrize("text", ["", "五五十", "百块"])
def test_what_is_no_chinese_number(text):
    assert cn_int(text) is None


@pytest.mark.parametrize(
    ("token", "value"),
    [("99", "99"), ("1,299.50", "1299.50"), ("9.9", "9.9"), ("两百五", "250"), ("一千二", "1200"), ("", None)],
)
def test_number_tokens_arabic_or_chinese(token, value):
    assert number_value(token) == (None if value is None else Decimal(value))


@pytest.mark.parametrize(
    ("rate", "multiplier"),
    [("8", "0.8"), ("八", "0.8"), ("95", "0.95"), ("9.5", "0.95"), ("九五", "0.95"), ("九点五", "0.95"), ("888", None)],
)
def test_discount_rates(rate, multiplier):
    assert discount_multiplier(rate) == (None if multiplier is None else Decimal(multiplier))


@pytest.mark.parametrize(
    ("text", "rate"),
    [("全场八折", "八"), ("会员9.5折", "9.5"), ("九五折包邮", "九五"), ("打个8折吧", "8")],
)
def test_a_discount_rate_is_found_in_a_sentence(text, rate):
    found = DISCOUNT_RATE.search(text)
    assert found is not None and (found.group(1) or found.group(2)) == rate


@pytest.mark.parametrize("text", ["可折叠收纳", "没有折痕", "可以折现吗", "折合人民币", "三十折"])
def test_words_with_zhe_are_no_discount_rate(text):
    assert DISCOUNT_RATE.search(text) is None


def test_a_longer_number_is_read_whole_not_by_its_tail():
    found = DISCOUNT_RATE.search("195折")
    assert found is not None and found.group(1) == "195"
    assert discount_multiplier("195") is None


@pytest.mark.parametrize(
    ("text", "cm"),
    [
        ("一米七穿什么码", 170),
        ("1米7", 170),
        ("1米75的个子", 175),
        ("我1.75米", 175),
        ("身高1.68m", 168),
        ("一米六的女生", 160),
    ],
)
def test_heights_said_in_metres(text, cm):
    assert metre_height_cm(text) == cm


@pytest.mark.parametrize("text", ["一米八五", "身高170", "2米", "11米7"])
def test_what_is_not_read_as_a_height_in_metres(text):
    # 一米八五 is as often 185 as a slip: a wrong height gives a wrong size, so it is not read.
    assert metre_height_cm(text) is None
