"""Reminders in the back office: settings (with the webhook secret), figures, shop data, the outbox and its retry."""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.exceptions import ApplicationError
from conversations.campaigns.models import (
    Cart,
    CartItem,
    Order,
    OutboxMessage,
    ReminderSettings,
    Review,
    ReviewReply,
    ShopCustomer,
)
from conversations.campaigns.outbox import outbox_retry
from conversations.campaigns.reviews import review_reply_approve, review_reply_reject
from conversations.campaigns.selectors import campaign_figures
from engine.review_reply import MAX_REPLY_CHARS
from kb.admin_base import StoreScopedAdminMixin, store_filter


@admin.register(ReminderSettings)
class ReminderSettingsAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ("store", "enabled", "idle_minutes", "steps", "unpaid_nudge", "quiet_start", "quiet_end", "figures")
    readonly_fields = ("webhook_secret", "figures")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Figures (sent / clicked / recovered, revenue / ordered after a reminder)")
    def figures(self, obj: ReminderSettings) -> str:
        if obj.pk is None:
            return "-"
        f = campaign_figures(store=obj.store)
        return format_html(
            "{} / {} / {}, ¥{} / {}, ¥{}",
            f.sent,
            f.clicked,
            f.recovered,
            f.recovered_revenue,
            f.ordered_after,
            f.ordered_after_revenue,
        )


class ReadOnlyAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    """Shop data arrives as events; the admin shows it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ShopCustomer)
class ShopCustomerAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "store", "email", "phone", "consent", "unsubscribed", "version")
    list_filter = ("consent", "unsubscribed")
    search_fields = ("external_id", "email", "phone")


class CartItemInline(admin.TabularInline):
    model = CartItem
    extra = 0
    can_delete = False
    readonly_fields = ("sku", "name", "quantity", "price")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Cart)
class CartAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "store", "customer", "status", "version", "changed_at")
    list_filter = ("status",)
    search_fields = ("external_id", "customer__external_id")
    inlines = [CartItemInline]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "store", "customer", "status", "total", "placed_at", "paid_at")
    list_filter = ("status",)
    search_fields = ("external_id", "customer__external_id")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("idempotency_key", "channel", "store", "status", "attempts", "next_attempt_at", "sent_at")
    list_filter = ("status", "channel")
    search_fields = ("idempotency_key",)
    actions = ["retry"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The retry action needs it; the change form shows every field read-only.
        return super(ReadOnlyAdmin, self).has_change_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in OutboxMessage._meta.fields]

    @admin.action(description="Retry the selected dead letters")
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = outbox_retry(message_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} dead letter(s) will be sent again.", messages.SUCCESS)


class ReplyAgeFilter(admin.SimpleListFilter):
    title = gettext_lazy("waiting")
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("1h", gettext_lazy("under an hour")),
            ("1d", gettext_lazy("under a day")),
            ("old", gettext_lazy("a day or more")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        if self.value() == "1h":
            return queryset.filter(drafted_at__gte=now - timedelta(hours=1))
        if self.value() == "1d":
            return queryset.filter(drafted_at__gte=now - timedelta(days=1))
        if self.value() == "old":
            return queryset.filter(drafted_at__lt=now - timedelta(days=1))
        return queryset


class ReviewReplyForm(forms.ModelForm):
    """The reply as a person approves it: the draft to edit, and the decision."""

    reply = forms.CharField(
        label=gettext_lazy("Reply"),
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_REPLY_CHARS}),
        max_length=MAX_REPLY_CHARS,
        help_text=gettext_lazy("Edit the draft if needed (at most 150 characters); it is sent as it stands here."),
    )
    decision = forms.ChoiceField(
        label=gettext_lazy("Decision"),
        choices=[
            ("", gettext_lazy("Decide later")),
            ("approve", gettext_lazy("Approve and send")),
            ("reject", gettext_lazy("Reject (send nothing)")),
        ],
        required=False,
    )

    class Meta:
        model = ReviewReply
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["reply"].initial = self.instance.text or self.instance.draft


@admin.register(ReviewReply)
class ReviewReplyAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    """The approval queue: drafts wait here; nothing to a review of 3 stars or fewer leaves without a person."""

    form = ReviewReplyForm
    list_display = ("stars", "store", "review_text", "draft_text", "source", "status", "drafted_at", "ticket_link")
    list_filter = ("status", store_filter, "review__rating", ReplyAgeFilter, "source")
    search_fields = ("review__external_id", "review__order_ref", "review__text", "draft")
    list_select_related = ("review", "store", "ticket")
    ordering = ("drafted_at",)
    actions = ["approve", "reject"]
    readonly_fields = (
        "stars",
        "review_full",
        "order_context",
        "source",
        "problems",
        "model_text",
        "status",
        "edited",
        "drafted_at",
        "decided_at",
        "decided_by",
        "ticket_link",
    )
    fields = (
        "stars",
        "review_full",
        "order_context",
        "reply",
        "decision",
        "source",
        "problems",
        "model_text",
        "status",
        "edited",
        "drafted_at",
        "decided_at",
        "decided_by",
        "ticket_link",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=gettext_lazy("stars"), ordering="review__rating")
    def stars(self, obj: ReviewReply) -> str:
        return "★" * obj.review.rating + "☆" * (5 - obj.review.rating)

    @admin.display(description=gettext_lazy("review"))
    def review_text(self, obj: ReviewReply) -> str:
        text = obj.review.text
        return text if len(text) <= 80 else text[:80] + "…"  # escaped by the admin: HTML stays text

    @admin.display(description=gettext_lazy("review"))
    def review_full(self, obj: ReviewReply) -> str:
        return obj.review.text

    @admin.display(description=gettext_lazy("reply"))
    def draft_text(self, obj: ReviewReply) -> str:
        return obj.text or obj.draft

    @admin.display(description=gettext_lazy("order"))
    def order_context(self, obj: ReviewReply) -> str:
        review = obj.review
        parts = [review.order_ref or "-", review.sku or "-"]
        if review.order is not None:
            parts.append(f"¥{review.order.total} ({review.order.get_status_display()})")
        return " · ".join(parts)

    @admin.display(description=gettext_lazy("ticket"))
    def ticket_link(self, obj: ReviewReply) -> str:
        if obj.ticket_id is None:
            return "-"
        url = reverse("admin:conversations_handoffticket_change", args=[obj.ticket_id])
        return format_html('<a href="{}">#{}</a>', url, obj.ticket_id)

    def save_model(self, request: HttpRequest, obj: ReviewReply, form: forms.ModelForm, change: bool) -> None:
        decision = form.cleaned_data.get("decision")
        try:
            if decision == "approve":
                review_reply_approve(reply_id=obj.pk, user=request.user, text=form.cleaned_data["reply"])  # type: ignore[arg-type]
            elif decision == "reject":
                review_reply_reject(reply_id=obj.pk, user=request.user)  # type: ignore[arg-type]
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return None

    @admin.action(description=gettext_lazy("Approve the selected drafts as they are"))
    def approve(self, request: HttpRequest, queryset: QuerySet[ReviewReply]) -> None:
        done = 0
        for reply_id in queryset.filter(status=ReviewReply.Status.DRAFT).values_list("pk", flat=True):
            review_reply_approve(reply_id=reply_id, user=request.user)  # type: ignore[arg-type]
            done += 1
        self.message_user(request, _("%(count)s reply(ies) approved and queued to the shop.") % {"count": done})

    @admin.action(description=gettext_lazy("Reject the selected drafts"))
    def reject(self, request: HttpRequest, queryset: QuerySet[ReviewReply]) -> None:
        done = 0
        for reply_id in queryset.filter(status=ReviewReply.Status.DRAFT).values_list("pk", flat=True):
            review_reply_reject(reply_id=reply_id, user=request.user)  # type: ignore[arg-type]
            done += 1
        self.message_user(request, _("%(count)s reply(ies) rejected.") % {"count": done})


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "store", "rating", "short_text", "order_ref", "sku", "reviewed_at", "needs_reply")
    list_filter = ("rating", "needs_reply", store_filter)
    search_fields = ("external_id", "order_ref", "text")

    @admin.display(description=gettext_lazy("review"))
    def short_text(self, obj: Review) -> str:
        return obj.text if len(obj.text) <= 80 else obj.text[:80] + "…"
