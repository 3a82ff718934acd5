from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    """Managers' figures: daily rows of the conversation log's figures, the report page, its API and CSV."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "conversations.reports"
    label = "reports"
    verbose_name = _("Reports")
