"""The store's own admin page: its settings, staff, widget snippet and the live test chat."""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ManyToManyField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kb.admin_base import PIPE, SHORT_ITEMS, StoreScopedAdminMixin, is_superuser, typed_field
from kb.form_fields import LinesField, ThemeField, WeekHoursField
from kb.models import STORE_BOT_SETTINGS, Store
from kb.services import store_staff_add
from kb.try_answer import store_try_view
from kb.validation import ALLOWED_ORIGINS, BLOCKED_PHRASES, QUICK_QUESTIONS
from kb.widget import store_widget_snippet


class StoreAdminForm(forms.ModelForm):
    """The store's list and mapping settings as lines, a weekday editor and a colour picker; stored as JSON."""

    class Meta:
        model = Store
        fields = ("slug", "name", "staff", *STORE_BOT_SETTINGS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        questions = _("When do you ship?\nCan I return it?")
        typed_field(self, "quick_questions", LinesField(rule=QUICK_QUESTIONS, example=questions, separators=PIPE))
        phrases = _("guaranteed\nfull refund")
        typed_field(self, "blocked_phrases", LinesField(rule=BLOCKED_PHRASES, example=phrases, separators=PIPE))
        origins = "https://shop.example.com\nhttps://m.shop.example.com"
        typed_field(self, "allowed_origins", LinesField(rule=ALLOWED_ORIGINS, example=origins, separators=SHORT_ITEMS))
        typed_field(self, "business_hours", WeekHoursField())
        typed_field(self, "theme", ThemeField())


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
        return readonly if is_superuser(request.user) else (*readonly, "staff")

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
        if not is_superuser(request.user):
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
        return is_superuser(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Store | None = None) -> bool:
        return is_superuser(request.user)
