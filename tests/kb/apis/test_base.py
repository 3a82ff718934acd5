"""What every knowledge-base endpoint shares: store scoping, permissions, filters, JSON errors."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from kb.apis import ProductViewSet
from kb.models import FaqEntry, Product, Store
from tests.kb.apis import results
from tests.kb.factories import (
    FaqEntryFactory,
    ProductFactory,
    PromotionFactory,
    StaffUserFactory,
    StoreFactory,
    SynonymRuleFactory,
)

pytestmark = pytest.mark.django_db


def test_search_and_store_filter_narrow_lists(store: Store) -> None:
    second = StoreFactory(slug="shop-a2")
    client = APIClient()
    client.force_login(StaffUserFactory(stores=[store, second]))
    ProductFactory(store=store, sku="TEE-1", name="纯棉T恤")
    ProductFactory(store=store, sku="CAP-1", name="棒球帽")
    ProductFactory(store=second, sku="TEE-2", name="速干T恤")

    assert {p["sku"] for p in results(client.get("/api/products/?search=T恤"))} == {"TEE-1", "TEE-2"}
    assert [p["sku"] for p in results(client.get("/api/products/?store=shop-a2"))] == ["TEE-2"]
    assert [p["sku"] for p in results(client.get("/api/products/?store=shop-a&search=帽"))] == ["CAP-1"]


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

    assert [row["id"] for row in results(api.get(url))] == [own.pk]
    assert results(api.get(f"{url}?store=shop-b")) == []

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


@pytest.mark.parametrize("url", ["/api/stores/", "/api/products/", "/api/promotions/", "/api/faqs/", "/api/synonyms/"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=9223372036854775808", "limit"),  # 2^63: SQLite answered it with a server error
        ("limit=99999999999999999999999", "limit"),
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=%D9%A1", "limit"),  # an Arabic-Indic one
        ("offset=-1", "offset"),
        ("offset=9223372036854775808", "offset"),
        ("offset=x", "offset"),
    ],
)
def test_a_bad_or_huge_page_is_a_clear_400(api: APIClient, url: str, query: str, field: str) -> None:
    response = api.get(f"{url}?{query}")
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}: {field} must be a whole number from")


def test_pages_are_at_most_the_largest_page_size_and_walk_every_row(api: APIClient, store: Store, settings) -> None:
    settings.API_MAX_PAGE_SIZE = 3
    made = {ProductFactory(store=store).pk for _ in range(7)}
    assert api.get("/api/products/?limit=4").status_code == 400
    seen, offset = [], 0
    while True:
        body = api.get(f"/api/products/?limit=3&offset={offset}").json()
        assert len(body["results"]) <= 3 and body["count"] == 7
        seen += [row["id"] for row in body["results"]]
        if body["next"] is None:
            break
        offset += 3
    assert sorted(seen) == sorted(made)
    assert results(api.get("/api/products/?offset=9223372036854775807")) == []
