from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class KbConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kb"
    verbose_name = _("Shop knowledge")

    def ready(self) -> None:
        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from kb.models import FaqEntry, Product, Promotion, Store, SynonymRule
        from kb.selectors import store_version_forget
        from kb.services import store_prefix_warm

        def forget(sender: type, instance: object, **kwargs: object) -> None:
            store_id = instance.pk if isinstance(instance, Store) else getattr(instance, "store_id", None)
            if store_id is not None:
                # Now, and again once committed: a read in between must not keep the old version.
                store_version_forget(store_id=store_id)
                transaction.on_commit(lambda: store_version_forget(store_id=store_id))
                transaction.on_commit(lambda: store_prefix_warm(store_id=store_id))

        for model in (Store, FaqEntry, Product, Promotion, SynonymRule):
            post_save.connect(forget, sender=model, weak=False, dispatch_uid=f"kb-version-{model.__name__}")
            post_delete.connect(forget, sender=model, weak=False, dispatch_uid=f"kb-version-{model.__name__}-delete")


class ShopDeskAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the back office's own site (kb/admin_site.py) as `admin.site`."""

    default = False  # named in INSTALLED_APPS instead of django.contrib.admin; kb's own config is KbConfig
    default_site = "kb.admin_site.ShopDeskAdminSite"
