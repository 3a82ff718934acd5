"""Product copy in the back office: streamed parts, the checks on them, saved only on a click; the real model
on the demo store's T-shirt."""

import io
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.core.management import call_command
from django.test import AsyncClient

from engine import service
from engine.claims import StoreFacts, fold
from engine.product_copy import copy_reference, unbacked_materials
from kb.models import Product
from kb.selectors import store_snapshot
from kb.services import store_staff_add
from tests.engine.fake_runtime import FakeRuntime
from tests.kb.factories import ProductFactory, StoreFactory

FAKE_COPY = "这款纯棉T恤采用真丝面料，柔软透气。现在下单送精美礼品，全场五折！价格99元。"


@pytest.fixture
def fresh_engine():
    channel_layers.backends.clear()
    service.reset_scheduler()
    yield
    service.reset_scheduler()
    channel_layers.backends.clear()


@pytest.fixture
def fake_model(monkeypatch, fresh_engine):
    monkeypatch.setattr(service, "_runtime", lambda: FakeRuntime(answer=FAKE_COPY))


def _world():
    shop = StoreFactory(slug="shop")
    product = ProductFactory(
        store=shop, sku="TS-1", name="纯棉T恤", price="99.00", description="", attributes={"面料": "100%纯棉"}
    )
    clerk, _created = store_staff_add(store=shop, username="clerk", password="pw-for-tests-123")
    stranger, _created = store_staff_add(store=StoreFactory(slug="other"), username="zhao", password="pw-x-123456")
    return product, clerk, stranger


async def _stream(client: AsyncClient, product_id: int) -> list[dict]:
    response = await client.get(f"/backoffice/products/{product_id}/copy/stream/")
    assert response.status_code == 200
    body = b"".join([chunk async for chunk in response.streaming_content])
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


@pytest.mark.django_db(transaction=True)
async def test_parts_stream_with_progress_and_unbacked_claims_never_reach_the_page(fake_model):
    product, clerk, _stranger = await database_sync_to_async(_world)()
    client = AsyncClient()
    await client.aforce_login(clerk)
    frames = await _stream(client, product.pk)
    assert [f["type"] for f in frames if f["type"] in ("start", "done")] == ["start"] * 3 + ["done"]
    assert any(f["type"] == "delta" for f in frames)
    parts = {f["part"]: f for f in frames if f["type"] == "part"}
    assert set(parts) == {"title", "description", "promo"}
    description = parts["description"]
    assert "真丝" in description["dropped"] and "真丝" not in description["text"]  # invented material
    streamed = "".join(f["text"] for f in frames if f["type"] == "delta")
    for claim in ("礼品", "五折"):  # no gift, no discount in the store's data: not even while streaming
        assert claim not in streamed and claim not in description["text"]
    assert "99" in description["text"]  # the row's own price may be said
    # Nothing is saved by writing.
    assert (await Product.objects.aget(pk=product.pk)).description == ""


@pytest.mark.django_db
def test_saving_is_a_click_and_other_stores_products_are_not_found(client):
    product, clerk, stranger = _world()
    client.force_login(stranger)
    assert client.get(f"/backoffice/products/{product.pk}/copy/").status_code == 404
    assert client.post(f"/backoffice/products/{product.pk}/copy/", {"description": "x"}).status_code == 404
    client.force_login(clerk)
    page = client.get(f"/backoffice/products/{product.pk}/copy/")
    assert page.status_code == 200 and "纯棉T恤" in page.content.decode()
    saved = client.post(f"/backoffice/products/{product.pk}/copy/", {"description": "  100%纯棉，柔软。 "})
    assert saved.status_code == 302
    product.refresh_from_db()
    assert product.description == "100%纯棉，柔软。"


@pytest.mark.django_db
def test_the_product_action_opens_the_copy_page_for_one_product(client):
    product, clerk, _stranger = _world()
    client.force_login(clerk)
    response = client.post("/admin/kb/product/", {"action": "write_copy", "_selected_action": [product.pk]})
    assert response.status_code == 302 and response.url == f"/backoffice/products/{product.pk}/copy/"


@pytest.mark.model
@pytest.mark.django_db(transaction=True)
async def test_the_real_model_writes_usable_copy_for_the_demo_t_shirt(fresh_engine):
    def load():
        call_command("load_demo", stdout=io.StringIO())
        product = Product.objects.select_related("store").get(store__slug="demo", sku="TS-001")
        user, _created = store_staff_add(store=product.store, username="writer", password="pw-for-tests-123")
        return product, user, store_snapshot(store=product.store)

    product, user, snapshot = await database_sync_to_async(load)()
    client = AsyncClient()
    await client.aforce_login(user)
    frames = await _stream(client, product.pk)
    parts = {f["part"]: f for f in frames if f["type"] == "part"}
    for key, frame in parts.items():
        print(f"\n{key}: {frame['text']}  (flags {frame['flags']}, dropped {frame['dropped']})")
    fact = next(p for p in snapshot.products if p.sku == "TS-001")
    description = parts["description"]["text"]
    assert len(description) >= 20 and not parts["description"]["error"]
    # Facts present: the product's own words (its name, a fabric or an attribute value of its row).
    row_words = {fact.name, *(v for _k, v in fact.attributes), "棉", "T恤"}
    assert any(w and w in description for w in row_words), description
    # Nothing unbacked: no material the row does not name, and the guard finds no claim to replace.
    facts = StoreFacts.build(snapshot, copy_reference(fact))
    for key in ("title", "description", "promo"):
        text = parts[key]["text"]
        assert not unbacked_materials(text, fact), text
        assert all(
            c.backed for clause in fold(text).split("。") for c in facts.claims(clause, context="", truncated=False)
        )
