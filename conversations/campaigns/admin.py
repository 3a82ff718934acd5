"""Reminders in the back office: settings (with the webhook secret), figures, shop data, the outbox and its retry."""

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from conversations.campaigns.models import Cart, CartItem, Order, OutboxMessage, ReminderSettings, ShopCustomer
from conversations.campaigns.outbox import outbox_retry
from conversations.campaigns.selectors import campaign_figures
from kb.admin import StoreScopedAdminMixin


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
