from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from kb.apis import FaqEntryViewSet, ProductViewSet, PromotionViewSet, StoreViewSet, SynonymRuleViewSet, TokenObtainApi

router = SimpleRouter()
router.register("stores", StoreViewSet, basename="store")
router.register("products", ProductViewSet, basename="product")
router.register("promotions", PromotionViewSet, basename="promotion")
router.register("faqs", FaqEntryViewSet, basename="faq")
router.register("synonyms", SynonymRuleViewSet, basename="synonym")

urlpatterns: list[URLPattern | URLResolver] = [
    path("auth/token/", TokenObtainApi.as_view(), name="token-obtain"),
    *router.urls,
]
