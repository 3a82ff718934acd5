"""REST API of the knowledge base: stores and their bot settings, products, promotions, FAQ, synonyms."""

from kb.apis.auth import TokenObtainApi
from kb.apis.base import IsStoreStaff, StaffModelPermissions, StoreSlugField
from kb.apis.catalog import FaqEntryViewSet, ProductViewSet, PromotionViewSet, SynonymRuleViewSet
from kb.apis.stores import StoreViewSet

__all__ = [
    "FaqEntryViewSet",
    "IsStoreStaff",
    "ProductViewSet",
    "PromotionViewSet",
    "StaffModelPermissions",
    "StoreSlugField",
    "StoreViewSet",
    "SynonymRuleViewSet",
    "TokenObtainApi",
]
