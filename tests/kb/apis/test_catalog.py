"""Products, promotions, FAQ entries and synonym rules through the API."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from kb.models import FaqEntry, Product, Promotion, Store
from tests.kb.apis import results
from tests.kb.factories import FaqEntryFactory, ProductFactory, PromotionFactory

pytestmark = pytest.mark.django_db


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

    assert [p["sku"] for p in results(api.get("/api/products/"))] == ["TEE-001"]
    assert api.get(f"/api/products/{product_id}/").json()["attributes"] == {"color": "白"}

    updated = api.patch(f"/api/products/{product_id}/", {"price": "69.00", "stock": 5}, format="json")
    assert updated.status_code == 200, updated.json()
    assert updated.json()["price"] == "69.00"
    product = Product.objects.get(pk=product_id)
    assert (product.price, product.stock) == (Decimal("69.00"), 5)

    assert api.delete(f"/api/products/{product_id}/").status_code == 204
    assert not Product.objects.filter(pk=product_id).exists()
    assert api.get(f"/api/products/{product_id}/").status_code == 404


def test_product_attributes_with_nul_are_saved_clean_on_every_database(api: APIClient, store: Store) -> None:
    # PostgreSQL refuses NUL in JSON ("unsupported Unicode escape sequence"): it was a server error.
    attributes = {"颜\u0000色": "白\u0000", "尺码": ["S", "M\u0000"], "克重": 180, "含量": 0.5}
    created = api.post(
        "/api/products/",
        {"store": "shop-a", "sku": "TEE-NUL", "name": "纯棉T恤", "price": "79.00", "attributes": attributes},
        format="json",
    )

    assert created.status_code == 201, created.json()
    expected = {"颜色": "白", "尺码": ["S", "M"], "克重": 180, "含量": 0.5}
    assert created.json()["attributes"] == expected
    assert Product.objects.get(sku="TEE-NUL").attributes == expected


@pytest.mark.parametrize(
    "attributes",
    [{"颜色": {"主色": "白"}}, {"颜色": None}, {"尺码": [["S"]]}, {" ": "白"}, ["颜色", "白"]],
)
def test_product_attributes_the_bot_cannot_read_are_refused(api: APIClient, store: Store, attributes) -> None:
    created = api.post(
        "/api/products/",
        {"store": "shop-a", "sku": "TEE-BAD", "name": "纯棉T恤", "price": "79.00", "attributes": attributes},
        format="json",
    )

    assert created.status_code == 400
    assert "attributes" in str(created.json())
    assert not Product.objects.filter(sku="TEE-BAD").exists()


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

    assert [f["question"] for f in results(api.get("/api/faqs/?store=shop-a"))] == ["什么时候发货?"]

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
