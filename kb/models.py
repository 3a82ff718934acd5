import secrets
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engine.knowledge import promotion_running


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


def _new_widget_secret() -> str:
    return secrets.token_urlsafe(32)


def _default_theme() -> dict[str, str]:
    return {"color": "#e4393c", "position": "right", "title": "", "avatar": ""}


class Store(TimeStampedModel):
    """The tenant: one shop, its bot's voice and limits, and the staff who run it."""

    slug = models.SlugField(
        _("store code"),
        max_length=64,
        unique=True,
        help_text=_("Letters, digits and hyphens; used in the widget snippet and the chat link, e.g. demo."),
    )
    name = models.CharField(_("store name"), max_length=200)
    assistant_name = models.CharField(_("assistant name"), max_length=64, default="小助手")
    persona = models.TextField(_("persona"), blank=True, help_text=_("How the assistant speaks and who it is."))
    boundaries = models.TextField(
        _("boundaries"),
        blank=True,
        help_text=_("What the assistant must never promise (prices, gifts, compensation)."),
    )
    offtopic_reply = models.TextField(
        _("off-topic reply"), blank=True, help_text=_("Reply to chit-chat that is not about the shop.")
    )
    handoff_message = models.TextField(_("handoff message"), blank=True, help_text=_("Said when a human takes over."))
    offline_message = models.TextField(
        _("offline message"),
        blank=True,
        help_text=_(
            "Said instead when nobody can take over (no agent online, or outside business hours); "
            "the widget then asks for a phone number, WeChat id or e-mail."
        ),
    )
    business_hours = models.JSONField(
        _("business hours"),
        default=dict,
        blank=True,
        help_text=_(
            "When people answer chats, e.g. 09:00-18:00 (several periods separated by commas); a day left empty "
            "is closed; all days empty: whenever an agent is online."
        ),
    )
    disclaimer = models.TextField(
        _("disclaimer"), blank=True, help_text=_("Appended to answers that mention prices or offers.")
    )
    blocked_phrases = models.JSONField(
        _("blocked phrases"),
        default=list,
        blank=True,
        help_text=_("Words and phrases the assistant must never say (checked in code), one per line."),
    )
    welcome = models.TextField(_("welcome text"), blank=True, help_text=_("First message in the chat widget."))
    quick_questions = models.JSONField(
        _("quick questions"),
        default=list,
        blank=True,
        help_text=_("Buttons the shopper can tap in the chat widget, one question per line (at most 10)."),
    )
    theme = models.JSONField(_("widget appearance"), default=_default_theme, blank=True)
    allowed_origins = models.JSONField(
        _("allowed origins"),
        default=list,
        blank=True,
        help_text=_("Sites allowed to embed the widget, one per line, e.g. https://shop.example.com"),
    )
    relevance_threshold = models.FloatField(
        _("relevance threshold"),
        default=1.0,
        validators=[MinValueValidator(0.0)],
        help_text=_("Minimum retrieval score for a knowledge-base snippet to ground an answer."),
    )
    retrieval_top_k = models.PositiveSmallIntegerField(
        _("snippets per answer"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text=_("How many knowledge-base snippets at most ground one answer (1-20)."),
    )
    widget_secret = models.CharField(_("widget secret"), max_length=64, default=_new_widget_secret, editable=False)
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff"),
        related_name="stores",
        blank=True,
        help_text=_(
            "People who work for this store: they see its data and its chats in the agent console. "
            "To add someone, use “Add staff member” at the top of this page; only accounts with staff status "
            "are listed here."
        ),
    )

    class Meta:
        ordering = ["slug"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")

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
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="products", verbose_name=_("store"))
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("product name"), max_length=200)
    price = models.DecimalField(
        _("price"), max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    stock = models.PositiveIntegerField(_("stock"), default=0)
    description = models.TextField(_("description"), blank=True)
    attributes = models.JSONField(
        _("attributes"),
        default=dict,
        blank=True,
        help_text=_("One attribute per line as name and value, e.g. Material: cotton"),
    )
    size_guide = models.TextField(_("size guide"), blank=True)
    shipping_note = models.TextField(_("shipping note"), blank=True)
    is_active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        ordering = ["store", "sku"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
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
        THRESHOLD_OFF = "threshold_off", _("Spend X, get Y off")
        MULTIPLIER = "multiplier", _("Discount (e.g. 0.95 = 95折)")
        GIFT = "gift", _("Gift")
        FREE_SHIPPING = "free_shipping", _("Free shipping")

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="promotions", verbose_name=_("store"))
    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    description = models.TextField(_("description"), blank=True)
    threshold = models.DecimalField(
        _("minimum order"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        help_text=_("Minimum order amount (0: any order)."),
    )
    amount = models.DecimalField(
        _("amount off"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Amount off (spend X, get Y off only)."),
    )
    multiplier = models.DecimalField(
        _("discount factor"),
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        help_text=_("Price factor, 0.95 = 95折 (discount only)."),
    )
    gift = models.CharField(_("gift"), max_length=200, blank=True, help_text=_("The gift (gift only)."))
    member_only = models.BooleanField(_("members only"), default=False)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)

    objects = PromotionQuerySet.as_manager()

    class Meta:
        ordering = ["store", "title"]
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
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
        DIRECT = "direct", _("Direct: answer verbatim on a keyword hit")
        REFERENCE = "reference", _("Reference: material for the model")

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="faqs", verbose_name=_("store"))
    question = models.CharField(_("question"), max_length=300)
    answer = models.TextField(_("answer"))
    keywords = models.JSONField(
        _("keywords"),
        default=list,
        blank=True,
        help_text=_("A shopper message containing one of these answers with this entry; one keyword per line."),
    )
    alt_questions = models.JSONField(
        _("alternative questions"),
        default=list,
        blank=True,
        help_text=_("Other ways shoppers ask the same question, one per line."),
    )
    mode = models.CharField(_("answer mode"), max_length=10, choices=Mode.choices, default=Mode.REFERENCE)
    category = models.CharField(_("category"), max_length=64, blank=True, db_index=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    hit_count = models.PositiveIntegerField(_("hits"), default=0, editable=False)

    class Meta:
        ordering = ["store", "category", "question"]
        verbose_name = _("FAQ entry")
        verbose_name_plural = _("FAQ entries")
        constraints = [
            models.UniqueConstraint(fields=["store", "question"], name="faq_unique_question_per_store"),
        ]

    def __str__(self) -> str:
        return self.question


class SynonymRule(TimeStampedModel):
    """Rewrites shopper phrasing before matching, e.g. "啥时候发" -> "什么时候发货"."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="synonyms", verbose_name=_("store"))
    phrase = models.CharField(_("phrase"), max_length=100)
    replacement = models.CharField(_("replacement"), max_length=100)

    class Meta:
        ordering = ["store", "phrase"]
        verbose_name = _("synonym rule")
        verbose_name_plural = _("synonym rules")
        constraints = [
            models.UniqueConstraint(fields=["store", "phrase"], name="synonym_unique_phrase_per_store"),
        ]

    def __str__(self) -> str:
        return f"{self.phrase} -> {self.replacement}"
