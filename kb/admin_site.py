"""The back office's admin site: its name, shop work first, technical sections for superusers only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models.base import ModelBase
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object

# Shop work, in this order on the index; every other app comes after them.
SHOP_APPS = ("kb", "conversations", "reports", "campaigns")
# Not shop work (users and groups, API tokens, scheduled-task settings, sign-in lockouts): superusers
# only, whatever permissions a staff member was given.
TECHNICAL_APPS = ("auth", "authtoken", "django_celery_beat", "axes")


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


class SuperuserOnlyAdminMixin(_AdminBase):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _is_superuser(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request) and super().has_delete_permission(request, obj)


class ShopDeskAdminSite(admin.AdminSite):
    site_header = _("ShopDesk back office")
    site_title = _("ShopDesk back office")
    index_title = _("Shop management")

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        """Models of TECHNICAL_APPS get their admin class made superuser-only, whoever registers them."""
        models: Iterable[Any] = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else model_or_iterable
        for model in models:
            cls = admin_class or admin.ModelAdmin
            if model._meta.app_label in TECHNICAL_APPS and not issubclass(cls, SuperuserOnlyAdminMixin):
                cls = type(cls.__name__, (SuperuserOnlyAdminMixin, cls), {})
            super().register(model, cls, **options)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)

        def rank(app: dict[str, Any]) -> int:
            label = app["app_label"]
            return SHOP_APPS.index(label) if label in SHOP_APPS else len(SHOP_APPS)

        return sorted(apps, key=rank)
