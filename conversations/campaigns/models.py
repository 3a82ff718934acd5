"""Shop data that arrives as events (customers, carts, orders), the reminder settings of a store, and the outbox.

Rows from the shop are keyed by the shop's own ids and carry the shop's version: an event older than the row
never overwrites it (`conversations/campaigns/services.py`).
"""

import base64
import re
import secrets
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from kb.models import Store, TimeStampedModel

MIN_IDLE_MINUTES = 10
MAX_STEPS = 5
TEMPLATE_FIELDS = frozenset({"store", "items", "promotions", "link", "order"})
# Placeholders are only these names in braces, filled by plain replacement (never str.format, whose
# attribute and index lookups a template could abuse).
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def template_fill(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _new_webhook_secret() -> str:
    # The Standard Webhooks form: "whsec_" and the base64 of the key bytes.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _default_steps() -> list[int]:
    return [60, 24 * 60]


DEFAULT_TEMPLATE = "亲，您在{store}的购物车里还有 {items} 哦，库存有限，欢迎回来完成下单。{promotions}{link}"
DEFAULT_UNPAID_TEMPLATE = "亲，您在{store}的订单 {order} 还没有付款哦，{items} 已为您保留，欢迎尽快完成支付。{link}"


class ReminderSettings(TimeStampedModel):
    """A store's side of shop events and reminders: the webhook secret and when and how reminders go out."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="reminder_settings")
    webhook_secret = models.CharField(
        max_length=100,
        default=_new_webhook_secret,
        help_text="Signs the shop's events to us and our webhooks to the shop (Standard Webhooks, whsec_...).",
    )
    enabled = models.BooleanField(default=True, help_text="Send cart reminders and unpaid-order nudges.")
    idle_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(MIN_IDLE_MINUTES)],
        help_text=f"A cart untouched this long is abandoned (at least {MIN_IDLE_MINUTES}).",
    )
    steps = models.JSONField(
        default=_default_steps,
        help_text="Minutes after the cart's last change at which each reminder goes out, e.g. [60, 1440].",
    )
    unpaid_nudge = models.BooleanField(default=True, help_text="Nudge orders created and not paid (催付).")
    unpaid_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(MIN_IDLE_MINUTES)], help_text="Minutes after the order."
    )
    quiet_start = models.TimeField(default=time(21, 0), help_text="No reminders from (store time).")
    quiet_end = models.TimeField(default=time(8, 0), help_text="... until (store time); deferred, not dropped.")
    time_zone = models.CharField(max_length=64, default="Asia/Shanghai")
    template = models.TextField(
        default=DEFAULT_TEMPLATE,
        help_text="Cart reminder; placeholders {store} {items} {promotions} {link}. Checked by the guardrail.",
    )
    unpaid_template = models.TextField(
        default=DEFAULT_UNPAID_TEMPLATE, help_text="Unpaid-order nudge; placeholders {store} {order} {items} {link}."
    )
    send_chat = models.BooleanField(default=True, help_text="Into the shopper's chat (widget).")
    send_email = models.BooleanField(default=True, help_text="By e-mail, to shoppers who consented.")
    webhook_url = models.URLField(
        blank=True, help_text="The shop's endpoint for signed reminder webhooks (SMS, WeChat, platform messages)."
    )

    class Meta:
        verbose_name = "reminder settings"
        verbose_name_plural = "reminder settings"
        constraints = [
            models.CheckConstraint(condition=Q(idle_minutes__gte=MIN_IDLE_MINUTES), name="reminder_idle_at_least_10"),
        ]

    def __str__(self) -> str:
        return f"reminders of {self.store.slug}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        steps = self.steps
        if (
            not isinstance(steps, list)
            or not 1 <= len(steps) <= MAX_STEPS
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in steps)
        ):
            errors["steps"] = f"A list of 1 to {MAX_STEPS} whole numbers of minutes, e.g. [60, 1440]."
        elif steps != sorted(set(steps)):
            errors["steps"] = "Steps go from the earliest to the latest, each once, e.g. [60, 1440]."
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = f"Unknown time zone {self.time_zone!r}; e.g. Asia/Shanghai."
        for field in ("template", "unpaid_template"):
            unknown = sorted(set(PLACEHOLDER.findall(getattr(self, field))) - TEMPLATE_FIELDS)
            if unknown:
                names = ", ".join(f"{{{n}}}" for n in sorted(TEMPLATE_FIELDS))
                errors[field] = f"Unknown placeholder {{{unknown[0]}}}; the placeholders are {names}."
        if errors:
            raise ValidationError(errors)


class ShopCustomer(TimeStampedModel):
    """A shopper as the shop knows them, with how to reach them and whether we may."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="shop_customers")
    external_id = models.CharField(max_length=128)
    version = models.BigIntegerField(default=0)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    visitor_token = models.CharField(max_length=64, blank=True, help_text="The widget's visitor token.")
    customer_id = models.CharField(max_length=128, blank=True, help_text="The widget's verified customer id.")
    consent = models.BooleanField(default=False, help_text="Agreed to marketing messages.")
    unsubscribed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="shop_customer_unique_per_store"),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def reachable(self) -> bool:
        return self.consent and not self.unsubscribed


class Cart(TimeStampedModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EMPTIED = "emptied", "Emptied"
        ORDERED = "ordered", "Ordered"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="carts")
    external_id = models.CharField(max_length=128)
    version = models.BigIntegerField(default=0)
    customer = models.ForeignKey(ShopCustomer, on_delete=models.SET_NULL, null=True, blank=True, related_name="carts")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    # The shop's time of the last change: abandonment and reminder steps count from it.
    changed_at = models.DateTimeField(db_index=True)
    restore_url = models.URLField(blank=True, help_text="The shop's page that restores this cart.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "external_id"], name="cart_unique_per_store")]

    def __str__(self) -> str:
        return f"cart {self.external_id}"


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    quantity = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.sku} x{self.quantity}"


class Order(TimeStampedModel):
    class Status(models.TextChoices):
        CREATED = "created", "Created, not paid"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="shop_orders")
    external_id = models.CharField(max_length=128)
    version = models.BigIntegerField(default=0)
    customer = models.ForeignKey(ShopCustomer, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders")
    cart = models.ForeignKey(Cart, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED, db_index=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    items = models.JSONField(default=list, blank=True)
    placed_at = models.DateTimeField(db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    pay_url = models.URLField(blank=True, help_text="The shop's page to pay this order.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "external_id"], name="order_unique_per_store")]

    def __str__(self) -> str:
        return f"order {self.external_id}"


class WebhookReceipt(models.Model):
    """A shop event taken in: the same `webhook-id` is processed once."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="webhook_receipts")
    webhook_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=40)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "webhook_id"], name="webhook_receipt_unique_id_per_store"),
        ]

    def __str__(self) -> str:
        return self.webhook_id


class ReminderSequence(TimeStampedModel):
    """The reminders about one cart or one unpaid order, from the first step on."""

    class Kind(models.TextChoices):
        CART = "cart", "Abandoned cart"
        UNPAID = "unpaid", "Unpaid order"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        STOPPED = "stopped", "Stopped"
        DONE = "done", "Done"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="reminder_sequences")
    customer = models.ForeignKey(ShopCustomer, on_delete=models.CASCADE, related_name="sequences")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    cart = models.OneToOneField(Cart, on_delete=models.CASCADE, null=True, blank=True, related_name="sequence")
    order = models.OneToOneField(Order, on_delete=models.CASCADE, null=True, blank=True, related_name="sequence")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    steps_sent = models.PositiveSmallIntegerField(default=0, help_text="Steps decided so far.")
    stop_reason = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="cart") & Q(cart__isnull=False) & Q(order__isnull=True))
                | (Q(kind="unpaid") & Q(order__isnull=False) & Q(cart__isnull=True)),
                name="sequence_kind_matches_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} sequence #{self.pk}"


class OutboxMessage(TimeStampedModel):
    """One reminder step on one channel, written in the same transaction as the decision to send it.

    The relay sends due rows and marks them; a failed send waits in `next_attempt_at` (never in a broker ETA).
    """

    class Channel(models.TextChoices):
        CHAT = "chat", "Chat (widget)"
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Shop webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled (a stop condition)"
        DEAD = "dead", "Dead letter"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="outbox")
    sequence = models.ForeignKey(ReminderSequence, on_delete=models.CASCADE, related_name="messages")
    step = models.PositiveSmallIntegerField()
    idempotency_key = models.CharField(max_length=100, help_text="cart:<id>:step:<n> (or order:<id>:step:<n>).")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    text = models.TextField()
    link = models.URLField(blank=True, max_length=500)
    # The cart version the text was written for: a cart changed since is not reminded with stale items.
    target_version = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    # A row being sent is leased: a relay that died mid-send leaves it to be claimed again after this.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key", "channel"], name="outbox_unique_key_per_channel"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.idempotency_key} via {self.channel} ({self.status})"


class DeliveryAttempt(models.Model):
    """Each try to send an outbox row, kept for the admin."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField()
    ok = models.BooleanField()
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.message_id} at {self.at:%Y-%m-%d %H:%M:%S} ({'ok' if self.ok else 'failed'})"


class ReminderClick(models.Model):
    """A shopper opened a reminder's restore link."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="clicks")
    sequence = models.ForeignKey(ReminderSequence, on_delete=models.CASCADE, related_name="clicks")
    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"click on {self.message_id}"
