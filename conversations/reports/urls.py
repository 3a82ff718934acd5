from django.urls import URLPattern, URLResolver, path

from conversations.reports.apis import ReportApi

urlpatterns: list[URLPattern | URLResolver] = [
    path("reports/<slug:store>/", ReportApi.as_view(), name="report"),
]
