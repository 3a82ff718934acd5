from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Shop events (customers, carts, orders) and the reminders sent to shoppers about them."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "conversations.campaigns"
    label = "campaigns"
    verbose_name = "Campaigns"
