"""Shop data that arrives as events (customers, carts, orders), the reminder settings of a store, and the outbox.

Rows from the shop are keyed by the shop's own ids and carry the shop's version: an event older than the row
never overwrites it (`conversations/campaigns/services.py`).
"""

import base64
import re
import secrets
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kb.models import Store, TimeStampedModel

MIN_IDLE_MINUTES = 10
MAX_STEPS = 5
MAX_REVIEW_ACTIONS = 10
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


DEFAULT_REVIEW_CHANNEL = "在店铺在线客服聊天窗口私信我们"
DEFAULT_REVIEW_TEMPLATE_LOW = (
    "亲，非常抱歉这次购物没有让您满意！您反映的问题我们很重视，{action}。欢迎您{channel}，我们会尽快跟进。"
)
DEFAULT_REVIEW_TEMPLATE_MID = "亲，感谢您的评价，也抱歉有让您不满意的地方！{action}。欢迎您{channel}，我们会尽快跟进。"
DEFAULT_REVIEW_THANK_YOU = "亲，感谢您的好评和支持！期待您再次光临～"


def _default_review_actions() -> list[str]:
    return ["我们会尽快为您核实处理", "可按店铺的退换货规则为您办理换货"]


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
    review_actions = models.JSONField(
        _("review reply actions"),
        default=_default_review_actions,
        help_text=_("What a reply to a bad review may offer, one action per line; each reply offers one of them."),
    )
    review_channel = models.CharField(
        _("private channel"),
        max_length=100,
        default=DEFAULT_REVIEW_CHANNEL,
        help_text=_("Where a reply invites the reviewer to talk in private."),
    )
    review_template_low = models.TextField(
        _("reply template, 1-2 stars"),
        default=DEFAULT_REVIEW_TEMPLATE_LOW,
        help_text=_("Used when the model's draft fails the checks; placeholders {action} {channel}."),
    )
    review_template_mid = models.TextField(
        _("reply template, 3 stars"),
        default=DEFAULT_REVIEW_TEMPLATE_MID,
        help_text=_("Used when the model's draft fails the checks; placeholders {action} {channel}."),
    )
    review_thank_you = models.TextField(
        _("thank-you, 4-5 stars"), default=DEFAULT_REVIEW_THANK_YOU, help_text=_("Sent to 4-5 star reviews when on.")
    )
    review_auto_thank_you = models.BooleanField(
        _("thank 4-5 star reviews automatically"),
        default=False,
        help_text=_("Send the thank-you to 4-5 star reviews without a person; never to 3 stars or fewer."),
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
        actions = self.review_actions
        if (
            not isinstance(actions, list)
            or not 1 <= len(actions) <= MAX_REVIEW_ACTIONS
            or not all(isinstance(a, str) and a.strip() and len(a) <= 60 for a in actions)
        ):
            errors["review_actions"] = _("One to %(max)s actions, each one line of at most 60 characters.") % {
                "max": MAX_REVIEW_ACTIONS
            }
        for field in ("review_template_low", "review_template_mid", "review_thank_you"):
            unknown = sorted(set(PLACEHOLDER.findall(getattr(self, field))) - {"action", "channel"})
            if unknown:
                errors[field] = _("Unknown placeholder {%(name)s}; the placeholders are {action} and {channel}.") % {
                    "name": unknown[0]
                }
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
    # A reminder step belongs to a sequence; an approved reply to a review to that reply.
    sequence = models.ForeignKey(
        ReminderSequence, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    review_reply = models.ForeignKey(
        "ReviewReply", on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    step = models.PositiveSmallIntegerField()
    idempotency_key = models.CharField(
        max_length=100, help_text="cart:<id>:step:<n>, order:<id>:step:<n> or review:<pk>:reply."
    )
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
            models.CheckConstraint(
                condition=Q(sequence__isnull=False, review_reply__isnull=True)
                | Q(sequence__isnull=True, review_reply__isnull=False),
                name="outbox_for_a_sequence_or_a_reply",
            ),
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


class Review(TimeStampedModel):
    """A shopper's review as the shop sends it (`review.created`), keyed by the shop's id."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="reviews", verbose_name=_("store"))
    external_id = models.CharField(_("review id"), max_length=128)
    version = models.BigIntegerField(default=0)
    customer = models.ForeignKey(ShopCustomer, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviews")
    order_ref = models.CharField(_("order"), max_length=128, blank=True, help_text=_("The shop's order id."))
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviews")
    sku = models.CharField(_("product SKU"), max_length=64, blank=True)
    rating = models.PositiveSmallIntegerField(_("stars"))
    text = models.TextField(_("review"), blank=True)
    reviewed_at = models.DateTimeField(_("written at"), db_index=True)
    # 3 stars or fewer, or a complaint at any rating (engine/review_reply.py): a reply is drafted for a person.
    needs_reply = models.BooleanField(_("needs a reply"), default=False)

    class Meta:
        ordering = ["-reviewed_at"]
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="review_unique_per_store"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.external_id}"


class ReviewReply(TimeStampedModel):
    """The reply to one review: a draft waiting for a person, then approved (sent through the outbox) or rejected.

    `model_text` is what the model wrote and `problems` why the checks refused it (then `draft` is the store's
    template); `text` is what was approved, `edited` whether a person changed the draft before approving.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    class Source(models.TextChoices):
        MODEL = "model", _("Model draft")
        TEMPLATE = "template", _("Store template")
        THANK_YOU = "thank_you", _("Automatic thank-you")

    review = models.OneToOneField(Review, on_delete=models.CASCADE, related_name="reply", verbose_name=_("review"))
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="review_replies", verbose_name=_("store"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    source = models.CharField(_("drafted by"), max_length=10, choices=Source.choices)
    draft = models.TextField(_("draft"))
    model_text = models.TextField(_("model's text"), blank=True)
    problems = models.JSONField(_("checks failed"), default=list, blank=True)
    action = models.CharField(_("action offered"), max_length=100, blank=True)
    text = models.TextField(_("reply sent"), blank=True)
    edited = models.BooleanField(_("edited before approval"), default=False)
    drafted_at = models.DateTimeField(_("drafted at"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("decided by")
    )
    ticket = models.ForeignKey(
        "conversations.HandoffTicket", on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("ticket")
    )

    class Meta:
        ordering = ["drafted_at"]
        verbose_name = _("review reply")
        verbose_name_plural = _("review replies")

    def __str__(self) -> str:
        return f"reply to {self.review}"
