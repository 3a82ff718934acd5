import pytest

from engine import trigger
from engine.knowledge import FaqFact
from engine.memo import IdentityMemo
from engine.normalize import normalize
from engine.trigger import FaqHit, keyword_trigger

SHIPPING = FaqFact(
    id=1,
    question="下单后多久发货？",
    answer="付款后48小时内发货。",
    keywords=("多久发货", "发货时间", "几天发"),
    alt_questions=("什么时候能发出？",),
    mode="direct",
)
COURIER = FaqFact(
    id=2,
    question="用什么快递？",
    answer="默认韵达快递。",
    keywords=("快递", "发顺丰"),
    mode="direct",
)
SF_EXPRESS = FaqFact(
    id=3,
    question="能发顺丰吗？",
    answer="可以发顺丰，需补运费差价。",
    keywords=("顺丰快递", "发顺丰"),
    mode="direct",
)
SIZES = FaqFact(
    id=4,
    question="怎么选尺码？",
    answer="参考详情页尺码表。",
    keywords=("尺码", "选码"),
    mode="reference",
)
WASHING = FaqFact(
    id=5,
    question="可以机洗吗？",
    answer="建议冷水手洗。",
    keywords=("机洗", "洗衣机", "", "  "),
    mode="direct",
)
XL = FaqFact(id=6, question="XL码胸围多少？", answer="XL胸围112cm。", keywords=("XL", "95折"), mode="direct")
EMPTY = FaqFact(id=7, question="", answer="没有关键词的条目。", keywords=("", " "), mode="direct")
FAQS = (SHIPPING, COURIER, SF_EXPRESS, SIZES, WASHING, XL, EMPTY)


def hit(text: str, faqs=FAQS) -> FaqHit | None:
    return keyword_trigger(text, faqs=faqs)


@pytest.mark.parametrize(
    ("message", "faq", "keyword"),
    [
        ("请问多久发货呀", SHIPPING, "多久发货"),
        ("亲，今天拍的几天发？", SHIPPING, "几天发"),
        ("发货时间是多久", SHIPPING, "发货时间"),
        ("你们家用哪个快递", COURIER, "快递"),
        ("可以用洗衣机洗吗", WASHING, "洗衣机"),
        ("能机洗不", WASHING, "机洗"),
    ],
)
def test_keyword_inside_the_message_triggers_its_entry(message, faq, keyword):
    assert hit(message) == FaqHit(faq=faq, keyword=keyword)


def test_longest_keyword_wins():
    # "快递" (COURIER) and "顺丰快递" (SF_EXPRESS) both match; the longer keyword is more specific.
    assert hit("顺丰快递能发吗") == FaqHit(faq=SF_EXPRESS, keyword="顺丰快递")


def test_then_the_entry_with_more_matching_keywords():
    # "发顺丰" is the longest match of both COURIER and SF_EXPRESS; COURIER also matches "快递".
    assert hit("发顺丰还是别的快递") == FaqHit(faq=COURIER, keyword="发顺丰")
    # With the same longest keyword and one match each, the lower id wins.
    assert hit("能不能发顺丰") == FaqHit(faq=COURIER, keyword="发顺丰")


def test_then_the_lowest_id():
    a = FaqFact(id=12, question="a", answer="A", keywords=("退换",), mode="direct")
    b = FaqFact(id=11, question="b", answer="B", keywords=("退换",), mode="direct")
    assert hit("怎么退换", faqs=(a, b)) == FaqHit(faq=b, keyword="退换")


def test_exact_question_or_alternative_question_triggers():
    assert hit("下单后多久发货?") == FaqHit(faq=SHIPPING, keyword="下单后多久发货")
    assert hit("什么时候能发出") == FaqHit(faq=SHIPPING, keyword="什么时候能发出")
    assert hit("  什么时候能发出？？？ ") == FaqHit(faq=SHIPPING, keyword="什么时候能发出")
    assert hit("XL码胸围多少") == FaqHit(faq=XL, keyword="xl码胸围多少")


def test_reference_entries_never_trigger():
    assert hit("怎么选尺码？") is None
    assert hit("尺码偏大吗") is None


def test_disabled_entries_are_simply_absent():
    assert hit("多久发货", faqs=(COURIER, SIZES)) is None


def test_empty_keywords_and_messages_never_match():
    assert hit("随便问问") is None
    assert hit("") is None
    assert hit("   ") is None
    assert keyword_trigger("没有关键词", faqs=(EMPTY,)) is None


def test_keywords_and_message_are_normalized_alike():
    assert hit("ＸＬ的胸围") == FaqHit(faq=XL, keyword="xl")
    assert hit("xl的胸围") == FaqHit(faq=XL, keyword="xl")
    assert hit("会员９５折吗") == FaqHit(faq=XL, keyword="95折")
    assert hit("多 久 发 货？？？") == FaqHit(faq=SHIPPING, keyword="多久发货")


def test_latin_and_digit_keywords_do_not_match_inside_longer_words():
    assert hit("xxl有吗") is None
    assert hit("xl有吗") == FaqHit(faq=XL, keyword="xl")
    assert hit("195折") is None
    assert hit("有xl码吗") == FaqHit(faq=XL, keyword="xl")


def test_takes_a_normalized_message_with_store_synonyms():
    message = normalize("啥时候发", synonyms=(("啥时候发", "发货时间"),))
    assert keyword_trigger(message, faqs=FAQS) == FaqHit(faq=SHIPPING, keyword="发货时间")


def test_accepts_a_list_of_faqs():
    assert hit("多久发货", faqs=list(FAQS)) == FaqHit(faq=SHIPPING, keyword="多久发货")


def test_html_is_only_text():
    assert hit("<script>alert('多久发货')</script>") == FaqHit(faq=SHIPPING, keyword="多久发货")
    assert hit("<img src=x onerror=alert(1)>") is None


def test_hundreds_of_entries_are_indexed_once_per_snapshot(monkeypatch):
    """The keyword index is built once for a snapshot's entries, not per message (its speed is `make bench`'s)."""
    faqs = tuple(
        FaqFact(
            id=i,
            question=f"第{i}号问题怎么处理？",
            answer=f"答案{i}",
            keywords=(f"关键词{i}号", f"条目{i}", f"sku{i}a"),
            alt_questions=(f"问题{i}怎么办？",),
            mode="direct" if i % 3 else "reference",
        )
        for i in range(1, 601)
    )
    builds = []
    real_build = trigger._build_index
    monkeypatch.setattr(trigger, "_index_memo", IdentityMemo(lambda f: builds.append(f) or real_build(f)))
    message = "你好，我想问一下条目599和关键词598号的情况，还有别的吗" * 3
    results = [keyword_trigger(message, faqs=faqs) for _ in range(50)]
    assert all(result is not None and result.faq.id == 598 for result in results)
    assert builds == [faqs]
    # A changed knowledge base is a new snapshot, with a new tuple of entries: indexed afresh.
    edited = (*faqs[:-1], FaqFact(id=600, question="新问题", answer="新答案", keywords=("新词",), mode="direct"))
    assert keyword_trigger("新词", faqs=edited).faq.id == 600
    assert builds == [faqs, edited]
