from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from kb.apis import ProductViewSet
from kb.models import FaqEntry, Product, Promotion, Store
from tests.kb.factories import (
    FaqEntryFactory,
    ProductFactory,
    PromotionFactory,
    StaffUserFactory,
    StoreFactory,
    SynonymRuleFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def store() -> Store:
    return StoreFactory(slug="shop-a")


@pytest.fixture
def other_store() -> Store:
    return StoreFactory(slug="shop-b")


@pytest.fixture
def api(store: Store) -> APIClient:
    """A staff member of shop-a, logged in with a session like the back office."""
    client = APIClient()
    client.force_login(StaffUserFactory(stores=[store]))
    return client


def _results(response) -> list[dict]:
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def test_product_crud_round_trip(api: APIClient, store: Store) -> None:
    created = api.post(
        "/api/products/",
        {"store": "shop-a", "sku": "TEE-001", "name": "纯棉T恤", "price": "79.00", "attributes": {"color": "白"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    product_id = created.json()["id"]
    assert created.json()["store"] == "shop-a"
    assert created.json()["price"] == "79.00"

    assert [p["sku"] for p in _results(api.get("/api/products/"))] == ["TEE-001"]
    assert api.get(f"/api/products/{product_id}/").json()["attributes"] == {"color": "白"}

    updated = api.patch(f"/api/products/{product_id}/", {"price": "69.00", "stock": 5}, format="json")
    assert updated.status_code == 200, updated.json()
    assert updated.json()["price"] == "69.00"
    product = Product.objects.get(pk=product_id)
    assert (product.price, product.stock) == (Decimal("69.00"), 5)

    assert api.delete(f"/api/products/{product_id}/").status_code == 204
    assert not Product.objects.filter(pk=product_id).exists()
    assert api.get(f"/api/products/{product_id}/").status_code == 404


def test_faq_crud_round_trip(api: APIClient, store: Store) -> None:
    created = api.post(
        "/api/faqs/",
        {
            "store": "shop-a",
            "question": "什么时候发货?",
            "answer": "下单后48小时内发货。",
            "keywords": ["发货", "几天"],
            "mode": "direct",
            "hit_count": 999,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    faq_id = created.json()["id"]
    assert created.json()["keywords"] == ["发货", "几天"]
    assert created.json()["hit_count"] == 0  # counted by the bot, not settable

    assert [f["question"] for f in _results(api.get("/api/faqs/?store=shop-a"))] == ["什么时候发货?"]

    replaced = api.put(
        f"/api/faqs/{faq_id}/",
        {"store": "shop-a", "question": "多久发货?", "answer": "24小时内发货。", "mode": "reference"},
        format="json",
    )
    assert replaced.status_code == 200, replaced.json()
    faq = FaqEntry.objects.get(pk=faq_id)
    assert (faq.question, faq.answer, faq.mode) == ("多久发货?", "24小时内发货。", "reference")

    assert api.delete(f"/api/faqs/{faq_id}/").status_code == 204
    assert not FaqEntry.objects.exists()


def test_search_and_store_filter_narrow_lists(store: Store) -> None:
    second = StoreFactory(slug="shop-a2")
    client = APIClient()
    client.force_login(StaffUserFactory(stores=[store, second]))
    ProductFactory(store=store, sku="TEE-1", name="纯棉T恤")
    ProductFactory(store=store, sku="CAP-1", name="棒球帽")
    ProductFactory(store=second, sku="TEE-2", name="速干T恤")

    assert {p["sku"] for p in _results(client.get("/api/products/?search=T恤"))} == {"TEE-1", "TEE-2"}
    assert [p["sku"] for p in _results(client.get("/api/products/?store=shop-a2"))] == ["TEE-2"]
    assert [p["sku"] for p in _results(client.get("/api/products/?store=shop-a&search=帽"))] == ["CAP-1"]


@pytest.mark.parametrize(
    ("url", "factory"),
    [
        ("/api/products/", ProductFactory),
        ("/api/promotions/", PromotionFactory),
        ("/api/faqs/", FaqEntryFactory),
        ("/api/synonyms/", SynonymRuleFactory),
    ],
)
def test_staff_never_see_or_touch_another_stores_rows(api: APIClient, other_store: Store, url: str, factory) -> None:
    own = factory(store=Store.objects.get(slug="shop-a"))
    foreign = factory(store=other_store)

    assert [row["id"] for row in _results(api.get(url))] == [own.pk]
    assert _results(api.get(f"{url}?store=shop-b")) == []

    for response in (
        api.get(f"{url}{foreign.pk}/"),
        api.patch(f"{url}{foreign.pk}/", {"store": "shop-a"}, format="json"),
        api.delete(f"{url}{foreign.pk}/"),
    ):
        assert response.status_code == 404
        assert response.json()["message"]
    assert type(foreign).objects.filter(pk=foreign.pk, store=other_store).exists()


def test_creating_in_another_store_is_refused_with_a_clear_message(api: APIClient, other_store: Store) -> None:
    response = api.post(
        "/api/products/", {"store": "shop-b", "sku": "X-1", "name": "偷渡商品", "price": "1.00"}, format="json"
    )
    assert response.status_code == 400
    assert "shop-b" in response.json()["message"]
    assert "store" in response.json()["extra"]["fields"]

    faq = api.post("/api/faqs/", {"store": "shop-b", "question": "Q?", "answer": "A"}, format="json")
    assert faq.status_code == 400
    assert not Product.objects.exists() and not FaqEntry.objects.exists()


def test_moving_a_row_to_another_stores_slug_is_refused(api: APIClient, store: Store, other_store: Store) -> None:
    product = ProductFactory(store=store)
    response = api.patch(f"/api/products/{product.pk}/", {"store": "shop-b"}, format="json")
    assert response.status_code == 400
    product.refresh_from_db()
    assert product.store == store


def test_stores_are_scoped_and_their_bot_settings_editable(api: APIClient, store: Store, other_store: Store) -> None:
    assert [s["slug"] for s in _results(api.get("/api/stores/"))] == ["shop-a"]
    assert api.get("/api/stores/shop-b/").status_code == 404
    assert api.patch("/api/stores/shop-b/", {"persona": "x"}, format="json").status_code == 404

    response = api.patch(
        "/api/stores/shop-a/",
        {
            "persona": "活泼的客服小美",
            "quick_questions": ["包邮吗?", "几天到?"],
            "theme": {"color": "#112233", "position": "left"},
            "allowed_origins": ["https://Shop-A.example.com/"],
            "retrieval_top_k": 5,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    store.refresh_from_db()
    assert store.persona == "活泼的客服小美"
    assert store.quick_questions == ["包邮吗?", "几天到?"]
    assert store.theme["color"] == "#112233" and store.theme["position"] == "left"
    assert store.allowed_origins == ["https://shop-a.example.com"]
    assert store.retrieval_top_k == 5
    assert "widget_secret" not in response.json()
    other_store.refresh_from_db()
    assert other_store.persona != "活泼的客服小美"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"retrieval_top_k": 50}, "retrieval_top_k"),
        ({"relevance_threshold": -1}, "relevance_threshold"),
        ({"allowed_origins": ["https://shop.example.com/cart"]}, "allowed_origins"),
        ({"theme": {"color": "red;background:url(x)"}}, "theme"),
    ],
)
def test_invalid_bot_settings_are_refused(api: APIClient, store: Store, payload: dict, field: str) -> None:
    response = api.patch("/api/stores/shop-a/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}:")
    assert field in response.json()["extra"]["fields"]


def test_only_superusers_create_or_delete_stores(api: APIClient, store: Store) -> None:
    refused = api.post("/api/stores/", {"slug": "new-shop", "name": "新店"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["message"]
    assert api.delete("/api/stores/shop-a/").status_code == 403
    assert Store.objects.filter(slug="shop-a").exists()

    admin = APIClient()
    admin.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))
    created = admin.post("/api/stores/", {"slug": "new-shop", "name": "新店"}, format="json")
    assert created.status_code == 201, created.json()
    assert Store.objects.get(slug="new-shop").name == "新店"
    assert admin.delete("/api/stores/new-shop/").status_code == 204
    assert not Store.objects.filter(slug="new-shop").exists()


def test_duplicate_sku_is_a_400_with_a_message_but_other_stores_may_reuse_it(
    api: APIClient, store: Store, other_store: Store
) -> None:
    ProductFactory(store=store, sku="TEE-001")
    ProductFactory(store=other_store, sku="TEE-002")
    payload = {"store": "shop-a", "sku": "TEE-001", "name": "重复", "price": "1.00"}

    response = api.post("/api/products/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "This store already has a product with this SKU."

    assert api.post("/api/products/", {**payload, "sku": "TEE-002"}, format="json").status_code == 201


def test_a_duplicate_that_slips_past_validation_is_a_400_not_a_500(api: APIClient, store: Store, monkeypatch) -> None:
    """Two clerks saving the same SKU at once: the database constraint answers, and still as JSON."""
    ProductFactory(store=store, sku="TEE-001")
    monkeypatch.setattr(ProductViewSet.InputSerializer.Meta, "validators", [])

    response = api.post(
        "/api/products/", {"store": "shop-a", "sku": "TEE-001", "name": "x", "price": "1"}, format="json"
    )
    assert response.status_code == 400
    assert "duplicate" in response.json()["message"]
    assert Product.objects.filter(sku="TEE-001").count() == 1


def test_renaming_an_faq_onto_an_existing_question_is_refused(api: APIClient, store: Store) -> None:
    FaqEntryFactory(store=store, question="包邮吗?")
    other = FaqEntryFactory(store=store, question="几天到?")
    response = api.patch(f"/api/faqs/{other.pk}/", {"question": "包邮吗?"}, format="json")
    assert response.status_code == 400
    assert "question" in response.json()["message"]
    other.refresh_from_db()
    assert other.question == "几天到?"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "multiplier", "multiplier": "1.5"}, "multiplier"),
        ({"kind": "multiplier"}, "multiplier"),
        ({"kind": "threshold_off", "threshold": "300", "amount": "0"}, "amount"),
        ({"kind": "gift", "gift": ""}, "gift"),
        (
            {"kind": "free_shipping", "starts_at": "2026-06-18T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"},
            "ends_at",
        ),
        ({"kind": "free_shipping", "threshold": "-1"}, "threshold"),
    ],
)
def test_promotion_rules_are_400s_with_a_message(api: APIClient, payload: dict, field: str) -> None:
    response = api.post("/api/promotions/", {"store": "shop-a", "title": "618大促", **payload}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith(f"{field}:")
    assert field in body["extra"]["fields"]
    assert not Promotion.objects.exists()


def test_valid_promotion_is_created_and_reports_whether_it_is_active(api: APIClient) -> None:
    response = api.post(
        "/api/promotions/",
        {"store": "shop-a", "title": "全场95折", "kind": "multiplier", "multiplier": "0.95"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["multiplier"] == "0.950"
    assert response.json()["is_active"] is True


def test_partial_update_is_checked_against_the_values_it_keeps(api: APIClient, store: Store) -> None:
    promotion = PromotionFactory(store=store, kind=Promotion.Kind.THRESHOLD_OFF, amount=Decimal("50"))
    response = api.patch(f"/api/promotions/{promotion.pk}/", {"kind": "multiplier"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("multiplier:")
    promotion.refresh_from_db()
    assert promotion.kind == Promotion.Kind.THRESHOLD_OFF


def test_staff_without_the_model_permission_cannot_edit(store: Store) -> None:
    clerk = get_user_model().objects.create_user("clerk", password="pw-for-tests-123", is_staff=True)
    store.staff.add(clerk)
    product = ProductFactory(store=store)
    client = APIClient()
    client.force_login(clerk)

    response = client.patch(f"/api/products/{product.pk}/", {"name": "改名"}, format="json")
    assert response.status_code == 403
    assert response.json()["message"]
    assert client.get("/api/products/").status_code == 403


def test_token_login_then_token_requests(store: Store) -> None:
    ProductFactory(store=store, sku="TEE-1")
    StaffUserFactory(username="alice", stores=[store])
    client = APIClient()

    response = client.post("/api/auth/token/", {"username": "alice", "password": "pw-for-tests-123"}, format="json")
    assert response.status_code == 200, response.json()
    token = response.json()["token"]

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert [p["sku"] for p in _results(client.get("/api/products/"))] == ["TEE-1"]
    # The same token again on a second login.
    again = APIClient().post("/api/auth/token/", {"username": "alice", "password": "pw-for-tests-123"}, format="json")
    assert again.json()["token"] == token


def test_token_is_refused_for_a_wrong_password_or_a_non_staff_account() -> None:
    StaffUserFactory(username="alice")
    get_user_model().objects.create_user("shopper", password="pw-for-tests-123")
    client = APIClient()

    wrong = client.post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert wrong.status_code == 400
    assert wrong.json() == {"message": "Wrong username or password.", "extra": {}}

    shopper = client.post("/api/auth/token/", {"username": "shopper", "password": "pw-for-tests-123"}, format="json")
    assert shopper.status_code == 400
    assert "staff" in shopper.json()["message"]


@pytest.mark.parametrize("url", ["/api/stores/", "/api/products/", "/api/faqs/1/"])
def test_anonymous_and_bad_tokens_are_refused_with_json(url: str) -> None:
    anonymous = APIClient().get(url)
    assert anonymous.status_code in (401, 403)
    assert anonymous["Content-Type"] == "application/json"
    assert anonymous.json()["message"]

    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = bad.get(url)
    assert response.status_code in (401, 403)
    assert response.json()["message"]
