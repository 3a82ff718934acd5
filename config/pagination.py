"""How every API list is paged: `?limit=` and `?offset=`, bounded, and a 400 for a value that is not one."""

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

# A database row offset is a signed 64-bit integer; SQLite answers a bigger one with an error.
_MAX_OFFSET = 2**63 - 1


def _whole_number(request: Request, name: str, *, low: int, high: int, hint: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = raw.strip()
    # isdecimal() alone lets through digits of other scripts ("١٢"); int() would take "+1" and "1_0".
    if not (value.isascii() and value.isdecimal()) or len(value) > 19 or not low <= int(value) <= high:
        raise ValidationError({name: f"{name} must be a whole number from {low} to {hint}; got {raw[:40]!r}."})
    return int(value)


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset paging, with API_MAX_PAGE_SIZE as the largest page and bad values refused.

    DRF's own class quietly falls back to the default for a value it cannot read and passes a huge
    one to the database, which SQLite refuses with a server error.
    """

    @property
    def max_limit(self) -> int:  # type: ignore[override]
        return int(settings.API_MAX_PAGE_SIZE)

    def get_limit(self, request: Request) -> int | None:
        limit = _whole_number(request, self.limit_query_param, low=1, high=self.max_limit, hint=str(self.max_limit))
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Request) -> int:
        offset = _whole_number(request, self.offset_query_param, low=0, high=_MAX_OFFSET, hint="2^63-1")
        return offset or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_limit}
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 0}
        return parameters
