import pytest

from tests.kb.factories import StaffUserFactory, StoreFactory


@pytest.mark.django_db
def test_front_page_is_the_demo_shop_and_links_admin_and_api_docs(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'href="/admin/"' in response.content
    assert b'href="/api/docs/"' in response.content


@pytest.mark.django_db
def test_staff_factory_attaches_stores():
    store = StoreFactory()
    user = StaffUserFactory(stores=[store])
    assert list(user.stores.all()) == [store]
    assert user.has_perm("kb.view_product")
