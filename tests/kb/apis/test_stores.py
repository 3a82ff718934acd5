"""Stores and their bot settings through the API."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from kb.models import Store
from tests.kb.apis import results

pytestmark = pytest.mark.django_db


def test_stores_are_scoped_and_their_bot_settings_editable(api: APIClient, store: Store, other_store: Store) -> None:
    assert [s["slug"] for s in results(api.get("/api/stores/"))] == ["shop-a"]
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
