"""Writes from shop events: customers, carts, orders and reviews upserted by the shop's ids and versions.

An event whose version is not newer than the row's changes nothing, so events may arrive late, twice or out
of order. A webhook's id is recorded in the same transaction as its effect: a replay is answered, not applied.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from config.exceptions import ApplicationError
from conversations.campaigns.events import ShopEvent
from conversations.campaigns.models import (
    Cart,
    CartItem,
    Order,
    OutboxMessage,
    ReminderClick,
    ReminderSettings,
    ShopCustomer,
    WebhookReceipt,
)
from conversations.campaigns.reviews import review_upsert
from conversations.models import Visitor
from kb.models import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    duplicate: bool = False  # the webhook id was processed before: nothing done
    applied: bool = False  # False: the event was older than what we have


def reminder_settings_for(*, store: Store) -> ReminderSettings:
    """The store's reminder settings, created with the defaults (and a new webhook secret) on first use."""
    found, _created = ReminderSettings.objects.get_or_create(store=store)
    return found


def _customer_upsert(*, store: Store, data: dict[str, Any]) -> ShopCustomer:
    """Insert or update a customer. A block without `version` can only make it less reachable.

    Carts and orders often carry a customer without its own version: such a block fills in a new
    customer and can withdraw consent or unsubscribe, but never re-subscribes anyone.
    """
    fields = {
        "email": data.get("email"),
        "phone": data.get("phone"),
        "visitor_token": data.get("visitor"),
        "customer_id": data.get("customer_id"),
        "consent": data.get("consent"),
        "unsubscribed": data.get("unsubscribed"),
    }
    given = {k: v for k, v in fields.items() if v is not None}
    customer = ShopCustomer.objects.select_for_update().filter(store=store, external_id=data["id"]).first()
    if customer is None:
        try:
            with transaction.atomic():
                return ShopCustomer.objects.create(
                    store=store, external_id=data["id"], version=data.get("version", 0), **given
                )
        except IntegrityError:
            customer = ShopCustomer.objects.select_for_update().get(store=store, external_id=data["id"])
    version = data.get("version")
    if version is not None:
        if version <= customer.version:
            return customer
        for key, value in given.items():
            setattr(customer, key, value)
        customer.version = version
        customer.save()
        return customer
    changed = []
    if given.get("unsubscribed") is True and not customer.unsubscribed:
        customer.unsubscribed = True
        changed.append("unsubscribed")
    if given.get("consent") is False and customer.consent:
        customer.consent = False
        changed.append("consent")
    for key in ("email", "phone", "visitor_token", "customer_id"):
        if given.get(key) and not getattr(customer, key):
            setattr(customer, key, given[key])
            changed.append(key)
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
    return customer


def _cart_upsert(*, store: Store, event: ShopEvent, now: datetime) -> bool:
    data = event.data
    customer = _customer_upsert(store=store, data=data["customer"]) if data.get("customer") else None
    cart = Cart.objects.select_for_update().filter(store=store, external_id=data["id"]).first()
    if cart is not None and data["version"] <= cart.version:
        return False
    emptied = event.type == "cart.emptied" or ("items" in data and not data["items"])
    values: dict[str, Any] = {
        "version": data["version"],
        "changed_at": data.get("changed_at") or event.occurred_at or now,
    }
    if cart is None or cart.status != Cart.Status.ORDERED:
        values["status"] = Cart.Status.EMPTIED if emptied else Cart.Status.ACTIVE
    if customer is not None:
        values["customer"] = customer
    if "restore_url" in data:
        values["restore_url"] = data["restore_url"]
    if cart is None:
        cart = Cart.objects.create(store=store, external_id=data["id"], **values)
    else:
        for key, value in values.items():
            setattr(cart, key, value)
        cart.save()
    if emptied or "items" in data:
        cart.items.all().delete()
        CartItem.objects.bulk_create(
            CartItem(cart=cart, sku=i["sku"], name=i.get("name", ""), quantity=i["quantity"], price=i.get("price"))
            for i in ([] if emptied else data["items"])
        )
    return True


_ORDER_STATUS = {
    "order.created": Order.Status.CREATED,
    "order.paid": Order.Status.PAID,
    "order.cancelled": Order.Status.CANCELLED,
}


def _order_upsert(*, store: Store, event: ShopEvent, now: datetime) -> bool:
    data = event.data
    customer = _customer_upsert(store=store, data=data["customer"]) if data.get("customer") else None
    order = Order.objects.select_for_update().filter(store=store, external_id=data["id"]).first()
    if order is not None and data["version"] <= order.version:
        return False
    status = _ORDER_STATUS[event.type]
    when = event.occurred_at or now
    values: dict[str, Any] = {"version": data["version"], "status": status}
    if customer is not None:
        values["customer"] = customer
    if data.get("cart_id"):
        cart = Cart.objects.select_for_update().filter(store=store, external_id=data["cart_id"]).first()
        if cart is not None:
            values["cart"] = cart
            if status != Order.Status.CANCELLED and cart.status != Cart.Status.ORDERED:
                cart.status = Cart.Status.ORDERED
                cart.save(update_fields=["status", "updated_at"])
            if customer is None and cart.customer_id:
                values["customer"] = cart.customer
    for key in ("total", "pay_url"):
        if key in data:
            values[key] = data[key]
    if "items" in data:
        values["items"] = [
            {**i, "price": str(i["price"])} if isinstance(i.get("price"), Decimal) else dict(i) for i in data["items"]
        ]
    if status == Order.Status.PAID:
        values["paid_at"] = data.get("paid_at") or when
    if order is None:
        Order.objects.create(store=store, external_id=data["id"], placed_at=data.get("placed_at") or when, **values)
    else:
        if data.get("placed_at"):
            values["placed_at"] = data["placed_at"]
        for key, value in values.items():
            setattr(order, key, value)
        order.save()
    return True


def shop_event_ingest(*, store: Store, event: ShopEvent, now: datetime, webhook_id: str = "") -> IngestResult:
    """Apply one shop event in one transaction; a `webhook_id` seen before for this store changes nothing."""
    reminder_settings_for(store=store)  # a store sending events gets the default reminder settings
    try:
        with transaction.atomic():
            if webhook_id:
                WebhookReceipt.objects.create(
                    store=store, webhook_id=webhook_id, event_type=event.type, received_at=now
                )
            if event.type == "customer.updated":
                _customer_upsert(store=store, data=event.data)
                applied = True
            elif event.type.startswith("cart."):
                applied = _cart_upsert(store=store, event=event, now=now)
            elif event.type.startswith("review."):
                customer = (
                    _customer_upsert(store=store, data=event.data["customer"]) if event.data.get("customer") else None
                )
                applied = review_upsert(store=store, event=event, now=now, customer=customer) is not None
            else:
                applied = _order_upsert(store=store, event=event, now=now)
    except IntegrityError:
        if webhook_id and WebhookReceipt.objects.filter(store=store, webhook_id=webhook_id).exists():
            return IngestResult(duplicate=True)
        raise
    if not applied:
        logger.info("store %s: %s %s is older than what we have, ignored", store.slug, event.type, event.data["id"])
    return IngestResult(applied=applied)


def reminder_click_record(*, message_id: int, now: datetime) -> str | None:
    """A shopper opened a reminder's link: count the click and say where their cart (or order) is."""
    message = OutboxMessage.objects.select_related("sequence__cart", "sequence__order").filter(pk=message_id).first()
    if message is None or message.sequence is None:
        return None
    sequence = message.sequence
    ReminderClick.objects.create(message=message, sequence=sequence, at=now)
    if sequence.cart is not None and sequence.cart.restore_url:
        return sequence.cart.restore_url
    if sequence.order is not None and sequence.order.pay_url:
        return sequence.order.pay_url
    return "/"


def demo_cart_add(*, store: Store, visitor_token: str, sku: str, quantity: int, now: datetime) -> Cart:
    """The demo shop's "加入购物车": the visitor's cart as the shop would send it, through the same event path."""
    visitor = Visitor.objects.filter(store=store, token=visitor_token).first()
    if visitor is None:
        raise ApplicationError("Open the chat once first: the cart belongs to the chat's visitor.")
    product = store.products.filter(sku=sku, is_active=True).first()
    if product is None:
        raise ApplicationError(f"The store has no product {sku!r}.")
    if not 1 <= quantity <= 99:
        raise ApplicationError("quantity: between 1 and 99.")
    external_id = f"demo-{visitor.pk}"
    cart = Cart.objects.filter(store=store, external_id=external_id).first()
    items: dict[str, int] = {}
    if cart is not None and cart.status == Cart.Status.ACTIVE:
        items = {i.sku: i.quantity for i in cart.items.all()}
    items[sku] = items.get(sku, 0) + quantity
    names = dict(store.products.filter(sku__in=items).values_list("sku", "name"))
    event = ShopEvent(
        type="cart.updated",
        data={
            "id": external_id,
            "version": (cart.version if cart else 0) + 1,
            "changed_at": now,
            "customer": {
                "id": f"demo-visitor-{visitor.pk}",
                "visitor": visitor.token,
                # The demo shopper has an address so the demo shows the e-mail too (var/mail/).
                "email": f"demo-visitor-{visitor.pk}@example.com",
                "consent": True,
            },
            "items": [{"sku": s, "name": names.get(s, s), "quantity": q} for s, q in items.items()],
            "restore_url": settings.SITE_URL.rstrip("/") + "/",
        },
    )
    shop_event_ingest(store=store, event=event, now=now)
    return Cart.objects.get(store=store, external_id=external_id)


# A webhook older than the signature's 5-minute tolerance is refused as stale, so its id need not be kept long.
RECEIPT_KEEP = timedelta(days=1)


def webhook_receipts_prune(*, now: datetime) -> int:
    """Forget processed webhook ids that can no longer be replayed (their timestamps would be stale)."""
    deleted, _ = WebhookReceipt.objects.filter(received_at__lt=now - RECEIPT_KEEP).delete()
    return deleted
