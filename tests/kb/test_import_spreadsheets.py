"""Spreadsheets as a shop owner has them: a CSV saved by Excel on Chinese Windows (GBK), Chinese headers,
no store column (the store is picked on the page), and a template to start from."""

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kb.models import FaqEntry, Product
from tests.kb.factories import StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db

CSV, XLSX = "0", "1"

FAQ_ROWS = (
    "问题,答案,关键词,相似问法,回答方式,分类,启用\r\n"
    "什么时候发货？,现货商品付款后24小时内发货。,发货|几天发,多久能发货？,direct,发货,是\r\n"
    "“可以退货吗”,签收后七天内可退。,退货、退款,,reference,售后,1\r\n"
)


@pytest.fixture
def alpha():
    return StoreFactory(slug="alpha", name="阿尔法小店")


@pytest.fixture
def beta():
    return StoreFactory(slug="beta", name="贝塔小店")


@pytest.fixture
def clerk_client(client, alpha):
    client.force_login(StaffUserFactory(stores=[alpha], is_superuser=False))
    return client


def _upload(client, model: str, content: bytes, name: str, store, file_format: str = CSV):
    data = {"resource": "0", "format": file_format, "import_file": SimpleUploadedFile(name, content)}
    if store is not None:
        data["store"] = store.pk
    return client.post(reverse(f"admin:kb_{model}_import"), data)


def _confirm(client, model: str, preview):
    assert preview.status_code == 200
    assert "confirm_form" in preview.context, preview.context.get("form") and preview.context["form"].errors
    return client.post(reverse(f"admin:kb_{model}_process_import"), preview.context["confirm_form"].initial)


@pytest.mark.parametrize(
    "encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"], ids=["gbk", "gb18030", "utf8", "utf8-bom"]
)
def test_a_csv_in_any_excel_encoding_with_chinese_headers_imports_into_the_chosen_store(clerk_client, alpha, encoding):
    content = FAQ_ROWS.encode(encoding)
    if encoding == "gbk":
        with pytest.raises(UnicodeDecodeError):
            content.decode("utf-8")  # really not UTF-8: what Excel on Chinese Windows saves

    preview = _upload(clerk_client, "faqentry", content, "常见问题.csv", alpha)
    assert "什么时候发货？" in preview.content.decode()
    assert preview.context["result"].diff_headers[:4] == ["店铺", "问题", "答案", "关键词"]
    assert not FaqEntry.objects.exists(), "the preview writes nothing"
    done = _confirm(clerk_client, "faqentry", preview)

    assert done.status_code == 302
    first, second = FaqEntry.objects.order_by("question")
    assert (first.store, first.question, first.keywords, first.mode, first.category, first.enabled) == (
        alpha,
        "“可以退货吗”",
        ["退货", "退款"],
        "reference",
        "售后",
        True,
    )
    assert (second.question, second.keywords, second.alt_questions, second.mode) == (
        "什么时候发货？",
        ["发货", "几天发"],
        ["多久能发货？"],
        "direct",
    )


def test_a_file_that_is_not_text_is_refused_with_what_to_do(clerk_client, alpha):
    preview = _upload(clerk_client, "faqentry", b"\x80\x81\xff" * 20, "faq.csv", alpha)

    [message] = preview.context["form"].errors["import_file"]
    assert message.startswith("这个文件不是 CSV 文本文件（UTF-8 或 GBK 编码）")
    assert "CSV UTF-8" in message
    assert "UnicodeDecodeError" not in preview.content.decode()


def test_the_import_page_preselects_the_users_store_and_offers_templates(clerk_client, alpha, beta):
    page = clerk_client.get(reverse("admin:kb_faqentry_import"))

    form = page.context["form"]
    assert form.initial["store"] == alpha.pk
    assert list(form.fields["store"].queryset) == [alpha], "only the user's own stores"
    body = page.content.decode()
    assert reverse("admin:kb_faqentry_import_template", args=["xlsx"]) in body
    assert "“回答方式”可以填写：direct（直接回答：命中关键词时原样回复）" in body
    assert "“启用”可以填写：1 或“是”，0 或“否”；不填表示“是”" in body

    refused = _upload(clerk_client, "faqentry", FAQ_ROWS.encode(), "faq.csv", beta)
    assert "store" in refused.context["form"].errors
    assert not FaqEntry.objects.exists()


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_the_downloaded_template_has_chinese_headers_and_imports_as_it_is(clerk_client, alpha, extension):
    response = clerk_client.get(reverse("admin:kb_product_import_template", args=[extension]))

    assert response.status_code == 200
    assert f'filename="product-template.{extension}"' in response["Content-Disposition"]
    if extension == "csv":
        assert response.content.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel opens it as UTF-8"
        header = response.content.decode("utf-8-sig").splitlines()[0]
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        header = ",".join(str(cell.value) for cell in next(sheet.iter_rows()))
    assert header == "商品编码,商品名称,价格,库存,描述,商品属性,尺码指南,发货说明,在售"

    file_format = CSV if extension == "csv" else XLSX
    preview = _upload(clerk_client, "product", response.content, f"template.{extension}", alpha, file_format)
    _confirm(clerk_client, "product", preview)

    product = Product.objects.get()
    assert (product.store, product.sku, product.attributes) == (
        alpha,
        "TS-001",
        {"面料": "纯棉", "尺码": ["S", "M", "L", "XL"]},
    )


def test_a_bad_choice_is_shown_inline_with_the_allowed_values(clerk_client, alpha):
    content = "问题,答案,回答方式\n在吗？,在的。,有时候\n".encode("gbk")

    preview = _upload(clerk_client, "faqentry", content, "faq.csv", alpha)

    body = preview.content.decode()
    assert "部分行有错误，没有导入任何数据" in body
    assert (
        "回答方式</strong>：“有时候”不可用，只能填写：direct（直接回答：命中关键词时原样回复）、"
        "reference（参考资料：供模型组织回答）"
    ) in body
    assert "confirm_form" not in preview.context
    assert not FaqEntry.objects.exists()
