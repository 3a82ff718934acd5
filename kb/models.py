import secrets
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from engine.knowledge import promotion_running


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def _new_widget_secret() -> str:
    return secrets.token_urlsafe(32)


def _default_theme() -> dict[str, str]:
    return {"color": "#e4393c", "position": "right", "title": "", "avatar": ""}


class Store(TimeStampedModel):
    """The tenant: one shop, its bot's voice and limits, and the staff who run it."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    assistant_name = models.CharField(max_length=64, default="小助手")
    persona = models.TextField(blank=True, help_text="How the assistant speaks and who it is.")
    boundaries = models.TextField(
        blank=True, help_text="What the assistant must never promise (prices, gifts, compensation)."
    )
    offtopic_reply = models.TextField(blank=True, help_text="Reply to chit-chat that is not about the shop.")
    handoff_message = models.TextField(blank=True, help_text="Said when a human takes over.")
    offline_message = models.TextField(
        blank=True,
        help_text="Said instead when nobody can take over (no agent online, or outside business hours); "
        "the widget then asks for a phone number, WeChat id or e-mail.",
    )
    business_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text='When people answer chats, e.g. {"mon": ["09:00-18:00"], "sat": ["10:00-16:00"]}; '
        "days left out are closed; empty: whenever an agent is online.",
    )
    disclaimer = models.TextField(blank=True, help_text="Appended to answers that mention prices or offers.")
    blocked_phrases = models.JSONField(
        default=list, blank=True, help_text="Words and phrases the assistant must never say (checked in code)."
    )
    welcome = models.TextField(blank=True, help_text="First message in the chat widget.")
    quick_questions = models.JSONField(default=list, blank=True)
    theme = models.JSONField(default=_default_theme, blank=True)
    allowed_origins = models.JSONField(
        default=list, blank=True, help_text='Pages allowed to embed the widget, e.g. ["https://shop.example.com"].'
    )
    relevance_threshold = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0)],
        help_text="Minimum retrieval score for a knowledge-base snippet to ground an answer.",
    )
    retrieval_top_k = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    widget_secret = models.CharField(max_length=64, default=_new_widget_secret, editable=False)
    staff = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="stores", blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


# The bot's settings of a store: what staff may edit in the admin and through the API.
STORE_BOT_SETTINGS = (
    "assistant_name",
    "persona",
    "boundaries",
    "offtopic_reply",
    "handoff_message",
    "offline_message",
    "business_hours",
    "disclaimer",
    "blocked_phrases",
    "welcome",
    "quick_questions",
    "theme",
    "allowed_origins",
    "relevance_threshold",
    "retrieval_top_k",
)


class Product(TimeStampedModel):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    stock = models.PositiveIntegerField(default=0)
    description = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    size_guide = models.TextField(blank=True)
    shipping_note = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["store", "sku"]
        constraints = [
            models.UniqueConstraint(fields=["store", "sku"], name="product_unique_sku_per_store"),
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class PromotionQuerySet(models.QuerySet["Promotion"]):
    def active(self, at: datetime | None = None) -> "PromotionQuerySet":
        """Enabled and within the time window at `at` (default now): the same rule as `Promotion.is_active`."""
        at = at or timezone.now()
        return self.filter(
            Q(enabled=True),
            Q(starts_at__isnull=True) | Q(starts_at__lte=at),
            Q(ends_at__isnull=True) | Q(ends_at__gt=at),
        )


class Promotion(TimeStampedModel):
    """A structured promotion: the guardrail backs claims only with what these rows say.

    Whether it is active is written twice on purpose, side by side: `PromotionQuerySet.active` for the
    database and `is_active` for one row in hand. The window is half-open, [starts_at, ends_at).
    """

    class Kind(models.TextChoices):
        THRESHOLD_OFF = "threshold_off", "Spend X, get Y off"
        MULTIPLIER = "multiplier", "Percentage price (e.g. 0.95 = 95折)"
        GIFT = "gift", "Gift"
        FREE_SHIPPING = "free_shipping", "Free shipping"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="promotions")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.TextField(blank=True)
    threshold = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0"), help_text="Minimum order amount (0: any order)."
    )
    amount = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="Amount off (threshold_off)."
    )
    multiplier = models.DecimalField(
        max_digits=4, decimal_places=3, null=True, blank=True, help_text="Price factor, 0.95 = 95折 (multiplier)."
    )
    gift = models.CharField(max_length=200, blank=True, help_text="The gift (gift).")
    member_only = models.BooleanField(default=False)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)

    objects = PromotionQuerySet.as_manager()

    class Meta:
        ordering = ["store", "title"]
        constraints = [
            models.UniqueConstraint(fields=["store", "title"], name="promotion_unique_title_per_store"),
            models.CheckConstraint(condition=Q(threshold__gte=0), name="promotion_threshold_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind="threshold_off") | Q(amount__gt=0), name="promotion_threshold_off_has_amount"
            ),
            models.CheckConstraint(
                condition=~Q(kind="multiplier") | Q(multiplier__gt=0, multiplier__lt=1),
                name="promotion_multiplier_between_0_and_1",
            ),
            models.CheckConstraint(condition=~Q(kind="gift") | ~Q(gift=""), name="promotion_gift_named"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="promotion_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def is_active(self, at: datetime | None = None) -> bool:
        return promotion_running(
            enabled=self.enabled, starts_at=self.starts_at, ends_at=self.ends_at, at=at or timezone.now()
        )


class FaqEntry(TimeStampedModel):
    class Mode(models.TextChoices):
        DIRECT = "direct", "Direct: answer verbatim on a keyword hit"
        REFERENCE = "reference", "Reference: material for the model"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="faqs")
    question = models.CharField(max_length=300)
    answer = models.TextField()
    keywords = models.JSONField(default=list, blank=True)
    alt_questions = models.JSONField(default=list, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.REFERENCE)
    category = models.CharField(max_length=64, blank=True, db_index=True)
    enabled = models.BooleanField(default=True)
    hit_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["store", "category", "question"]
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"
        constraints = [
            models.UniqueConstraint(fields=["store", "question"], name="faq_unique_question_per_store"),
        ]

    def __str__(self) -> str:
        return self.question


class SynonymRule(TimeStampedModel):
    """Rewrites shopper phrasing before matching, e.g. "啥时候发" -> "什么时候发货"."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="synonyms")
    phrase = models.CharField(max_length=100)
    replacement = models.CharField(max_length=100)

    class Meta:
        ordering = ["store", "phrase"]
        constraints = [
            models.UniqueConstraint(fields=["store", "phrase"], name="synonym_unique_phrase_per_store"),
        ]

    def __str__(self) -> str:
        return f"{self.phrase} -> {self.replacement}"
