"""Shop events in: the signed webhook and the token API, their refusals, and versioned upserts."""

import json
import time

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conversations.campaigns.events import MAX_BODY_BYTES
from conversations.campaigns.models import Cart, Order, ShopCustomer, WebhookReceipt
from conversations.campaigns.services import reminder_settings_for
from conversations.campaigns.signing import signed_headers
from tests.kb.factories import StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return StoreFactory(slug="shop-a")


def cart_event(*, version=1, items=None, cart_id="C1", event_type="cart.updated", **customer):
    return {
        "type": event_type,
        "data": {
            "id": cart_id,
            "version": version,
            "customer": {"id": "U1", "email": "a@example.com", "consent": True, **customer},
            "items": items if items is not None else [{"sku": "TS-001", "name": "纯棉T恤", "quantity": 2}],
        },
    }


def post_signed(client, store, payload, *, msg_id="msg_1", secret=None, timestamp=None, raw=None, headers=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    secret = secret or reminder_settings_for(store=store).webhook_secret
    signed = signed_headers(secret=secret, msg_id=msg_id, timestamp=timestamp or int(time.time()), body=body)
    if headers is not None:
        signed = headers
    return client.post(
        f"/api/shops/{store.slug}/webhooks/",
        data=body,
        content_type="application/json",
        headers=signed,
    )


def nothing_written():
    return not (Cart.objects.exists() or ShopCustomer.objects.exists() or WebhookReceipt.objects.exists())


def test_a_signed_cart_event_is_stored_with_its_customer(client, store):
    response = post_signed(client, store, cart_event())
    assert response.status_code == 200, response.content
    cart = Cart.objects.get(store=store, external_id="C1")
    assert cart.status == Cart.Status.ACTIVE and cart.version == 1
    assert [(i.sku, i.quantity) for i in cart.items.all()] == [("TS-001", 2)]
    assert cart.customer.email == "a@example.com" and cart.customer.consent


def test_the_secret_is_a_standard_webhooks_secret_per_store(store):
    other = StoreFactory(slug="shop-b")
    secret = reminder_settings_for(store=store).webhook_secret
    assert secret.startswith("whsec_")
    assert secret != reminder_settings_for(store=other).webhook_secret


def test_a_replayed_webhook_id_answers_200_and_has_no_second_effect(client, store):
    assert post_signed(client, store, cart_event(version=1)).status_code == 200
    # Same id, newer content: a replay (or an attacker reusing an id) changes nothing.
    again = post_signed(client, store, cart_event(version=2, items=[]), msg_id="msg_1")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    cart = Cart.objects.get()
    assert cart.version == 1 and cart.items.count() == 1
    assert WebhookReceipt.objects.count() == 1


@pytest.mark.parametrize(
    "case",
    ["wrong_secret", "no_headers", "stale", "future", "tampered_body"],
)
def test_an_unsigned_wrong_or_stale_request_is_401_and_writes_nothing(client, store, case):
    payload = cart_event()
    body = json.dumps(payload).encode()
    if case == "wrong_secret":
        response = post_signed(client, store, payload, secret="whsec_" + "QUJD" * 8)
    elif case == "no_headers":
        response = post_signed(client, store, payload, headers={})
    elif case == "stale":
        response = post_signed(client, store, payload, timestamp=int(time.time()) - 6 * 60)
    elif case == "future":
        response = post_signed(client, store, payload, timestamp=int(time.time()) + 6 * 60)
    else:
        secret = reminder_settings_for(store=store).webhook_secret
        headers = signed_headers(secret=secret, msg_id="m", timestamp=int(time.time()), body=body)
        tampered = body.replace(b'"quantity": 2', b'"quantity": 9')
        response = client.post(
            f"/api/shops/{store.slug}/webhooks/", data=tampered, content_type="application/json", headers=headers
        )
    assert response.status_code == 401
    assert response.json()["extra"]["code"].startswith("signature_")
    assert nothing_written()


def test_an_unknown_store_is_404(client, store):
    response = client.post("/api/shops/nope/webhooks/", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert nothing_written()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "cart.updated", "data": {"id": "C1"}}, "data.version"),
        ({"type": "cart.bought", "data": {}}, "type"),
        ({"type": "cart.updated", "data": []}, "data"),
        (cart_event(items=[{"sku": "A", "quantity": 0}]), "data.items[0].quantity"),
        (cart_event(email="not-an-address"), "data.customer.email"),
        ({"type": "order.paid", "data": {"id": "O1", "version": 1, "total": "-3"}}, "data.total"),
        ({**cart_event(), "colour": "red"}, "colour"),
    ],
)
def test_a_malformed_event_is_400_naming_the_field_and_writes_nothing(client, store, payload, field):
    response = post_signed(client, store, payload)
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == field
    assert field in response.json()["message"]
    assert nothing_written()


def test_a_body_that_is_not_json_is_400(client, store):
    response = post_signed(client, store, None, raw=b"{not json")
    assert response.status_code == 400 and response.json()["extra"]["field"] == "body"
    assert nothing_written()


def test_an_oversized_body_is_400_before_anything_else(client, store):
    raw = json.dumps({"type": "cart.updated", "data": {"id": "C", "pad": "x" * MAX_BODY_BYTES}}).encode()
    response = post_signed(client, store, None, raw=raw)
    assert response.status_code == 400 and response.json()["extra"]["field"] == "body"
    assert nothing_written()


def test_an_older_event_never_overwrites_a_newer_state(client, store):
    assert post_signed(client, store, cart_event(version=5), msg_id="a").status_code == 200
    late = post_signed(client, store, cart_event(version=3, items=[]), msg_id="b")
    assert late.status_code == 200 and late.json()["applied"] is False
    cart = Cart.objects.get()
    assert cart.version == 5 and cart.status == Cart.Status.ACTIVE and cart.items.count() == 1
    emptied = post_signed(client, store, cart_event(version=6, event_type="cart.emptied"), msg_id="c")
    assert emptied.json()["applied"] is True
    cart.refresh_from_db()
    assert cart.status == Cart.Status.EMPTIED and cart.items.count() == 0


def test_orders_arriving_out_of_order_end_paid(client, store):
    paid = {"type": "order.paid", "data": {"id": "O1", "version": 2, "total": "199.00", "customer": {"id": "U1"}}}
    created = {"type": "order.created", "data": {"id": "O1", "version": 1, "total": "199.00"}}
    assert post_signed(client, store, paid, msg_id="p").status_code == 200
    assert post_signed(client, store, created, msg_id="c").json()["applied"] is False
    order = Order.objects.get()
    assert order.status == Order.Status.PAID and order.paid_at is not None


def test_a_versionless_customer_block_can_unsubscribe_but_never_resubscribe(client, store):
    post_signed(client, store, cart_event(version=1), msg_id="a")
    post_signed(client, store, cart_event(version=2, unsubscribed=True), msg_id="b")
    post_signed(client, store, cart_event(version=3, unsubscribed=False), msg_id="c")
    assert ShopCustomer.objects.get().unsubscribed is True
    versioned = {"type": "customer.updated", "data": {"id": "U1", "version": 4, "unsubscribed": False}}
    post_signed(client, store, versioned, msg_id="d")
    assert ShopCustomer.objects.get().unsubscribed is False


def test_the_token_api_takes_the_same_events_for_the_users_stores_only(store):
    other = StoreFactory(slug="shop-b")
    user = StaffUserFactory(stores=[store])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    ok = client.post(f"/api/shops/{store.slug}/events/", cart_event(), format="json")
    assert ok.status_code == 200 and ok.json() == {"applied": True, "duplicate": False}
    assert Cart.objects.filter(store=store).count() == 1
    assert client.post(f"/api/shops/{other.slug}/events/", cart_event(), format="json").status_code == 404
    assert client.post("/api/shops/nope/events/", cart_event(), format="json").status_code == 404
    bad = client.post(f"/api/shops/{store.slug}/events/", cart_event(items=[{"sku": "A"}]), format="json")
    assert bad.status_code == 400 and bad.json()["extra"]["field"] == "data.items[0].quantity"
    assert APIClient().post(f"/api/shops/{store.slug}/events/", cart_event(), format="json").status_code in (401, 403)
    assert Cart.objects.count() == 1


def test_processed_webhook_ids_are_forgotten_once_they_could_only_be_stale(client, store):
    from datetime import timedelta

    from django.utils import timezone

    from conversations.campaigns.services import webhook_receipts_prune

    post_signed(client, store, cart_event(version=1), msg_id="old")
    assert webhook_receipts_prune(now=timezone.now()) == 0
    assert webhook_receipts_prune(now=timezone.now() + timedelta(days=2)) == 1
    # Its signature would now be stale: a replay is refused, not applied a second time.
    replay = post_signed(client, store, cart_event(version=2), msg_id="old", timestamp=int(time.time()) - 2 * 86400)
    assert replay.status_code == 401 and Cart.objects.get().version == 1


def test_an_order_for_the_cart_ends_its_reminders(client, store):
    from datetime import timedelta

    from django.utils import timezone

    from conversations.campaigns.outbox import outbox_relay
    from conversations.campaigns.reminders import reminders_plan

    row = reminder_settings_for(store=store)
    row.quiet_start = row.quiet_end
    row.save()
    post_signed(client, store, cart_event(version=1), msg_id="a")
    Cart.objects.update(changed_at=timezone.now() - timedelta(hours=2))
    assert reminders_plan(now=timezone.now()).decided == 1
    order = {"type": "order.created", "data": {"id": "O1", "version": 1, "cart_id": "C1", "total": "198.00"}}
    assert post_signed(client, store, order, msg_id="b").json()["applied"] is True
    assert Cart.objects.get().status == Cart.Status.ORDERED
    report = outbox_relay(now=timezone.now())
    assert report.sent == 0 and report.cancelled >= 1
    assert Order.objects.get().customer.external_id == "U1"  # taken from the cart
