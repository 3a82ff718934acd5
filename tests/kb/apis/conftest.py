import pytest
from rest_framework.test import APIClient

from kb.models import Store
from tests.kb.factories import StaffUserFactory, StoreFactory


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
