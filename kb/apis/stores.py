"""Stores and their bot settings: staff edit their own stores' settings; only superusers add or remove stores."""

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.filters import SearchFilter
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from kb.apis.base import StoreScopedViewSet, StringListField
from kb.hours import HoursError, hours_clean
from kb.models import STORE_BOT_SETTINGS, Store
from kb.selectors import store_list_for_user
from kb.validation import ALLOWED_ORIGINS, BLOCKED_PHRASES, QUICK_QUESTIONS


class IsSuperuser(BasePermission):
    message = "Only a superuser can create or delete stores."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(getattr(request.user, "is_superuser", False))


class StoreThemeSerializer(serializers.Serializer[dict[str, str]]):
    color = serializers.RegexField(
        r"^#[0-9a-fA-F]{6}$", default="#e4393c", error_messages={"invalid": "Give the color as #rrggbb."}
    )
    position = serializers.ChoiceField(choices=["left", "right"], default="right")
    title = serializers.CharField(max_length=64, allow_blank=True, default="")
    avatar = serializers.URLField(allow_blank=True, default="")

    class Meta:
        ref_name = "StoreTheme"


STORE_SETTINGS_FIELDS = list(STORE_BOT_SETTINGS)


class StoreViewSet(StoreScopedViewSet):
    """Stores and their bot settings. Staff edit the settings of their stores; only superusers add or remove stores."""

    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    filter_backends = [SearchFilter]
    search_fields = ["slug", "name"]

    class InputSerializer(serializers.ModelSerializer[Store]):
        quick_questions = StringListField(rule=QUICK_QUESTIONS, required=False)
        blocked_phrases = StringListField(rule=BLOCKED_PHRASES, required=False)
        theme = StoreThemeSerializer(required=False)
        allowed_origins = StringListField(rule=ALLOWED_ORIGINS, child=serializers.URLField(), required=False)
        business_hours = serializers.JSONField(
            required=False, help_text='{"mon": ["09:00-18:00"], ...}; days left out are closed; {}: no set hours.'
        )

        class Meta:
            model = Store
            ref_name = "StoreSettings"
            fields = STORE_SETTINGS_FIELDS

        def validate_business_hours(self, value: Any) -> dict[str, list[str]]:
            try:
                return hours_clean(value)
            except HoursError as exc:
                raise serializers.ValidationError(str(exc)) from None

    class CreateInputSerializer(InputSerializer):
        class Meta:
            model = Store
            ref_name = "StoreCreate"
            fields = ["slug", "name", *STORE_SETTINGS_FIELDS]

    class OutputSerializer(serializers.ModelSerializer[Store]):
        theme = StoreThemeSerializer()

        class Meta:
            model = Store
            ref_name = "Store"
            fields = ["slug", "name", *STORE_SETTINGS_FIELDS, "created_at", "updated_at"]

    def get_queryset(self) -> QuerySet[Store]:
        return store_list_for_user(user=self.request.user)

    def get_permissions(self) -> list[Any]:
        permissions = list(super().get_permissions())
        if self.action in ("create", "destroy"):
            permissions.append(IsSuperuser())
        return permissions

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "create":
            return self.CreateInputSerializer
        return super().get_serializer_class()
