from __future__ import annotations

from typing import Any

import tablib
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import XLSX
from import_export.forms import ConfirmImportForm, ImportForm

from kb.admin_base import PIPE, SHORT_ITEMS, StoreScopedAdminMixin, store_filter, typed_field
from kb.form_fields import AttributesField, LinesField
from kb.models import FaqEntry, Product, Promotion, Store, SynonymRule
from kb.resources import FaqEntryResource, ProductResource, SpreadsheetCSV, UnreadableFile
from kb.selectors import store_list_for_user
from kb.store_admin import StoreAdmin
from kb.validation import FAQ_ALT_QUESTIONS, FAQ_KEYWORDS, PROMOTION_KIND_FIELDS, promotion_errors

admin.site.register(Store, StoreAdmin)


class ProductAdminForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = (
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
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        typed_field(self, "attributes", AttributesField())


class FaqEntryAdminForm(forms.ModelForm):
    class Meta:
        model = FaqEntry
        fields = ("store", "question", "answer", "keywords", "alt_questions", "mode", "category", "enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keywords = _("ship\nhow many days")
        typed_field(self, "keywords", LinesField(rule=FAQ_KEYWORDS, example=keywords, separators=SHORT_ITEMS))
        questions = _("When will my order ship?\nHow soon do you send it?")
        typed_field(self, "alt_questions", LinesField(rule=FAQ_ALT_QUESTIONS, example=questions, separators=PIPE))


class PromotionAdminForm(forms.ModelForm):
    class Meta:
        model = Promotion
        fields = (
            "store",
            "title",
            "kind",
            "description",
            *("threshold", "amount", "multiplier", "gift", "member_only"),
            *("enabled", "starts_at", "ends_at"),
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        names = ("kind", *PROMOTION_KIND_FIELDS, "starts_at", "ends_at")
        if all(name in data for name in names):  # a field with its own error is reported alone
            errors = promotion_errors(
                kind=data["kind"],
                amount=data["amount"],
                multiplier=data["multiplier"],
                gift=data["gift"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                given=self.fields,
            )
            for name, message in errors.items():
                self.add_error(name, message)
        return data


def import_problems(result: Any, model: type[Any]) -> list[str]:
    """One line per problem of an import result: the file's, then each bad row with its number and field."""
    problems = [str(error.error) for error in result.base_errors]
    for number, errors in result.row_errors():
        problems += [_("row %(number)s: %(error)s") % {"number": number, "error": error.error} for error in errors]
    for row in result.invalid_rows:
        for field, field_errors in row.error_dict.items():
            values = {"number": row.number, "field": _field_title(model, field), "error": " ".join(field_errors)}
            if field == NON_FIELD_ERRORS:
                problems.append(_("row %(number)s: %(error)s") % values)
            else:
                problems.append(_("row %(number)s, %(field)s: %(error)s") % values)
    return problems


def _field_title(model: type[Any], name: str) -> str:
    try:
        return str(model._meta.get_field(name).verbose_name)
    except Exception:  # not a model field (a resource-only column)
        return name


class StoreImportForm(ImportForm):
    """The import page: the file, its format, and the store whose rows the file holds."""

    store = forms.ModelChoiceField(
        queryset=Store.objects.none(),
        required=False,
        label=gettext_lazy("Store"),
        empty_label=gettext_lazy("(as the file's store column says)"),
        help_text=gettext_lazy("Rows with an empty store column, or a file without one, go to this store."),
    )


class StoreConfirmImportForm(ConfirmImportForm):
    store = forms.ModelChoiceField(queryset=Store.objects.all(), required=False, widget=forms.HiddenInput())


class StoreScopedImportExportAdmin(StoreScopedAdminMixin, ImportExportModelAdmin):
    """CSV/XLSX import with preview and confirm, all-or-nothing, for the user's stores only.

    CSV files are read as Excel saves them (UTF-8 with or without BOM, GBK/GB18030) and written as
    UTF-8 with a BOM; each model offers a template to fill in (import_template_view).
    """

    import_error_display = ("message",)
    import_template_name = "admin/kb/import.html"
    import_form_class = StoreImportForm
    confirm_form_class = StoreConfirmImportForm

    @property
    def formats(self) -> list[type[Any]]:
        return [SpreadsheetCSV, XLSX]

    def get_urls(self) -> list[Any]:
        app_label, model_name = self.get_model_info()
        template = path(
            "import/template.<str:extension>",
            self.admin_site.admin_view(self.import_template_view),
            name=f"{app_label}_{model_name}_import_template",
        )
        return [template, *super().get_urls()]

    def import_template_view(self, request: HttpRequest, extension: str) -> HttpResponse:
        """An empty spreadsheet with this model's columns, headed in the user's language, and one example row."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        formats: dict[str, Any] = {"csv": SpreadsheetCSV, "xlsx": XLSX}
        if extension not in formats:
            raise Http404
        resource = self.get_import_resource_classes(request)[0](user=request.user)
        titles = {key: title for key, title in resource.column_titles().items() if key != "store"}
        dataset = tablib.Dataset(headers=list(titles.values()))
        dataset.append([resource.template_example.get(key, "") for key in titles])
        file_format = formats[extension]()
        response = HttpResponse(file_format.export_data(dataset), content_type=file_format.get_content_type())
        response["Content-Disposition"] = f'attachment; filename="{self.get_model_info()[1]}-template.{extension}"'
        return response

    def get_import_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_import_context_data(**kwargs)
        app_label, model_name = self.get_model_info()
        name = f"{self.admin_site.name}:{app_label}_{model_name}_import_template"
        context["template_urls"] = {ext: reverse(name, args=[ext]) for ext in ("csv", "xlsx")}
        resource = self.resource_classes[0]()
        context["column_titles"] = resource.column_titles()
        context["choice_columns"] = [
            (resource.column_titles()[field.column_name], field.widget.allowed())
            for field in resource.get_import_fields()
            if hasattr(field.widget, "allowed")
        ]
        return context

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """Adds the bad rows with each problem named by its column's title, shown inline (not on hover)."""
        response: HttpResponse = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None)
        result = context.get("result") if context else None
        if context is not None and result is not None:
            context["invalid_rows"] = [
                (
                    row.number,
                    [
                        ("" if field == NON_FIELD_ERRORS else _field_title(self.model, field), error)
                        for field, errors in row.error_dict.items()
                        for error in errors
                    ],
                    row.values,
                )
                for row in result.invalid_rows
            ]
        return response

    def get_import_form_initial(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = super().get_import_form_initial(request)
        first = store_list_for_user(user=request.user).first()
        return {**initial, "store": first.pk if first else None}

    def create_import_form(self, request: HttpRequest) -> Any:
        form = super().create_import_form(request)
        form.fields["store"].queryset = store_list_for_user(user=request.user)
        return form

    def get_confirm_form_initial(self, request: HttpRequest, import_form: Any) -> dict[str, Any]:
        initial: dict[str, Any] = super().get_confirm_form_initial(request, import_form)
        store = import_form.cleaned_data.get("store") if import_form is not None else None
        return {**initial, "store": store.pk if store else ""}

    def add_data_read_fail_error_to_form(self, form: Any, e: Exception) -> None:
        if isinstance(e, UnreadableFile):
            form.add_error("import_file", str(e))
        else:
            form.add_error(
                "import_file",
                _("The file could not be read as %(format)s; check the file type chosen below it.")
                % {"format": form.cleaned_data.get("format", "")},
            )

    def get_resource_kwargs(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        form = kwargs.get("form")
        store = getattr(form, "cleaned_data", {}).get("store") if form is not None else None
        return {**super().get_resource_kwargs(request, *args, **kwargs), "user": request.user, "store": store}

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # By default the confirm step skips rows that fail validation and saves the rest; the file
        # can differ from the previewed one (or the data changed meanwhile), so roll back instead.
        return {**super().get_import_data_kwargs(**kwargs), "rollback_on_validation_errors": True}

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        if result.has_errors() or result.has_validation_errors():
            problems = import_problems(result, self.model)
            shown = "; ".join(problems[:10])
            if len(problems) > 10:
                shown += _("; and %(count)s more") % {"count": len(problems) - 10}
            messages.error(request, _("Nothing was imported: %(problems)s") % {"problems": shown})
            app_label, model_name = self.get_model_info()
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:{app_label}_{model_name}_import"))
        response: HttpResponse = super().process_result(result, request)
        return response


@admin.register(Product)
class ProductAdmin(StoreScopedImportExportAdmin):
    form = ProductAdminForm
    resource_classes = [ProductResource]
    list_display = ("sku", "name", "store", "price", "stock", "is_active", "updated_at")
    list_filter = (store_filter, "is_active")
    search_fields = ("sku", "name", "description")
    list_select_related = ("store",)
    actions = ["write_copy"]

    @admin.action(description=gettext_lazy("Write a title, description and promo line with the model"))
    def write_copy(self, request: HttpRequest, queryset: QuerySet[Product]) -> HttpResponseRedirect | None:
        if queryset.count() != 1:
            self.message_user(request, _("Select one product to write copy for."), messages.WARNING)
            return None
        product = queryset.get()
        # The page lives with the chat engine's other callers (conversations), found by its URL name.
        return HttpResponseRedirect(reverse("product-copy", args=[product.pk]))


@admin.register(FaqEntry)
class FaqEntryAdmin(StoreScopedImportExportAdmin):
    form = FaqEntryAdminForm
    resource_classes = [FaqEntryResource]
    list_display = ("question", "store", "category", "mode", "enabled", "hit_count", "updated_at")
    list_filter = (store_filter, "category", "mode", "enabled")
    search_fields = ("question", "answer", "category")
    list_select_related = ("store",)
    readonly_fields = ("hit_count",)


@admin.register(Promotion)
class PromotionAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    form = PromotionAdminForm
    list_display = ("title", "store", "kind", "threshold", "amount", "multiplier", "gift", "member_only", "enabled")
    list_filter = (store_filter, "kind", "member_only", "enabled")
    search_fields = ("title", "description", "gift")
    list_select_related = ("store",)
    fieldsets = (
        (None, {"fields": ("store", "title", "kind", "description")}),
        (gettext_lazy("Terms"), {"fields": ("threshold", "amount", "multiplier", "gift", "member_only")}),
        (gettext_lazy("When"), {"fields": ("enabled", "starts_at", "ends_at")}),
    )


@admin.register(SynonymRule)
class SynonymRuleAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ("phrase", "replacement", "store")
    list_filter = (store_filter,)
    search_fields = ("phrase", "replacement")
    list_select_related = ("store",)
