"""The report in the back office: "Reports" on the admin index opens the report of the user's store."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from conversations.reports import views
from conversations.reports.models import DailyFigures
from kb.selectors import store_list_for_user


@admin.register(DailyFigures)
class ReportAdmin(admin.ModelAdmin):
    """No rows to edit: the list is the report of one store (the only one, or picked from the user's)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<slug:slug>/", wrap(self.report_view), name="reports_store_report"),
            path("<slug:slug>/csv/<slug:table>/", wrap(self.csv_view), name="reports_store_csv"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        stores = list(store_list_for_user(user=request.user))
        if len(stores) == 1:
            return HttpResponseRedirect(reverse("admin:reports_store_report", args=[stores[0].slug]))
        context = {**self.admin_site.each_context(request), "title": _("Reports"), "stores": stores}
        return TemplateResponse(request, "reports/stores.html", context)

    def report_view(self, request: HttpRequest, slug: str) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        context = {**self.admin_site.each_context(request), "title": _("Report"), "opts": self.model._meta}
        return views.report_page(request, slug, context)

    def csv_view(self, request: HttpRequest, slug: str, table: str) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        return views.report_csv(request, slug, table)
