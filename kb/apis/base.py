"""What every knowledge-base endpoint shares: staff permissions, store scoping, the Input/Output split.

The knowledge-base resources are plain CRUD that differ only in model and fields, so each is a thin
ModelViewSet on `StoreScopedViewSet`, which holds the store scoping and the Input/Output split in one
place instead of in twenty near-identical APIViews.
"""

import logging
from typing import Any, ClassVar

from django.db import IntegrityError, models, transaction
from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers, status, viewsets
from rest_framework.filters import BaseFilterBackend, SearchFilter
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.validators import UniqueTogetherValidator

from config.exceptions import ApplicationError
from kb.models import Store
from kb.selectors import store_list_for_user
from kb.validation import InvalidValue, ListRule, attributes_clean, string_list_clean

logger = logging.getLogger(__name__)


class IsStoreStaff(BasePermission):
    """Staff of at least one store (or a superuser); per-object scoping is in the querysets."""

    message = "Staff login required."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class StaffModelPermissions(DjangoModelPermissions):
    """The model permissions the admin grants hold in the API too, reading included."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class InputOutputSchema(AutoSchema):
    """Writes are documented with the view's InputSerializer and answer with its OutputSerializer."""

    def get_response_serializers(self) -> Any:
        if self.method in ("POST", "PUT", "PATCH") and hasattr(self.view, "OutputSerializer"):
            return self.view.OutputSerializer
        return super().get_response_serializers()


class StoreSlugFilter(BaseFilterBackend):
    """`?store=<slug>` narrows a list to one store (among the user's, the queryset is scoped already)."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        slug = request.query_params.get("store")
        return queryset.filter(store__slug=slug) if slug else queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "store",
                "in": "query",
                "required": False,
                "description": "Only this store (its slug).",
                "schema": {"type": "string"},
            }
        ]


class StoreSlugField(serializers.SlugRelatedField[Store]):
    """A store by its slug; as input, only the stores the requesting user works for are accepted."""

    default_error_messages = {
        "does_not_exist": "You have no store with the slug “{value}”.",
        "invalid": "A store slug is a string.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="slug", **kwargs)

    def get_queryset(self) -> QuerySet[Store]:
        request = self.context.get("request")
        if request is None:
            return Store.objects.none()
        return store_list_for_user(user=request.user)


def _save(serializer: serializers.BaseSerializer[Any]) -> Any:
    """Save, turning a constraint the validation missed (two concurrent writes) into a 400."""
    try:
        with transaction.atomic():
            return serializer.save()
    except IntegrityError as exc:
        logger.info("API write refused by a database constraint: %s", exc)
        raise ApplicationError(
            "The change conflicts with data saved meanwhile (a duplicate?). Reload and try again."
        ) from exc


class StoreScopedViewSet(viewsets.ModelViewSet[Any]):
    """CRUD on one knowledge-base model, limited to the stores the user works for.

    Subclasses set `model` and nest an `InputSerializer` (writes) and an `OutputSerializer` (every
    answer). Both carry the same `Meta.ref_name`; the schema tells them apart as `X` and `XRequest`.
    """

    model: ClassVar[type[models.Model]]
    InputSerializer: ClassVar[type[serializers.Serializer[Any]]]
    OutputSerializer: ClassVar[type[serializers.Serializer[Any]]]

    permission_classes = [IsStoreStaff, StaffModelPermissions]
    filter_backends = [StoreSlugFilter, SearchFilter]
    parser_classes = [JSONParser]
    lookup_value_regex = "[0-9]+"
    schema = InputOutputSchema()

    def get_queryset(self) -> QuerySet[Any]:
        stores = store_list_for_user(user=self.request.user)
        return self.model._default_manager.filter(store__in=stores).select_related("store")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action in ("create", "update", "partial_update"):
            return self.InputSerializer
        return self.OutputSerializer

    def _output(self, instance: Any) -> dict[str, Any]:
        return self.OutputSerializer(instance, context=self.get_serializer_context()).data

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(self._output(_save(serializer)), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        return Response(self._output(_save(serializer)))


def unique_per_store(model: type[models.Model], field: str, message: str) -> UniqueTogetherValidator:
    return UniqueTogetherValidator(queryset=model._default_manager.all(), fields=("store", field), message=message)


class AttributesField(serializers.DictField):
    """Product attributes checked by the rule the KB file uses too (`kb.validation.attributes_clean`)."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        try:
            return attributes_clean(data)
        except InvalidValue as exc:
            raise serializers.ValidationError(str(exc)) from None


class StringListField(serializers.ListField):
    """A list of strings checked by the rule the admin and the KB file use too (`kb.validation`).

    The child field and the length limit only describe the list in the schema; the rule decides.
    """

    def __init__(self, *, rule: ListRule, child: serializers.Field[Any, Any, Any, Any] | None = None, **kwargs: Any):
        self.rule = rule
        child = child or serializers.CharField(max_length=rule.max_chars)
        super().__init__(child=child, max_length=rule.max_items, **kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        try:
            return string_list_clean(data, rule=self.rule)
        except InvalidValue as exc:
            raise serializers.ValidationError(str(exc)) from None
