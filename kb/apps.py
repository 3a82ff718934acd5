from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class KbConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kb"
    verbose_name = _("Shop knowledge")


class ShopDeskAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the back office's own site (kb/admin_site.py) as `admin.site`."""

    default = False  # named in INSTALLED_APPS instead of django.contrib.admin; kb's own config is KbConfig
    default_site = "kb.admin_site.ShopDeskAdminSite"
