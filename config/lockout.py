"""The page a back-office sign-in gets while its address is locked out (django-axes)."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def login_locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """429 Too Many Requests, with how long the lockout lasts, in the page's language."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return render(
        request,
        "admin/login_locked_out.html",
        {"minutes": minutes, "failures": settings.AXES_FAILURE_LIMIT, "title": "Locked out"},
        status=429,
    )
