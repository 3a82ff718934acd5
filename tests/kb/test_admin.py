import html
import io
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from import_export.tmp_storages import TempFolderStorage
from openpyxl import Workbook, load_workbook

from kb.models import FaqEntry, Product, Store
from kb.resources import FaqEntryResource
from tests.kb.factories import FaqEntryFactory, ProductFactory, StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db

CSV, XLSX = "0", "1"  # indexes of the admin's import/export formats


@pytest.fixture
def alpha() -> Store:
    return StoreFactory(slug="alpha", name="阿尔法小店")


@pytest.fixture
def beta() -> Store:
    return StoreFactory(slug="beta", name="贝塔小店")


@pytest.fixture
def alpha_client(client, alpha):
    client.force_login(StaffUserFactory(stores=[alpha]))
    return client


@pytest.fixture
def superuser_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))
    return client


def upload(client, model: str, content: bytes, name: str, file_format: str = CSV):
    """Step 1 of the admin import: upload the file and get the preview (a dry run)."""
    return client.post(
        reverse(f"admin:kb_{model}_import"),
        {"resource": "0", "format": file_format, "import_file": SimpleUploadedFile(name, content)},
    )


def confirm(client, model: str, preview):
    """Step 2: post the preview page's hidden confirm form to process_import, as the browser does."""
    assert preview.status_code == 200
    assert "confirm_form" in preview.context, "the preview offers no 'Confirm import'"
    return client.post(reverse(f"admin:kb_{model}_process_import"), preview.context["confirm_form"].initial)


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def row_errors(preview) -> list[tuple[int, str]]:
    return [(number, str(error.error)) for number, errors in preview.context["result"].row_errors() for error in errors]


def invalid_fields(preview) -> list[tuple[int, str]]:
    return [(row.number, field) for row in preview.context["result"].invalid_rows for field in row.error_dict]


# Store scoping of changelists and change views


def test_staff_sees_only_their_stores_products_and_faqs(alpha_client, alpha, beta):
    ProductFactory(store=alpha, name="阿尔法外套")
    ProductFactory(store=beta, name="贝塔裙子")
    FaqEntryFactory(store=alpha, question="阿尔法几天发货?")
    FaqEntryFactory(store=beta, question="贝塔几天发货?")

    products = alpha_client.get(reverse("admin:kb_product_changelist")).content.decode()
    faqs = alpha_client.get(reverse("admin:kb_faqentry_changelist")).content.decode()

    assert "阿尔法外套" in products
    assert "阿尔法几天发货?" in faqs
    # Neither the rows nor the store filter show anything of store B.
    assert "贝塔" not in products
    assert "贝塔" not in faqs


@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_staff_cannot_open_another_stores_object_by_url(alpha_client, beta, view):
    product = ProductFactory(store=beta, name="贝塔裙子")
    faq = FaqEntryFactory(store=beta, question="贝塔几天发货?")

    for model, obj in (("product", product), ("faqentry", faq)):
        response = alpha_client.get(reverse(f"admin:kb_{model}_{view}", args=[obj.pk]))
        assert response.status_code == 302
        assert response.url == reverse("admin:index")
    assert Product.objects.filter(pk=product.pk).exists()


def test_superuser_sees_every_store(superuser_client, alpha, beta):
    ProductFactory(store=alpha, name="阿尔法外套")
    ProductFactory(store=beta, name="贝塔裙子")
    beta_faq = FaqEntryFactory(store=beta, question="贝塔几天发货?")

    products = superuser_client.get(reverse("admin:kb_product_changelist")).content.decode()
    assert "阿尔法外套" in products
    assert "贝塔裙子" in products
    assert superuser_client.get(reverse("admin:kb_faqentry_change", args=[beta_faq.pk])).status_code == 200


def test_staff_can_only_pick_their_stores_when_adding(alpha_client, alpha, beta):
    add_url = reverse("admin:kb_faqentry_add")
    form = alpha_client.get(add_url).content.decode()
    assert "阿尔法小店" in form
    assert "贝塔小店" not in form

    data = {"question": "偷偷加一条?", "answer": "不行。", "keywords": "[]", "alt_questions": "[]"}
    data |= {"mode": "direct", "category": "", "enabled": "on"}
    refused = alpha_client.post(add_url, data | {"store": beta.pk})
    assert refused.status_code == 200
    assert "store" in refused.context["adminform"].form.errors
    assert not FaqEntry.objects.exists()

    assert alpha_client.post(add_url, data | {"store": alpha.pk}).status_code == 302
    assert FaqEntry.objects.get().store == alpha


def _store_form(store: Store, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "slug": store.slug,
        "name": store.name,
        "assistant_name": store.assistant_name,
        "persona": store.persona,
        "boundaries": store.boundaries,
        "offtopic_reply": store.offtopic_reply,
        "handoff_message": store.handoff_message,
        "disclaimer": store.disclaimer,
        "welcome": store.welcome,
        "quick_questions": "\n".join(store.quick_questions),
        **{f"theme_{key}": value for key, value in store.theme.items()},
        "allowed_origins": "\n".join(store.allowed_origins),
        "relevance_threshold": str(store.relevance_threshold),
        "retrieval_top_k": str(store.retrieval_top_k),
    }
    return data | changes


def test_staff_edit_their_store_settings_but_not_its_staff(client, alpha, beta):
    clerk = StaffUserFactory(stores=[alpha])
    outsider = StaffUserFactory()
    client.force_login(clerk)

    stores = client.get(reverse("admin:kb_store_changelist")).content.decode()
    assert "阿尔法小店" in stores
    assert "贝塔小店" not in stores
    assert client.get(reverse("admin:kb_store_change", args=[beta.pk])).status_code == 302

    response = client.post(
        reverse("admin:kb_store_change", args=[alpha.pk]),
        _store_form(
            alpha,
            welcome="欢迎光临阿尔法!",
            quick_questions='["包邮吗?", "几天到?"]',
            allowed_origins='["https://alpha.example.com"]',
            staff=[outsider.pk],
        ),
    )

    assert response.status_code == 302
    alpha.refresh_from_db()
    assert alpha.welcome == "欢迎光临阿尔法!"
    assert alpha.quick_questions == ["包邮吗?", "几天到?"]
    assert alpha.allowed_origins == ["https://alpha.example.com"]
    assert list(alpha.staff.all()) == [clerk]


def test_superuser_assigns_store_staff(superuser_client, alpha):
    clerk = StaffUserFactory()
    response = superuser_client.post(
        reverse("admin:kb_store_change", args=[alpha.pk]), _store_form(alpha, staff=[clerk.pk])
    )
    assert response.status_code == 302
    assert list(alpha.staff.all()) == [clerk]


def test_store_admin_shows_the_snippet_secret_and_preview(client):
    store = StoreFactory(slug="shop")
    client.force_login(StaffUserFactory(stores=[store]))
    response = client.get(reverse("admin:kb_store_change", args=[store.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    snippet = '<script src="http://testserver/static/conversations/widget.js" data-store="shop" async></script>'
    assert html.escape(snippet) in body
    assert store.widget_secret in body and 'id="shopdesk-preview"' in body
    assert "http://testserver/chat/shop/" in body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("allowed_origins", "https://alpha.example.com/shop"),
        ("allowed_origins", "alpha.example.com"),
        ("quick_questions", '[""]'),
        ("quick_questions", "\n".join(f"问题{n}?" for n in range(11))),
        ("theme_color", "red"),
        ("business_hours_mon", "9点到6点"),
    ],
)
def test_store_settings_are_checked(superuser_client, alpha, field, value):
    before = alpha.updated_at
    response = superuser_client.post(
        reverse("admin:kb_store_change", args=[alpha.pk]), _store_form(alpha, **{field: value})
    )
    assert response.status_code == 200
    name = field.rsplit("_", 1)[0] if field.startswith(("theme_", "business_hours_")) else field
    assert name in response.context["adminform"].form.errors
    alpha.refresh_from_db()
    assert alpha.updated_at == before


# Import of FAQ entries


GOOD_FAQ_CSV = csv_bytes(
    "store,question,answer,keywords,alt_questions,mode,category,enabled",
    "alpha,什么时候发货?,下单后48小时内发货。,发货| 几天发 |,啥时候发货?|多久发货?,direct,shipping,1",
    'alpha,可以退货吗?,"签收后七天内,未穿着可退。",退货|退款,,reference,after_sale,1',
)


def test_good_faq_csv_previews_then_imports_on_confirm(alpha_client, alpha):
    preview = upload(alpha_client, "faqentry", GOOD_FAQ_CSV, "faq.csv")

    assert preview.status_code == 200
    assert "什么时候发货?" in preview.content.decode()
    assert not FaqEntry.objects.exists(), "the preview must not write anything"

    done = confirm(alpha_client, "faqentry", preview)

    assert done.status_code == 302
    assert done.url == reverse("admin:kb_faqentry_changelist")
    shipping = FaqEntry.objects.get(question="什么时候发货?")
    assert shipping.store == alpha
    assert shipping.keywords == ["发货", "几天发"]
    assert shipping.alt_questions == ["啥时候发货?", "多久发货?"]
    assert shipping.mode == FaqEntry.Mode.DIRECT
    returns = FaqEntry.objects.get(question="可以退货吗?")
    assert returns.answer == "签收后七天内,未穿着可退。"
    assert returns.keywords == ["退货", "退款"]
    assert returns.alt_questions == []


def test_reimport_updates_by_store_and_question(alpha_client, alpha):
    FaqEntryFactory(store=alpha, question="什么时候发货?", answer="旧答案", keywords=["旧"])

    confirm(alpha_client, "faqentry", upload(alpha_client, "faqentry", GOOD_FAQ_CSV, "faq.csv"))

    assert FaqEntry.objects.count() == 2
    updated = FaqEntry.objects.get(question="什么时候发货?")
    assert updated.answer == "下单后48小时内发货。"
    assert updated.keywords == ["发货", "几天发"]


@pytest.mark.parametrize(
    ("bad_row", "field", "shown"),
    [
        (
            "alpha,可以退货吗?,七天无理由退货。,退货,sometimes",
            "mode",
            "回答方式</strong>：“sometimes”不可用，只能填写：direct（直接回答：命中关键词时原样回复）、"
            "reference（参考资料：供模型组织回答）",
        ),
        ("alpha,可以退货吗?,,退货,direct", "answer", "答案</strong>：此字段不能为空。"),
    ],
)
def test_faq_csv_with_a_bad_row_shows_the_row_and_writes_nothing(alpha_client, alpha, bad_row, field, shown):
    existing = FaqEntryFactory(store=alpha, question="在吗?")
    content = csv_bytes(
        "store,question,answer,keywords,mode", "alpha,什么时候发货?,48小时内发货。,发货,direct", bad_row
    )

    preview = upload(alpha_client, "faqentry", content, "faq.csv")

    assert preview.status_code == 200
    assert invalid_fields(preview) == [(2, field)]
    assert "confirm_form" not in preview.context
    html = preview.content.decode()
    assert "validation-error-field-label" in html
    # The problem is shown inline in the user's language, with the values allowed.
    assert f'<strong class="validation-error-field-label">{shown}' in html
    assert list(FaqEntry.objects.all()) == [existing]


@pytest.mark.parametrize("slug", ["beta", "gamma"])
def test_faq_row_for_a_store_that_is_not_yours_is_refused(alpha_client, alpha, beta, slug):
    content = csv_bytes(
        "store,question,answer,keywords", "alpha,什么时候发货?,48小时内发货。,发货", f"{slug},可以退货吗?,可以。,退货"
    )

    preview = upload(alpha_client, "faqentry", content, "faq.csv")

    assert row_errors(preview) == [(2, f"店铺“{slug}”不是您的店铺（您的店铺：alpha）。")]
    assert "不是您的店铺" in preview.content.decode()
    assert "confirm_form" not in preview.context
    assert not FaqEntry.objects.exists()


def _confirm_without_preview(client, content: bytes):
    """Post the confirm step for a file that never passed the preview (a forged or stale form)."""
    storage = TempFolderStorage(read_mode="r", encoding="utf-8-sig")
    storage.save(content)
    return client.post(
        reverse("admin:kb_faqentry_process_import"),
        {"import_file_name": storage.name, "original_file_name": "faq.csv", "format": CSV, "resource": "0"},
        follow=True,
    )


@pytest.mark.parametrize(
    "bad_row",
    ["alpha,可以退货吗?,可以。,退货,sometimes", "beta,可以退货吗?,可以。,退货,direct"],
    ids=["invalid", "foreign"],
)
def test_confirm_step_also_imports_nothing_when_a_row_is_bad(alpha_client, alpha, beta, bad_row):
    content = csv_bytes(
        "store,question,answer,keywords,mode", "alpha,什么时候发货?,48小时内发货。,发货,direct", bad_row
    )

    response = _confirm_without_preview(alpha_client, content)

    assert not FaqEntry.objects.exists()
    assert response.redirect_chain[-1][0] == reverse("admin:kb_faqentry_import")
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("没有导入任何数据：第 2 行")


def test_faq_csv_export_holds_only_the_users_stores_rows_and_round_trips_chinese(alpha_client, alpha, beta):
    FaqEntryFactory(store=alpha, question="支持花呗分期吗?", answer="支持三期免息。", keywords=["花呗", "分期"])
    FaqEntryFactory(store=beta, question="贝塔的秘密问题?")
    fields = {f"faqentryresource_{name}": "on" for name in FaqEntryResource().get_export_order()}

    response = alpha_client.post(reverse("admin:kb_faqentry_export"), {"resource": "0", "format": CSV} | fields)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    exported = response.content
    text = exported.decode("utf-8-sig")
    assert text.splitlines()[0] == "store,question,answer,keywords,alt_questions,mode,category,enabled"
    assert "alpha,支持花呗分期吗?,支持三期免息。,花呗|分期" in text
    assert "贝塔" not in text
    assert "beta" not in text

    FaqEntry.objects.filter(store=alpha).delete()
    confirm(alpha_client, "faqentry", upload(alpha_client, "faqentry", exported, "faq-export.csv"))

    restored = FaqEntry.objects.get(store=alpha)
    assert (restored.question, restored.answer, restored.keywords) == (
        "支持花呗分期吗?",
        "支持三期免息。",
        ["花呗", "分期"],
    )


# Products, XLSX


def _xlsx(*rows: list[object]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


PRODUCT_HEADER = ["store", "sku", "name", "price", "stock", "attributes", "is_active"]


def test_xlsx_product_import_creates_and_updates_by_sku(alpha_client, alpha):
    ProductFactory(store=alpha, sku="TS-001", name="旧T恤", stock=1)
    content = _xlsx(
        PRODUCT_HEADER,
        ["alpha", "TS-001", "纯棉T恤", 79.9, 120, '{"颜色": "白色", "尺码": ["S", "M"]}', True],
        ["alpha", "JK-002", "防风夹克", 299, 8, "", False],
    )

    preview = upload(alpha_client, "product", content, "products.xlsx", XLSX)
    assert Product.objects.count() == 1
    done = confirm(alpha_client, "product", preview)

    assert done.status_code == 302
    assert Product.objects.count() == 2
    tee = Product.objects.get(sku="TS-001")
    assert (tee.name, tee.price, tee.stock) == ("纯棉T恤", Decimal("79.90"), 120)
    assert tee.attributes == {"颜色": "白色", "尺码": ["S", "M"]}
    jacket = Product.objects.get(sku="JK-002")
    assert (jacket.store, jacket.price, jacket.attributes, jacket.is_active) == (alpha, Decimal("299"), {}, False)


def test_xlsx_product_with_bad_attributes_or_price_names_the_field(alpha_client, alpha):
    content = _xlsx(
        PRODUCT_HEADER,
        ["alpha", "TS-001", "纯棉T恤", 79.9, 120, "白色", True],
        ["alpha", "JK-002", "防风夹克", -1, 8, "", True],
    )

    preview = upload(alpha_client, "product", content, "products.xlsx", XLSX)

    assert invalid_fields(preview) == [(1, "attributes"), (2, "price")]
    assert "confirm_form" not in preview.context
    assert not Product.objects.exists()


def test_product_xlsx_export_holds_only_the_users_stores_rows(alpha_client, alpha, beta):
    ProductFactory(store=alpha, sku="A-1", name="阿尔法外套", attributes={"颜色": "黑"})
    ProductFactory(store=beta, sku="B-1", name="贝塔裙子")
    fields = {"productresource_store": "on", "productresource_sku": "on", "productresource_attributes": "on"}

    response = alpha_client.post(reverse("admin:kb_product_export"), {"resource": "0", "format": XLSX} | fields)

    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows == [("store", "sku", "attributes"), ("alpha", "A-1", '{"颜色": "黑"}')]


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def lockout_counted_in(request, settings):
    """Where failed sign-ins are counted: the database (embedded), or Redis (scaled mode)."""
    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:6379/0",
                "KEY_PREFIX": f"test-lockout-{uuid.uuid4().hex}",  # never clear(): it would empty the database
            }
        }
        settings.AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
    return request.param


def test_back_office_sign_in_locks_an_address_after_repeated_failures(client, settings, lockout_counted_in):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-test-password")
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        wrong = client.post(url, {"username": "boss", "password": "guess"}, REMOTE_ADDR="10.4.0.1")
        assert wrong.status_code == 200 and not wrong.wsgi_request.user.is_authenticated
    locked = client.post(url, {"username": "boss", "password": "guess"}, REMOTE_ADDR="10.4.0.1")
    assert locked.status_code == 429
    assert f"已被暂时锁定 {settings.AXES_COOLOFF_TIME.seconds // 60} 分钟" in locked.content.decode()
    # The right password does not get in from there either, until the lockout ends.
    right = client.post(url, {"username": "boss", "password": "a-long-test-password"}, REMOTE_ADDR="10.4.0.1")
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    # Another address signs in as usual.
    other = client.post(url, {"username": "boss", "password": "a-long-test-password"}, REMOTE_ADDR="10.4.0.2")
    assert other.status_code == 302 and client.session["_auth_user_id"]


def test_the_lockout_page_speaks_english_to_an_english_browser(client, settings):
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked = client.post(url, {"username": "x", "password": "y"}, REMOTE_ADDR="10.4.0.3", HTTP_ACCEPT_LANGUAGE="en")
    assert locked.status_code == 429 and "Too many failed sign-ins (5)" in locked.content.decode()
