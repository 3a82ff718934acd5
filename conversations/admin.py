"""The conversation log in the admin: read-only, scoped to the staff member's stores.

State changes (hand-offs, claiming tickets, closing) go through the services and the agent console,
which keep the conversation/ticket invariants; the admin is for reading transcripts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from conversations.models import CSAT, Conversation, HandoffTicket, Message, Visitor
from conversations.services.agents import conversations_close_for_tickets
from kb.admin_base import StoreScopedAdminMixin

if TYPE_CHECKING:
    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


class ReadOnlyAdminMixin(_AdminBase):
    """View (and, with the permission, delete) only: every shown field is read-only."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return tuple(flatten(self.fields or ()))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "role", "text", "source", "flags", "ttft_ms")
    readonly_fields = fields
    ordering = ("id",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "store", "visitor", "status", "outcome", "created_at")
    list_filter = (("store", admin.RelatedOnlyFieldListFilter), "status", "outcome")
    search_fields = ("=id", "visitor__customer_id", "visitor__display_name", "messages__text")
    list_select_related = ("store", "visitor")
    date_hierarchy = "created_at"
    fields = ("store", "visitor", "status", "outcome", "created_at", "closed_at")
    inlines = (MessageInline,)


@admin.register(Visitor)
class VisitorAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "store", "customer_id", "display_name", "last_seen_at", "created_at")
    list_filter = (("store", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("customer_id", "display_name")
    list_select_related = ("store",)
    # The token is the anonymous visitor's credential: never shown.
    fields = ("store", "customer_id", "display_name", "last_seen_at", "created_at")


@admin.register(HandoffTicket)
class HandoffTicketAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    store_path = "conversation__store"
    list_display = ("id", "conversation", "reason", "status", "agent", "contact", "created_at", "resolved_at")
    list_filter = (("conversation__store", admin.RelatedOnlyFieldListFilter), "status", "reason")
    search_fields = ("contact", "conversation__visitor__customer_id")
    list_select_related = ("conversation__store", "agent")
    actions = ("close_chats",)
    fields = (
        ("conversation", "reason", "status"),
        ("agent", "contact"),
        "matched",
        ("created_at", "claimed_at", "resolved_at"),
    )

    @admin.action(description=gettext_lazy("End the chats of the selected tickets"), permissions=["view"])
    def close_chats(self, request: HttpRequest, queryset: QuerySet[HandoffTicket]) -> None:
        """Bulk close, e.g. of stale tickets (filter by status 待接入 and sort by date first)."""
        closed = conversations_close_for_tickets(tickets=queryset)
        messages.success(request, _("%(count)s chats were ended.") % {"count": closed})


@admin.register(CSAT)
class CSATAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    store_path = "conversation__store"
    list_display = ("conversation", "score", "comment", "created_at")
    list_filter = (("conversation__store", admin.RelatedOnlyFieldListFilter), "score")
    search_fields = ("comment",)
    list_select_related = ("conversation__store",)
    fields = ("conversation", "score", "comment", "created_at")
