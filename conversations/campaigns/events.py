"""The shop events we take in, as typed data: their shapes and the checks that name the bad field."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from rest_framework import serializers

MAX_BODY_BYTES = 256 * 1024
MAX_ITEMS = 200
MAX_REVIEW_CHARS = 20_000


class EventError(Exception):
    """A malformed event; `field` names where (e.g. `data.items[0].quantity`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CustomerIn(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=128)
    version = serializers.IntegerField(min_value=0, required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    visitor = serializers.CharField(max_length=64, required=False, allow_blank=True, help_text="Widget visitor token.")
    customer_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    consent = serializers.BooleanField(required=False)
    unsubscribed = serializers.BooleanField(required=False)


class ItemIn(serializers.Serializer[Any]):
    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal(0), required=False)


class CartIn(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=128)
    version = serializers.IntegerField(min_value=0)
    customer = CustomerIn(required=False)
    items = ItemIn(many=True, required=False, max_length=MAX_ITEMS)  # type: ignore[call-arg]
    changed_at = serializers.DateTimeField(required=False)
    restore_url = serializers.URLField(required=False, allow_blank=True)


class OrderIn(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=128)
    version = serializers.IntegerField(min_value=0)
    customer = CustomerIn(required=False)
    cart_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), required=False)
    items = ItemIn(many=True, required=False, max_length=MAX_ITEMS)  # type: ignore[call-arg]
    placed_at = serializers.DateTimeField(required=False)
    paid_at = serializers.DateTimeField(required=False)
    pay_url = serializers.URLField(required=False, allow_blank=True)


class ReviewIn(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=128)
    version = serializers.IntegerField(min_value=0, required=False)
    customer = CustomerIn(required=False)
    order_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    sku = serializers.CharField(max_length=64, required=False, allow_blank=True)
    rating = serializers.IntegerField(min_value=1, max_value=5)
    text = serializers.CharField(max_length=MAX_REVIEW_CHARS, required=False, allow_blank=True, trim_whitespace=False)
    created_at = serializers.DateTimeField(required=False)


EVENT_SHAPES: dict[str, type[serializers.Serializer[Any]]] = {
    "customer.updated": CustomerIn,
    "cart.created": CartIn,
    "cart.updated": CartIn,
    "cart.emptied": CartIn,
    "order.created": OrderIn,
    "order.paid": OrderIn,
    "order.cancelled": OrderIn,
    "review.created": ReviewIn,
    "review.updated": ReviewIn,
}


@dataclass(frozen=True)
class ShopEvent:
    type: str
    data: dict[str, Any]
    occurred_at: datetime | None = None


def _first_error(detail: Any, path: str) -> tuple[str, str]:
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        if key == "non_field_errors":
            return _first_error(value, path)
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            return _first_error(value, f"{path}[{key}]")
        return _first_error(value, f"{path}.{key}")
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)) and value:
                inner_path = f"{path}[{index}]" if isinstance(value, dict) else path
                return _first_error(value, inner_path)
            if value and not isinstance(value, (dict, list)):
                return path, str(value)
    return path, str(detail)


def event_parse(payload: Any) -> ShopEvent:
    """Check a decoded event `{"type": ..., "data": {...}, "timestamp": ...}`; raise `EventError` naming the field."""
    if not isinstance(payload, dict):
        raise EventError("body", "expected a JSON object")
    unknown = sorted(set(payload) - {"type", "data", "timestamp"})
    if unknown:
        raise EventError(unknown[0], "unknown field")
    event_type = payload.get("type")
    if not isinstance(event_type, str) or event_type not in EVENT_SHAPES:
        raise EventError("type", f"expected one of {', '.join(sorted(EVENT_SHAPES))}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise EventError("data", "expected a JSON object")
    shape = EVENT_SHAPES[event_type](data=data)
    if not shape.is_valid():
        field, message = _first_error(shape.errors, "data")
        raise EventError(field, message)
    occurred_at = None
    if payload.get("timestamp") is not None:
        stamp = serializers.DateTimeField()
        try:
            occurred_at = stamp.to_internal_value(payload["timestamp"])
        except serializers.ValidationError as exc:
            raise EventError("timestamp", _first_error(exc.detail, "timestamp")[1]) from None
    return ShopEvent(type=event_type, data=dict(shape.validated_data), occurred_at=occurred_at)
