from django.contrib import admin

from conversations.campaigns.models import ReminderSettings
from kb.admin import StoreScopedAdminMixin


@admin.register(ReminderSettings)
class ReminderSettingsAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ("store", "enabled", "idle_minutes", "steps", "unpaid_nudge", "quiet_start", "quiet_end")
    readonly_fields = ("webhook_secret",)
