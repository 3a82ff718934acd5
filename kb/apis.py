from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsStoreStaff(BasePermission):
    """Staff of at least one store (or a superuser); per-object scoping is in the querysets."""

    message = "Staff login required."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)
