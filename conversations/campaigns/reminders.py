"""Deciding reminders: which carts are abandoned and which orders unpaid, when a step is due, and what it says.

A decision writes the outbox rows (one per channel) in the same transaction as the sequence's step, so a
reminder is either decided and sure to be sent, or not decided at all. Caps and quiet hours only delay a
step; stop conditions end the sequence. The relay (`conversations/campaigns/outbox.py`) checks the stop
conditions again inside the transaction that sends.
"""

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse

from conversations.campaigns.models import (
    Cart,
    Order,
    OutboxMessage,
    ReminderSequence,
    ReminderSettings,
    ShopCustomer,
    template_fill,
)
from conversations.models import Visitor
from conversations.views import DEMO_STORE
from engine.guard import guard_text
from kb.models import Store
from kb.selectors import product_list, store_snapshot

logger = logging.getLogger(__name__)

MESSAGE_GAP = timedelta(hours=16)  # at most one reminder per shopper in this time
SEQUENCE_GAP = timedelta(days=7)  # at most one sequence per shopper in this time
RESTORE_SALT = "campaigns.restore"


class StopReason:
    PAID = "paid"
    ORDERED = "ordered"
    CANCELLED = "cancelled"
    CART_CHANGED = "cart_changed"
    CART_EMPTIED = "cart_emptied"
    OUT_OF_STOCK = "out_of_stock"
    UNSUBSCRIBED = "unsubscribed"


def store_zone(reminder_settings: ReminderSettings) -> ZoneInfo:
    try:
        return ZoneInfo(reminder_settings.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def quiet_hours_end(*, reminder_settings: ReminderSettings, at: datetime) -> datetime | None:
    """When the quiet hours around `at` end (store time), or None when `at` is not in them."""
    start, end = reminder_settings.quiet_start, reminder_settings.quiet_end
    if start == end:
        return None
    local = at.astimezone(store_zone(reminder_settings))
    now = local.time()
    if start < end:
        inside = start <= now < end
        day = local.date()
    else:  # past midnight, e.g. 21:00-08:00
        inside = now >= start or now < end
        day = local.date() + timedelta(days=1) if now >= start else local.date()
    if not inside:
        return None
    return datetime.combine(day, end, tzinfo=local.tzinfo)


def _stock_problem(*, store: Store, skus: list[str]) -> bool:
    """An item the store's catalogue has as sold out or withdrawn (an SKU it does not list is the shop's own)."""
    known = {p.sku: p for p in store.products.filter(sku__in=skus)}
    listed = set(product_list(store=store).filter(sku__in=skus, stock__gt=0).values_list("sku", flat=True))
    return any(sku in known and sku not in listed for sku in skus)


def cart_stop_reason(*, cart: Cart, customer: ShopCustomer, since: datetime | None, version: int | None) -> str:
    """Why no reminder about this cart may go out now, or "" (read with the rows locked by the caller)."""
    if not customer.reachable:
        return StopReason.UNSUBSCRIBED
    if cart.status == Cart.Status.ORDERED:
        return StopReason.ORDERED
    items = list(cart.items.all())
    if cart.status == Cart.Status.EMPTIED or not items:
        return StopReason.CART_EMPTIED
    if version is not None and cart.version != version:
        return StopReason.CART_CHANGED
    paid = Order.objects.filter(store_id=cart.store_id, customer=customer, status=Order.Status.PAID)
    if since is not None and paid.filter(Q(paid_at__gte=since) | Q(cart=cart)).exists():
        return StopReason.PAID
    if _stock_problem(store=cart.store, skus=[i.sku for i in items]):
        return StopReason.OUT_OF_STOCK
    return ""


def order_stop_reason(*, order: Order, customer: ShopCustomer) -> str:
    if not customer.reachable:
        return StopReason.UNSUBSCRIBED
    if order.status == Order.Status.PAID:
        return StopReason.PAID
    if order.status == Order.Status.CANCELLED:
        return StopReason.CANCELLED
    return ""


def sequence_stop_reason(*, sequence: ReminderSequence, version: int | None = None) -> str:
    customer = ShopCustomer.objects.get(pk=sequence.customer_id)
    if sequence.kind == ReminderSequence.Kind.CART:
        assert sequence.cart_id is not None
        cart = Cart.objects.select_related("store").get(pk=sequence.cart_id)
        return cart_stop_reason(cart=cart, customer=customer, since=sequence.started_at, version=version)
    assert sequence.order_id is not None
    return order_stop_reason(order=Order.objects.get(pk=sequence.order_id), customer=customer)


def customer_visitor(*, customer: ShopCustomer) -> Visitor | None:
    """The shopper's widget visitor: by verified customer id first, else by the visitor token the shop sent."""
    if customer.customer_id:
        found = Visitor.objects.filter(store_id=customer.store_id, customer_id=customer.customer_id).first()
        if found is not None:
            return found
    if customer.visitor_token:
        return Visitor.objects.filter(store_id=customer.store_id, token=customer.visitor_token).first()
    return None


def channels_for(*, customer: ShopCustomer, reminder_settings: ReminderSettings) -> list[str]:
    """How this shopper can be reached; empty: not at all (no reminder)."""
    channels = []
    if reminder_settings.send_chat and customer_visitor(customer=customer) is not None:
        channels.append(OutboxMessage.Channel.CHAT)
    if reminder_settings.send_email and customer.email:
        channels.append(OutboxMessage.Channel.EMAIL)
    if reminder_settings.webhook_url:
        channels.append(OutboxMessage.Channel.WEBHOOK)
    return [str(c) for c in channels]


def _items_text(items: list[tuple[str, int]]) -> str:
    return "、".join(f"{name}×{quantity}" for name, quantity in items)


def reminder_text(*, store: Store, template: str, items: list[tuple[str, int]], order: str = "") -> str:
    """The template filled in with the items and only the store's active promotions, then guarded.

    The guard replaces any price, discount, gift or free-shipping claim the store's data does not back, so
    a template promising what the store does not offer never reaches a shopper. The link is added after
    the guard (it is ours, and its digits are no claim).
    """
    snapshot = store_snapshot(store=store)
    promotions = "；".join(p.title for p in snapshot.promotions)
    values = {
        "store": store.name,
        "items": _items_text(items),
        "promotions": f"店铺活动：{promotions}。" if promotions else "",
        "order": order,
        "link": "",
    }
    text = template_fill(template, values)
    return guard_text(snapshot, text).text.strip()


def restore_link(*, message: OutboxMessage) -> str:
    token = signing.dumps({"m": message.pk}, salt=RESTORE_SALT, compress=True)
    return settings.SITE_URL.rstrip("/") + reverse("reminder-restore", args=[token])


@dataclass(frozen=True)
class PlanReport:
    decided: int = 0
    stopped: int = 0


def _capped(*, customer: ShopCustomer, sequence: ReminderSequence | None, now: datetime) -> bool:
    recent = OutboxMessage.objects.filter(sequence__customer=customer, created_at__gt=now - MESSAGE_GAP).exclude(
        status=OutboxMessage.Status.CANCELLED
    )
    if recent.exists():
        return True
    if sequence is None:
        return ReminderSequence.objects.filter(customer=customer, started_at__gt=now - SEQUENCE_GAP).exists()
    return False


def _sequence_stop(*, sequence: ReminderSequence, reason: str) -> None:
    sequence.status = ReminderSequence.Status.STOPPED
    sequence.stop_reason = reason
    sequence.save(update_fields=["status", "stop_reason", "updated_at"])
    sequence.messages.filter(status=OutboxMessage.Status.PENDING).update(
        status=OutboxMessage.Status.CANCELLED, cancel_reason=reason
    )


def _outbox_write(
    *,
    store: Store,
    sequence: ReminderSequence,
    step: int,
    key: str,
    channels: list[str],
    text: str,
    version: int,
    send_at: datetime,
    now: datetime,
) -> list[OutboxMessage]:
    rows = []
    for channel in channels:
        row = OutboxMessage.objects.create(
            store=store,
            sequence=sequence,
            step=step,
            idempotency_key=key,
            channel=channel,
            text=text,
            target_version=version,
            next_attempt_at=send_at,
            created_at=now,
        )
        row.link = restore_link(message=row)
        row.save(update_fields=["link"])
        rows.append(row)
    return rows


def demo_delay(store: Store) -> timedelta | None:
    """The demo store's short delay (REMINDER_DEMO_DELAY_SECONDS), so a visitor sees a reminder in minutes.

    It replaces the idle time and the first step, and the demo ignores quiet hours; everything else
    (stop conditions, caps, channels) is as for any store.
    """
    seconds = getattr(settings, "REMINDER_DEMO_DELAY_SECONDS", 0)
    return timedelta(seconds=seconds) if seconds and store.slug == DEMO_STORE else None


def _cart_decide(*, cart_id: int, reminder_settings: ReminderSettings, now: datetime) -> str:
    """Decide the next step of one cart: "decided", "stopped" or "" (nothing due)."""
    store = reminder_settings.store
    steps = [int(s) for s in reminder_settings.steps or []]
    with transaction.atomic():
        cart = Cart.objects.select_for_update().select_related("store").get(pk=cart_id)
        if cart.customer_id is None:
            return ""
        customer = ShopCustomer.objects.get(pk=cart.customer_id)
        sequence = ReminderSequence.objects.select_for_update().filter(cart=cart).first()
        if sequence is not None and sequence.status != ReminderSequence.Status.ACTIVE:
            return ""
        step = sequence.steps_sent if sequence else 0
        if step >= len(steps):
            if sequence is not None:
                sequence.status = ReminderSequence.Status.DONE
                sequence.save(update_fields=["status", "updated_at"])
            return ""
        idle = timedelta(minutes=reminder_settings.idle_minutes)
        due = cart.changed_at + max(idle, timedelta(minutes=steps[step]))
        demo = demo_delay(store)
        if demo is not None and step == 0:
            due = cart.changed_at + demo
        if now < due:
            return ""
        reason = cart_stop_reason(
            cart=cart, customer=customer, since=sequence.started_at if sequence else None, version=None
        )
        if reason:
            if sequence is not None:
                _sequence_stop(sequence=sequence, reason=reason)
                return "stopped"
            return ""
        if _capped(customer=customer, sequence=sequence, now=now):
            return ""
        channels = channels_for(customer=customer, reminder_settings=reminder_settings)
        if not channels:
            return ""
        if sequence is None:
            sequence = ReminderSequence.objects.create(
                store=store, customer=customer, kind=ReminderSequence.Kind.CART, cart=cart, started_at=now
            )
        sequence.steps_sent = step + 1
        sequence.save(update_fields=["steps_sent", "updated_at"])
        items = [(i.name or i.sku, i.quantity) for i in cart.items.all()]
        text = reminder_text(store=store, template=reminder_settings.template, items=items)
        send_at = now if demo else quiet_hours_end(reminder_settings=reminder_settings, at=now) or now
        _outbox_write(
            store=store,
            sequence=sequence,
            step=step,
            key=f"cart:{cart.pk}:step:{step}",
            channels=channels,
            text=text,
            version=cart.version,
            send_at=send_at,
            now=now,
        )
    return "decided"


def _order_decide(*, order_id: int, reminder_settings: ReminderSettings, now: datetime) -> str:
    store = reminder_settings.store
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.customer_id is None or ReminderSequence.objects.filter(order=order).exists():
            return ""
        if now < order.placed_at + timedelta(minutes=reminder_settings.unpaid_minutes):
            return ""
        customer = ShopCustomer.objects.get(pk=order.customer_id)
        if order_stop_reason(order=order, customer=customer):
            return ""
        # An unpaid order is its own matter: only the per-message cap applies, not the sequence cap.
        if OutboxMessage.objects.filter(
            sequence__customer=customer, created_at__gt=now - MESSAGE_GAP, status__in=["pending", "sending", "sent"]
        ).exists():
            return ""
        channels = channels_for(customer=customer, reminder_settings=reminder_settings)
        if not channels:
            return ""
        sequence = ReminderSequence.objects.create(
            store=store, customer=customer, kind=ReminderSequence.Kind.UNPAID, order=order, started_at=now, steps_sent=1
        )
        items = [(str(i.get("name") or i.get("sku") or ""), int(i.get("quantity") or 1)) for i in order.items or []]
        text = reminder_text(
            store=store, template=reminder_settings.unpaid_template, items=items, order=order.external_id
        )
        send_at = quiet_hours_end(reminder_settings=reminder_settings, at=now) or now
        _outbox_write(
            store=store,
            sequence=sequence,
            step=0,
            key=f"order:{order.pk}:step:0",
            channels=channels,
            text=text,
            version=order.version,
            send_at=send_at,
            now=now,
        )
    return "decided"


def reminders_plan(*, now: datetime, store_ids: list[int] | None = None) -> PlanReport:
    """Decide every reminder step that is due now. Safe to run often and from several processes."""
    decided = stopped = 0
    settings_rows = ReminderSettings.objects.filter(enabled=True).select_related("store")
    if store_ids is not None:
        settings_rows = settings_rows.filter(store_id__in=store_ids)
    for row in settings_rows:
        earliest = now - (
            demo_delay(row.store) or timedelta(minutes=max(row.idle_minutes, min([int(s) for s in row.steps or [0]])))
        )
        carts = Cart.objects.filter(
            store=row.store,
            status=Cart.Status.ACTIVE,
            changed_at__lte=earliest,
            customer__consent=True,
            customer__unsubscribed=False,
        ).filter(Q(sequence__isnull=True) | Q(sequence__status=ReminderSequence.Status.ACTIVE))
        for cart_id in carts.values_list("pk", flat=True).order_by("pk")[:500]:
            try:
                outcome = _cart_decide(cart_id=cart_id, reminder_settings=row, now=now)
            except IntegrityError:
                outcome = ""  # another planner decided this step first
            decided += outcome == "decided"
            stopped += outcome == "stopped"
        if not row.unpaid_nudge:
            continue
        orders = Order.objects.filter(
            store=row.store,
            status=Order.Status.CREATED,
            placed_at__lte=now - timedelta(minutes=row.unpaid_minutes),
            sequence__isnull=True,
            customer__consent=True,
            customer__unsubscribed=False,
        )
        for order_id in orders.values_list("pk", flat=True).order_by("pk")[:500]:
            with contextlib.suppress(IntegrityError):
                decided += _order_decide(order_id=order_id, reminder_settings=row, now=now) == "decided"
    return PlanReport(decided=decided, stopped=stopped)
