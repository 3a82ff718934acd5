from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class CampaignsConfig(AppConfig):
    """Shop events (customers, carts, orders) and the reminders sent to shoppers about them."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "conversations.campaigns"
    label = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        # kombu's filesystem transport (the embedded mode's broker) expects its folders to exist.
        if str(getattr(settings, "CELERY_BROKER_URL", "")).startswith("filesystem://"):
            options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
            for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
                if options.get(key):
                    Path(options[key]).mkdir(parents=True, exist_ok=True)
