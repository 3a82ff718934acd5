"""Token login for API clients."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from kb.models import Store
from tests.kb.apis import results
from tests.kb.factories import ProductFactory, StaffUserFactory

pytestmark = pytest.mark.django_db


def test_token_login_then_token_requests(store: Store) -> None:
    ProductFactory(store=store, sku="TEE-1")
    StaffUserFactory(username="alice", stores=[store])
    client = APIClient()

    response = client.post("/api/auth/token/", {"username": "alice", "password": "pw-for-tests-123"}, format="json")
    assert response.status_code == 200, response.json()
    token = response.json()["token"]

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert [p["sku"] for p in results(client.get("/api/products/"))] == ["TEE-1"]
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
