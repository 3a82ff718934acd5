import dataclasses

import pytest

from engine.normalize import MAX_CHARS, Normalized, normalize


def norm(text: str, **kwargs) -> str:
    return normalize(text, **kwargs).text


def test_keeps_the_original_message():
    result = normalize("  你好？？？  ")
    assert result == Normalized(original="  你好？？？  ", text="你好?")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("９９元", "99元"),
        ("Ｔ恤ＸＬ码", "t恤xl码"),
        ("ＤＲ－００１", "dr-001"),
        ("我身高１７０ｃｍ", "我身高170cm"),
        ("HELLO Shop", "hello shop"),
    ],
)
def test_full_width_becomes_half_width_and_latin_lowercase(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("多少钱？", "多少钱?"),
        ("太好了！", "太好了!"),
        ("白色，M码", "白色,m码"),
        ("收到了。谢谢", "收到了.谢谢"),
        ("红色、白色", "红色,白色"),
        ("（含运费）：", "(含运费):"),
        ("【现货】", "[现货]"),
        ("“纯棉”", '"纯棉"'),
    ],
)
def test_chinese_punctuation_takes_the_ascii_form(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw", ["标价99.00元", "实付129.50元吗?", "0.95折后多少"])
def test_decimals_stay_intact(raw):
    assert norm(raw) == raw


def test_full_width_decimal_point_becomes_a_decimal():
    assert norm("９９．５０元。") == "99.50元."


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  hello \t\n  world  ", "hello world"),
        ("有 没 有 货", "有没有货"),
        ("t恤 m码 有吗", "t恤 m码有吗"),
        ("size   M   please", "size m please"),
        ("第一行\r\n第二行", "第一行第二行"),
    ],
)
def test_whitespace_collapses(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("人呢呢呢呢", "人呢"),
        ("快点！！！！", "快点!"),
        ("???", "?"),
        ("嘻嘻嘻嘻嘻", "嘻"),
        ("好的。。。", "好的."),
        ("等等……", "等等."),
        ("~~~~", "~"),
    ],
)
def test_runs_of_three_or_more_collapse(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw", ["谢谢", "试试", "好好", "满1000元", "订单号20240001111", "666", "xxxl", "wwwww"])
def test_doubles_digits_and_latin_runs_stay(raw):
    assert norm(raw) == raw


def test_zero_width_and_control_characters_are_removed():
    assert norm("包\u200b邮\u200d吗\ufeff") == "包邮吗"
    assert norm("退\x00货\x07") == "退货"
    assert norm("\u202e有货吗") == "有货吗"


def test_html_is_kept_as_plain_text():
    assert norm("<script>alert('x')</script>") == "<script>alert('x')</script>"
    assert norm("<b>Ｍ码</b>有吗") == "<b>m码</b>有吗"


def test_length_is_capped():
    assert len(norm("衣" * 50 + "服" * 1 + "好" * 2 + "a" * (MAX_CHARS * 10))) == MAX_CHARS


def test_empty_and_blank():
    assert norm("") == ""
    assert norm(" \u200b\t ") == ""


SYNONYMS = (
    ("啥时候发", "什么时候发货"),
    ("几号发货", "什么时候发货"),
    ("咋", "怎么"),
    ("码数", "尺码"),
    ("包不包邮", "包邮吗"),
    ("多钱", "多少钱"),
    ("ＶＩＰ", "会员"),
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("啥时候发", "什么时候发货"),
        ("啥时候发货", "什么时候发货"),
        ("啥时候发货呀？", "什么时候发货呀?"),
        ("亲，啥时候发啊", "亲,什么时候发货啊"),
        ("几号发货", "什么时候发货"),
        ("码数咋选", "尺码怎么选"),
        ("这件多钱，包不包邮", "这件多少钱,包邮吗"),
        ("vip有折扣吗", "会员有折扣吗"),
        ("VIP", "会员"),
        ("没有要替换的", "没有要替换的"),
    ],
)
def test_synonyms(raw, expected):
    assert norm(raw, synonyms=SYNONYMS) == expected


def test_synonyms_longest_phrase_first():
    rules = [("发", "寄出"), ("啥时候发", "什么时候发货")]
    assert norm("啥时候发", synonyms=rules) == "什么时候发货"
    assert norm("明天发", synonyms=rules) == "明天寄出"


def test_synonyms_do_not_apply_to_their_own_output():
    rules = [("咋", "怎么"), ("怎么", "如何")]
    assert norm("咋洗", synonyms=rules) == "怎么洗"
    assert norm("怎么洗", synonyms=rules) == "如何洗"


def test_synonyms_match_on_normalized_text():
    rules = [("有货没？", "有货吗?")]
    assert norm("M码有货没?", synonyms=rules) == "m码有货吗?"
    assert norm("M码 有货没？？？", synonyms=rules) == "m码有货吗?"


def test_synonyms_accept_a_list_and_ignore_empty_rules():
    assert norm("咋办", synonyms=[("", "x"), ("咋", "怎么"), ("  ", "y")]) == "怎么办"
