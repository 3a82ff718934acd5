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


def test_anonymous_calls_are_throttled_per_address(settings) -> None:
    settings.API_THROTTLE_ANON = "3/min"
    StaffUserFactory(username="alice")
    client = APIClient(REMOTE_ADDR="10.2.0.1")
    login = {"username": "alice", "password": "pw-for-tests-123"}
    codes = [client.post("/api/auth/token/", login, format="json").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.post("/api/auth/token/", {"username": "alice", "password": "pw-for-tests-123"}, format="json")
    assert refused.json()["message"].startswith("请求已被限流") and int(refused["Retry-After"]) > 0
    other = APIClient(REMOTE_ADDR="10.2.0.2")
    assert other.post("/api/auth/token/", {"username": "alice", "password": "pw-for-tests-123"}).status_code == 200


def test_signed_in_calls_are_throttled_per_user(store: Store, settings) -> None:
    settings.API_THROTTLE_USER = "3/min"
    busy, calm = APIClient(), APIClient()
    busy.force_login(StaffUserFactory(stores=[store]))
    calm.force_login(StaffUserFactory(stores=[store]))
    assert [busy.get("/api/products/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert calm.get("/api/products/").status_code == 200


def test_token_login_is_locked_after_repeated_failures_from_one_address(settings) -> None:
    StaffUserFactory(username="alice")
    client = APIClient(REMOTE_ADDR="10.3.0.1")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        wrong = client.post("/api/auth/token/", {"username": "alice", "password": "guess"}, format="json")
        assert wrong.status_code in (400, 429)
    # Now even the right password is refused from there, with a clear message; elsewhere it works.
    right = client.post("/api/auth/token/", {"username": "alice", "password": "pw-for-tests-123"}, format="json")
    assert right.status_code == 429 and "Too many failed sign-ins" in right.json()["message"]
    elsewhere = APIClient(REMOTE_ADDR="10.3.0.2")
    assert elsewhere.post("/api/auth/token/", {"username": "alice", "password": "pw-for-tests-123"}).status_code == 200
