"""The admin's list and mapping settings are typed as people write them (lines, "面料：冰丝", times per
weekday, a colour picker) and stored as the JSON the API and the engine read; mistakes are told in Chinese
with what to type instead."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from kb.form_fields import AttributesField
from kb.models import FaqEntry, Product, Store
from tests.kb.factories import StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-for-tests-123"))
    return client


@pytest.fixture
def store() -> Store:
    return StoreFactory(slug="bear", name="小熊服饰", quick_questions=["包邮吗?"], theme={"color": "#e4393c"})


def _store_form(store: Store, **changes: str) -> dict[str, str]:
    data = {
        "slug": store.slug,
        "name": store.name,
        "assistant_name": store.assistant_name,
        "quick_questions": "",
        "blocked_phrases": "",
        "allowed_origins": "",
        "theme_color": "#e4393c",
        "theme_position": "right",
        # A browser posts every weekday's input, empty or not.
        **{f"business_hours_{day}": "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "relevance_threshold": "1.0",
        "retrieval_top_k": "3",
    }
    return data | changes


def _post_store(client, store: Store, **changes: str):
    return client.post(reverse("admin:kb_store_change", args=[store.pk]), _store_form(store, **changes))


def _errors(response, field: str) -> list[str]:
    assert response.status_code == 200, "the form was expected to be refused"
    return response.context["adminform"].form.errors[field]


def test_lists_are_typed_one_item_per_line_with_any_quotes_and_widths(boss, store):
    response = _post_store(
        boss,
        store,
        quick_questions="“什么时候发货？”\r\n\r\n  可以退换吗?  \n「有现货吗」",
        blocked_phrases="保证\n　包赔　",
        allowed_origins="HTTPS://Shop.Example.com/，http://localhost:8000",
    )

    assert response.status_code == 302
    store.refresh_from_db()
    assert store.quick_questions == ["什么时候发货？", "可以退换吗?", "有现货吗"]
    assert store.blocked_phrases == ["保证", "包赔"]
    assert store.allowed_origins == ["https://shop.example.com", "http://localhost:8000"]


def test_the_store_page_shows_lists_as_lines_hours_per_weekday_and_a_colour_picker(boss, store):
    Store.objects.filter(pk=store.pk).update(
        quick_questions=["什么时候发货?", "可以退换吗?"], business_hours={"mon": ["09:00-18:00"]}
    )

    page = boss.get(reverse("admin:kb_store_change", args=[store.pk])).content.decode()

    assert "什么时候发货?\n可以退换吗?</textarea>" in page
    assert '<input type="color" name="theme_color" value="#e4393c"' in page
    assert '<label for="id_business_hours_mon">周一</label>' in page
    assert 'name="business_hours_mon" value="09:00-18:00"' in page
    assert "输入一个有效的JSON" not in page and '["' not in page.split('id="shopdesk-widget-embed"')[0]


def test_too_many_quick_questions_are_refused_in_chinese_with_an_example(boss, store):
    response = _post_store(boss, store, quick_questions="\n".join(f"问题{n}" for n in range(11)))

    assert _errors(response, "quick_questions") == [
        "最多 10 行，现在有 11 行。每行写一个，例如：\n什么时候发货？\n可以退换吗？"
    ]
    store.refresh_from_db()
    assert store.quick_questions == ["包邮吗?"], "nothing was saved"


def test_a_bad_origin_is_refused_in_chinese_with_an_example(boss, store):
    [message] = _errors(_post_store(boss, store, allowed_origins="shop.example.com/cart"), "allowed_origins")
    assert message.startswith("“shop.example.com/cart”不是网站地址")
    assert "例如 https://shop.example.com" in message


def test_business_hours_are_typed_per_weekday_in_either_width(boss, store):
    response = _post_store(
        boss, store, business_hours_mon="09:00-18:00", business_hours_sat="10：00～12:00，13:00 至 16:00"
    )

    assert response.status_code == 302
    store.refresh_from_db()
    assert store.business_hours == {"mon": ["09:00-18:00"], "sat": ["10:00-12:00", "13:00-16:00"]}

    assert _post_store(boss, store).status_code == 302
    store.refresh_from_db()
    assert store.business_hours == {}, "no day filled in: whenever an agent is online"


def test_a_wrong_time_is_refused_with_the_format_to_use(boss, store):
    [message] = _errors(_post_store(boss, store, business_hours_tue="早上9点"), "business_hours")
    assert message == "周二：“早上9点”不是 09:00-18:00 这样的时间，请按这个格式填写每个营业时段，多个时段用逗号隔开。"


def test_the_theme_colour_comes_from_the_picker_and_is_checked(boss, store):
    response = _post_store(boss, store, theme_color="#1677FF", theme_position="left", theme_title="小美在线")
    assert response.status_code == 302
    store.refresh_from_db()
    assert store.theme == {"color": "#1677ff", "position": "left", "title": "小美在线", "avatar": "", "lang": ""}

    [message] = _errors(_post_store(boss, store, theme_color="red"), "theme")
    assert message == "颜色应写成 #e4393c 这样（可以用取色器选择）。"


def _faq_form(store: Store, **changes: str) -> dict[str, object]:
    return {"store": store.pk, "question": "几天发货?", "answer": "48小时内发货。", "mode": "direct", **changes}


def test_faq_keywords_split_on_lines_and_chinese_separators(boss, store):
    response = boss.post(
        reverse("admin:kb_faqentry_add"),
        _faq_form(store, keywords="发货、几天发，快递|物流\n到货", alt_questions="啥时候发？\n多久能发货"),
    )

    assert response.status_code == 302
    faq = FaqEntry.objects.get()
    assert faq.keywords == ["发货", "几天发", "快递", "物流", "到货"]
    assert faq.alt_questions == ["啥时候发？", "多久能发货"]
    page = boss.get(reverse("admin:kb_faqentry_change", args=[faq.pk])).content.decode()
    assert "发货\n几天发\n快递\n物流\n到货</textarea>" in page


def _product_form(store: Store, **changes: str) -> dict[str, object]:
    return {"store": store.pk, "sku": "TS-001", "name": "冰丝T恤", "price": "99", "stock": "5", **changes}


def test_product_attributes_are_name_value_lines(boss, store):
    response = boss.post(
        reverse("admin:kb_product_add"),
        _product_form(store, attributes="面料：冰丝\n尺码: S、M、L\n\n产地=杭州"),
    )

    assert response.status_code == 302
    product = Product.objects.get()
    assert product.attributes == {"面料": "冰丝", "尺码": ["S", "M", "L"], "产地": "杭州"}
    page = boss.get(reverse("admin:kb_product_change", args=[product.pk])).content.decode()
    # PostgreSQL's jsonb keeps its own key order, so the lines are compared as a set.
    [shown] = re.findall(r'<textarea name="attributes"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert sorted(shown.split("\n")) == sorted(["面料：冰丝", "尺码：S、M、L", "产地：杭州"])


def test_an_attribute_line_without_a_value_is_refused_with_an_example(boss, store):
    response = boss.post(reverse("admin:kb_product_add"), _product_form(store, attributes="面料：冰丝\n颜色"))

    assert response.context["adminform"].form.errors["attributes"] == ["第 2 行“颜色”需要写名称和值，例如 面料：纯棉"]
    assert not Product.objects.exists()


def test_an_english_browser_gets_the_same_refusal_in_english(boss, store):
    response = boss.post(
        reverse("admin:kb_product_add"), _product_form(store, attributes="colour"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.context["adminform"].form.errors["attributes"] == [
        "Line 1 “colour” needs a name and a value, e.g. Material: cotton"
    ]


def test_attributes_typed_or_pasted_are_cleaned_as_everywhere_else():
    field = AttributesField()
    assert field.clean("颜\u0000色：红\u0000色\n尺码：S、M") == {"颜色": "红色", "尺码": ["S", "M"]}
    with pytest.raises(ValidationError, match="expected a text"):
        field.clean('{"a": {"b": null}}')
    with pytest.raises(ValidationError, match="given twice"):
        field.clean('{"颜色": "红", " 颜色 ": "白"}')
