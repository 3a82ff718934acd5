"""REST API of the knowledge base: stores and their bot settings, products, promotions, FAQ, synonyms.

The four knowledge-base resources are plain CRUD that differ only in model and fields, so each is a
thin ModelViewSet on `StoreScopedViewSet`, which holds the store scoping and the Input/Output split in
one place instead of in twenty near-identical APIViews.
"""

import logging
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.contrib.auth import authenticate
from django.db import IntegrityError, models, transaction
from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.filters import BaseFilterBackend, SearchFilter
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, BasePermission, DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.validators import UniqueTogetherValidator
from rest_framework.views import APIView

from config.exceptions import ApplicationError
from kb.hours import HoursError, hours_clean
from kb.models import STORE_BOT_SETTINGS, FaqEntry, Product, Promotion, Store, SynonymRule
from kb.selectors import store_list_for_user

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


class IsSuperuser(BasePermission):
    message = "Only a superuser can create or delete stores."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(getattr(request.user, "is_superuser", False))


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


def _unique_per_store(model: type[models.Model], field: str, message: str) -> UniqueTogetherValidator:
    return UniqueTogetherValidator(queryset=model._default_manager.all(), fields=("store", field), message=message)


class OriginField(serializers.URLField):
    """A page origin as browsers send it in the Origin header: scheme and host, no path."""

    def to_internal_value(self, data: Any) -> str:
        parts = urlsplit(super().to_internal_value(data))
        if parts.scheme not in ("http", "https") or parts.path.strip("/") or parts.query or parts.fragment:
            raise serializers.ValidationError(
                f"“{data}” is not an origin; give scheme and host only, e.g. https://shop.example.com."
            )
        return f"{parts.scheme}://{parts.netloc.lower()}"


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
        quick_questions = serializers.ListField(
            child=serializers.CharField(max_length=100), max_length=10, required=False
        )
        blocked_phrases = serializers.ListField(
            child=serializers.CharField(max_length=100), max_length=200, required=False
        )
        theme = StoreThemeSerializer(required=False)
        allowed_origins = serializers.ListField(child=OriginField(), max_length=20, required=False)
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


class ProductViewSet(StoreScopedViewSet):
    """Products of your stores; `?store=<slug>` narrows to one store, `?search=` looks in SKU, name, description."""

    model = Product
    search_fields = ["sku", "name", "description"]

    class InputSerializer(serializers.ModelSerializer[Product]):
        store = StoreSlugField()
        attributes = serializers.DictField(required=False)

        class Meta:
            model = Product
            ref_name = "Product"
            fields = [
                "store",
                "sku",
                "name",
                "price",
                "stock",
                "description",
                "attributes",
                "size_guide",
                "shipping_note",
                "is_active",
            ]
            validators = [_unique_per_store(Product, "sku", "This store already has a product with this SKU.")]

    class OutputSerializer(serializers.ModelSerializer[Product]):
        store = StoreSlugField(read_only=True)

        class Meta:
            model = Product
            ref_name = "Product"
            fields = [
                "id",
                "store",
                "sku",
                "name",
                "price",
                "stock",
                "description",
                "attributes",
                "size_guide",
                "shipping_note",
                "is_active",
                "created_at",
                "updated_at",
            ]


class PromotionViewSet(StoreScopedViewSet):
    """Promotions of your stores; the bot backs a promotion claim only with what these say."""

    model = Promotion
    search_fields = ["title", "description", "gift"]

    class InputSerializer(serializers.ModelSerializer[Promotion]):
        store = StoreSlugField()

        class Meta:
            model = Promotion
            ref_name = "Promotion"
            fields = [
                "store",
                "title",
                "kind",
                "description",
                "threshold",
                "amount",
                "multiplier",
                "gift",
                "member_only",
                "starts_at",
                "ends_at",
                "enabled",
            ]
            extra_kwargs = {"threshold": {"min_value": 0}}
            validators = [_unique_per_store(Promotion, "title", "This store already has a promotion with this title.")]

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            # The model's check constraints, with messages; a partial update is checked against the
            # values it leaves in place.
            def value(name: str, default: Any = None) -> Any:
                return attrs[name] if name in attrs else getattr(self.instance, name, default)

            kind = value("kind")
            errors: dict[str, str] = {}
            if kind == Promotion.Kind.THRESHOLD_OFF and not (value("amount") or 0) > 0:
                errors["amount"] = "A spend-X-get-Y-off promotion needs an amount greater than 0."
            multiplier = value("multiplier")
            if kind == Promotion.Kind.MULTIPLIER and not (multiplier is not None and 0 < multiplier < 1):
                errors["multiplier"] = "A percentage-price promotion needs a multiplier between 0 and 1, e.g. 0.95."
            if kind == Promotion.Kind.GIFT and not value("gift", ""):
                errors["gift"] = "A gift promotion needs the name of the gift."
            starts_at, ends_at = value("starts_at"), value("ends_at")
            if starts_at and ends_at and ends_at <= starts_at:
                errors["ends_at"] = "The promotion must end after it starts."
            if errors:
                raise serializers.ValidationError(errors)
            return attrs

    class OutputSerializer(serializers.ModelSerializer[Promotion]):
        store = StoreSlugField(read_only=True)
        is_active = serializers.BooleanField(read_only=True, help_text="Enabled and within its time window now.")

        class Meta:
            model = Promotion
            ref_name = "Promotion"
            fields = [
                "id",
                "store",
                "title",
                "kind",
                "description",
                "threshold",
                "amount",
                "multiplier",
                "gift",
                "member_only",
                "starts_at",
                "ends_at",
                "enabled",
                "is_active",
                "created_at",
                "updated_at",
            ]


class FaqEntryViewSet(StoreScopedViewSet):
    """FAQ entries of your stores; `?search=` looks in question, answer and category."""

    model = FaqEntry
    search_fields = ["question", "answer", "category"]

    class InputSerializer(serializers.ModelSerializer[FaqEntry]):
        store = StoreSlugField()
        keywords = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
        alt_questions = serializers.ListField(child=serializers.CharField(max_length=300), required=False)

        class Meta:
            model = FaqEntry
            ref_name = "FaqEntry"
            fields = ["store", "question", "answer", "keywords", "alt_questions", "mode", "category", "enabled"]
            validators = [
                _unique_per_store(FaqEntry, "question", "This store already has an FAQ entry with this question.")
            ]

    class OutputSerializer(serializers.ModelSerializer[FaqEntry]):
        store = StoreSlugField(read_only=True)
        keywords = serializers.ListField(child=serializers.CharField())
        alt_questions = serializers.ListField(child=serializers.CharField())

        class Meta:
            model = FaqEntry
            ref_name = "FaqEntry"
            fields = [
                "id",
                "store",
                "question",
                "answer",
                "keywords",
                "alt_questions",
                "mode",
                "category",
                "enabled",
                "hit_count",
                "created_at",
                "updated_at",
            ]


class SynonymRuleViewSet(StoreScopedViewSet):
    """Synonym rules that rewrite shopper phrasing before matching, e.g. 啥时候发 -> 什么时候发货."""

    model = SynonymRule
    search_fields = ["phrase", "replacement"]

    class InputSerializer(serializers.ModelSerializer[SynonymRule]):
        store = StoreSlugField()

        class Meta:
            model = SynonymRule
            ref_name = "SynonymRule"
            fields = ["store", "phrase", "replacement"]
            validators = [_unique_per_store(SynonymRule, "phrase", "This store already has a rule for this phrase.")]

    class OutputSerializer(serializers.ModelSerializer[SynonymRule]):
        store = StoreSlugField(read_only=True)

        class Meta:
            model = SynonymRule
            ref_name = "SynonymRule"
            fields = ["id", "store", "phrase", "replacement", "created_at", "updated_at"]


class TokenObtainApi(APIView):
    """Trade a staff member's username and password for the token sent as `Authorization: Token <key>`."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (AnonRateThrottle,)

    class InputSerializer(serializers.Serializer[Any]):
        username = serializers.CharField()
        password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})

        class Meta:
            ref_name = "TokenObtain"

    class OutputSerializer(serializers.Serializer[Any]):
        token = serializers.CharField()

        class Meta:
            ref_name = "Token"

    @extend_schema(request=InputSerializer, responses=OutputSerializer, auth=[])
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request=request, **serializer.validated_data)
        if user is None:
            raise ApplicationError("Wrong username or password.")
        if not getattr(user, "is_staff", False):
            raise ApplicationError("This account is not a staff account.")
        token, _created = Token.objects.get_or_create(user=user)
        return Response(self.OutputSerializer({"token": token.key}).data)
