from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("kb.urls")),
    path("api/", include("conversations.urls")),
    path("api/", include("conversations.reports.urls")),
    path("", include("conversations.campaigns.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # The shopper-facing pages: the demo shop at /, the full-page chat at /chat/<store>/.
    path("", include("conversations.web_urls")),
]
