from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KbConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kb"
    verbose_name = _("Shop knowledge")

    def ready(self) -> None:
        # After django.contrib.admin's ready(): every app's admin module is registered by now.
        from django.contrib import admin

        from kb.admin import technical_sections_for_superusers

        technical_sections_for_superusers(admin.site)
