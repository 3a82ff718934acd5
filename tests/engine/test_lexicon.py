"""The router and the guard share one lexicon: an offer the router recognises in a shopper's message is an offer the
guard never lets the model promise without the store's backing."""

from decimal import Decimal

import pytest

from engine import lexicon
from engine.guard import guard_text
from engine.knowledge import FaqFact, ProductFact, StoreSnapshot
from engine.route import route

# A store that offers nothing: no promotions, and FAQ answers that promise nothing.
PLAIN = StoreSnapshot(
    store_id=41,
    slug="plain",
    name="朴素小店",
    products=(ProductFact(id=1, sku="P-1", name="帆布包", price=Decimal("59"), stock=3),),
    faqs=(FaqFact(id=1, question="什么时候发货?", answer="付款后48小时内发货。"),),
)


def _words(fragment: str) -> list[str]:
    """The plain words of a lexicon alternation (those without regex syntax)."""
    return [w for w in fragment.split("|") if w.isalnum()]


@pytest.mark.parametrize("word", _words(lexicon.COMPENSATION_WORDS))
def test_compensation_words_are_declined_by_the_router_and_never_promised(word):
    assert route(f"我要{word}", store=PLAIN).reason == "compensation"
    assert "unbacked_compensation" in guard_text(PLAIN, f"可以给您{word}。").flags


@pytest.mark.parametrize("word", _words(lexicon.GIFT_WORDS))
def test_gift_words_are_declined_by_the_router_and_never_promised(word):
    assert route(f"有{word}吗", store=PLAIN).reason == "gift_begging"
    assert "unbacked_gift" in guard_text(PLAIN, f"下单就有{word}哦。").flags


@pytest.mark.parametrize("word", _words(lexicon.PRESENT_WORDS))
def test_presents_asked_for_are_gift_begging_and_never_promised(word):
    assert route(f"有没有{word}", store=PLAIN).reason == "gift_begging"
    assert route(f"公司年会想买50件做{word}", store=PLAIN).kind == "continue"
    assert "unbacked_gift" in guard_text(PLAIN, f"下单就有{word}哦。").flags


@pytest.mark.parametrize("word", _words(lexicon.FREE_SHIPPING_WORDS))
def test_free_shipping_is_never_promised_by_a_store_that_charges_for_it(word):
    result = guard_text(PLAIN, f"亲，本店{word}哦。")
    assert "unbacked_free_shipping" in result.flags and word not in result.text


@pytest.mark.parametrize("word", _words(lexicon.DISCOUNT_WORDS))
def test_discounts_are_never_promised_by_a_store_without_one(word):
    result = guard_text(PLAIN, f"这款现在{word}哦。")
    assert "unbacked_discount" in result.flags and word not in result.text


@pytest.mark.parametrize(("said", "backed"), [("只要五十九元", True), ("只要四十九元", False), ("九折", False)])
def test_amounts_in_chinese_numerals_are_checked_like_arabic_ones(said, backed):
    result = guard_text(PLAIN, f"帆布包{said}。")
    assert (not result.flags) is backed


def test_a_shopper_naming_a_price_in_chinese_numerals_is_bargaining():
    assert route("便宜二十块我就下单", store=PLAIN).reason == "bargain"
    assert route("便宜两百吧", store=PLAIN).reason == "bargain"
