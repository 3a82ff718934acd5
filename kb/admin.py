from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import tablib
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db.models import ForeignKey, ManyToManyField, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import XLSX
from import_export.forms import ConfirmImportForm, ImportForm

from kb.form_fields import AttributesField, LinesField, ThemeField, WeekHoursField
from kb.models import STORE_BOT_SETTINGS, FaqEntry, Product, Promotion, Store, SynonymRule
from kb.resources import FaqEntryResource, ProductResource, SpreadsheetCSV, UnreadableFile
from kb.selectors import store_list_for_user
from kb.services import store_staff_add
from kb.try_answer import store_try_view
from kb.validation import (
    ALLOWED_ORIGINS,
    BLOCKED_PHRASES,
    FAQ_ALT_QUESTIONS,
    FAQ_KEYWORDS,
    PROMOTION_KIND_FIELDS,
    QUICK_QUESTIONS,
    promotion_errors,
)
from kb.widget import store_widget_snippet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


def _is_superuser(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(getattr(user, "is_superuser", False))


class StoreScopedAdminMixin(_AdminBase):
    """Limits a ModelAdmin to the stores the staff member works for; superusers see everything.

    ``store_path`` is the lookup from the model to its Store ("store", "conversation__store", "pk" for
    Store itself). Every view goes through ``get_queryset``, so an object of another store is
    "not found" (Django redirects to the admin index) in change, delete and history views alike.
    """

    store_path = "store"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if _is_superuser(request.user):
            return queryset
        return queryset.filter(**{f"{self.store_path}__in": store_list_for_user(user=request.user)})

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField[Any] | None:
        if db_field.related_model is Store:
            kwargs["queryset"] = store_list_for_user(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# Lists only the stores present in the (scoped) changelist, never every store's name.
store_filter = ("store", admin.RelatedOnlyFieldListFilter)


def _typed_field(form: forms.ModelForm, name: str, field: forms.Field) -> None:
    """Puts `field` in place of the model's JSON field `name`, keeping its label and help text."""
    if name in form.fields:
        field.label = form.fields[name].label
        field.help_text = form.fields[name].help_text
        form.fields[name] = field


# Besides line breaks, "|" separates items everywhere (as in the spreadsheet columns); keywords and
# origins are short, so commas and "、" separate them too.
_PIPE = "|"
_SHORT_ITEMS = "|、，,;；"


class StoreAdminForm(forms.ModelForm):
    """The store's list and mapping settings as lines, a weekday editor and a colour picker; stored as JSON."""

    class Meta:
        model = Store
        fields = ("slug", "name", "staff", *STORE_BOT_SETTINGS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        questions = _("When do you ship?\nCan I return it?")
        _typed_field(self, "quick_questions", LinesField(rule=QUICK_QUESTIONS, example=questions, separators=_PIPE))
        phrases = _("guaranteed\nfull refund")
        _typed_field(self, "blocked_phrases", LinesField(rule=BLOCKED_PHRASES, example=phrases, separators=_PIPE))
        origins = "https://shop.example.com\nhttps://m.shop.example.com"
        _typed_field(
            self, "allowed_origins", LinesField(rule=ALLOWED_ORIGINS, example=origins, separators=_SHORT_ITEMS)
        )
        _typed_field(self, "business_hours", WeekHoursField())
        _typed_field(self, "theme", ThemeField())


class AddStaffForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("Username"),
        max_length=150,
        help_text=gettext_lazy("An existing account is added as it is; a new name creates an account."),
    )
    password = forms.CharField(
        label=gettext_lazy("Password (new accounts only)"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    email = forms.EmailField(label=gettext_lazy("E-mail (optional)"), required=False)

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip()


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
        _typed_field(self, "attributes", AttributesField())


class FaqEntryAdminForm(forms.ModelForm):
    class Meta:
        model = FaqEntry
        fields = ("store", "question", "answer", "keywords", "alt_questions", "mode", "category", "enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keywords = _("ship\nhow many days")
        _typed_field(self, "keywords", LinesField(rule=FAQ_KEYWORDS, example=keywords, separators=_SHORT_ITEMS))
        questions = _("When will my order ship?\nHow soon do you send it?")
        _typed_field(self, "alt_questions", LinesField(rule=FAQ_ALT_QUESTIONS, example=questions, separators=_PIPE))


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


@admin.register(Store)
class StoreAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    """Store staff edit their store's voice and widget; only superusers create stores or change staff."""

    store_path = "pk"
    form = StoreAdminForm
    list_display = ("slug", "name", "assistant_name", "retrieval_top_k", "relevance_threshold", "updated_at")
    search_fields = ("slug", "name")
    filter_horizontal = ("staff",)
    fieldsets = (
        (None, {"fields": ("slug", "name", "staff")}),
        (
            gettext_lazy("Assistant"),
            {
                "fields": (
                    "assistant_name",
                    "persona",
                    "boundaries",
                    "offtopic_reply",
                    "disclaimer",
                    "blocked_phrases",
                    "welcome",
                    "quick_questions",
                )
            },
        ),
        (gettext_lazy("Human agents"), {"fields": ("handoff_message", "offline_message", "business_hours")}),
        (gettext_lazy("Chat widget"), {"fields": ("theme", "allowed_origins")}),
        (gettext_lazy("Answer matching"), {"fields": ("relevance_threshold", "retrieval_top_k")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Store | None = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if _is_superuser(request.user) else (*readonly, "staff")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Adds the widget's embedding snippet and secret (templates/admin/kb/store/change_form.html)."""
        store = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if store is not None:
            base_url = request.build_absolute_uri("/").rstrip("/")
            extra_context["widget_snippet"] = store_widget_snippet(store=store, base_url=base_url)
            extra_context["widget_chat_url"] = f"{base_url}{reverse('chat-page', args=[store.slug])}"
            extra_context["widget_secret"] = store.widget_secret
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[Any]:
        add_staff = path(
            "<path:object_id>/add-staff/",
            self.admin_site.admin_view(self.add_staff_view),
            name="kb_store_add_staff",
        )
        try_answer = path(
            "<path:object_id>/try/",
            self.admin_site.admin_view(partial(store_try_view, self)),
            name="kb_store_try_answer",
        )
        return [add_staff, try_answer, *super().get_urls()]

    def add_staff_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Creates or links a user as a staff member of this store, with the staff flag and permissions."""
        if not _is_superuser(request.user):
            raise PermissionDenied
        store = self.get_object(request, object_id)
        if store is None:
            raise Http404
        form = AddStaffForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                user, created = store_staff_add(store=store, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field, error)
            else:
                values = {"username": user.get_username(), "store": store.name}
                if created:
                    message = _("Account “%(username)s” was created and added to the staff of %(store)s.")
                else:
                    message = _("Account “%(username)s” was added to the staff of %(store)s.")
                messages.success(request, message % values)
                return HttpResponseRedirect(reverse("admin:kb_store_change", args=[store.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add staff member to %(store)s") % {"store": store.name},
            "form": form,
            "store": store,
            "opts": self.model._meta,
            "original": store,
        }
        return TemplateResponse(request, "admin/kb/store/add_staff.html", context)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelMultipleChoiceField[Any] | None:
        if db_field.name == "staff":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True).order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Store | None = None) -> bool:
        return _is_superuser(request.user)


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
