"""The knowledge a store's bot answers from: products, promotions, FAQ entries and synonym rules."""

from typing import Any

from rest_framework import serializers

from kb.apis.base import AttributesField, StoreScopedViewSet, StoreSlugField, StringListField, unique_per_store
from kb.models import FaqEntry, Product, Promotion, SynonymRule
from kb.validation import FAQ_ALT_QUESTIONS, FAQ_KEYWORDS, promotion_errors


class ProductViewSet(StoreScopedViewSet):
    """Products of your stores; `?store=<slug>` narrows to one store, `?search=` looks in SKU, name, description."""

    model = Product
    search_fields = ["sku", "name", "description"]

    class InputSerializer(serializers.ModelSerializer[Product]):
        store = StoreSlugField()
        attributes = AttributesField(required=False)

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
            validators = [unique_per_store(Product, "sku", "This store already has a product with this SKU.")]

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
            validators = [unique_per_store(Promotion, "title", "This store already has a promotion with this title.")]

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            # A partial update is checked against the values it leaves in place.
            def value(name: str, default: Any = None) -> Any:
                return attrs[name] if name in attrs else getattr(self.instance, name, default)

            errors = promotion_errors(
                kind=value("kind"),
                amount=value("amount"),
                multiplier=value("multiplier"),
                gift=value("gift", ""),
                starts_at=value("starts_at"),
                ends_at=value("ends_at"),
                given=attrs.keys(),
            )
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
        keywords = StringListField(rule=FAQ_KEYWORDS, required=False)
        alt_questions = StringListField(rule=FAQ_ALT_QUESTIONS, required=False)

        class Meta:
            model = FaqEntry
            ref_name = "FaqEntry"
            fields = ["store", "question", "answer", "keywords", "alt_questions", "mode", "category", "enabled"]
            validators = [
                unique_per_store(FaqEntry, "question", "This store already has an FAQ entry with this question.")
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
            validators = [unique_per_store(SynonymRule, "phrase", "This store already has a rule for this phrase.")]

    class OutputSerializer(serializers.ModelSerializer[SynonymRule]):
        store = StoreSlugField(read_only=True)

        class Meta:
            model = SynonymRule
            ref_name = "SynonymRule"
            fields = ["id", "store", "phrase", "replacement", "created_at", "updated_at"]
