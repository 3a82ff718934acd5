"""What every store-scoped admin shares: the store scope, the store filter and typed JSON fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.db.models import ForeignKey, QuerySet
from django.http import HttpRequest

from kb.models import Store
from kb.selectors import store_list_for_user

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


def is_superuser(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(getattr(user, "is_superuser", False))


class StoreScopedAdminMixin(_AdminBase):
    """Limits a ModelAdmin to the stores the staff member works for; superusers see everything.

    ``store_path`` is the lookup from the model to its Store ("store", "conversation__store", "pk" for
    Store itself). Every view goes through ``get_queryset``, so an object of another store is
    "not found" (Django redirects to the admin index) in change, delete and history views alike.
    """

    store_path = "store"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if is_superuser(request.user):
            return queryset
        return queryset.filter(**{f"{self.store_path}__in": store_list_for_user(user=request.user)})

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField[Any] | None:
        if db_field.related_model is Store:
            kwargs["queryset"] = store_list_for_user(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# Lists only the stores present in the (scoped) changelist, never every store's name.
store_filter = ("store", admin.RelatedOnlyFieldListFilter)


def typed_field(form: forms.ModelForm, name: str, field: forms.Field) -> None:
    """Puts `field` in place of the model's JSON field `name`, keeping its label and help text."""
    if name in form.fields:
        field.label = form.fields[name].label
        field.help_text = form.fields[name].help_text
        form.fields[name] = field


# Besides line breaks, "|" separates items everywhere (as in the spreadsheet columns); keywords and
# origins are short, so commas and "、" separate them too.
PIPE = "|"
SHORT_ITEMS = "|、，,;；"
