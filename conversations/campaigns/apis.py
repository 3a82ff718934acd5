"""Shop events in: a Standard Webhooks endpoint (signed with the store's secret) and a token-authenticated API."""

import json
import logging
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.exceptions import ApplicationError
from conversations.campaigns.events import EVENT_SHAPES, MAX_BODY_BYTES, EventError, event_parse
from conversations.campaigns.services import reminder_settings_for, shop_event_ingest
from conversations.campaigns.signing import SignatureError, verify
from kb.apis import IsStoreStaff
from kb.selectors import store_get_by_slug, store_list_for_user

logger = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"message": message, "extra": {"code": code, **extra}}, status=status)


@method_decorator(csrf_exempt, name="dispatch")
class ShopWebhookView(View):
    """POST /api/shops/<store>/webhooks/: one shop event, signed the Standard Webhooks way.

    The raw body is verified before it is parsed; a replayed `webhook-id` is answered 200 and not applied.
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest, store: str) -> JsonResponse:
        found = store_get_by_slug(slug=store)
        if found is None:
            return _error(404, "store_unknown", f"Unknown store {store!r}.")
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            return _error(400, "body_invalid", "body: the Content-Length header is not a number.", field="body")
        # Refused before reading, so an oversized body is never buffered.
        if length > MAX_BODY_BYTES:
            return _error(400, "body_too_large", f"body: larger than {MAX_BODY_BYTES} bytes.", field="body")
        body = request.body
        if len(body) > MAX_BODY_BYTES:
            return _error(400, "body_too_large", f"body: larger than {MAX_BODY_BYTES} bytes.", field="body")
        now = timezone.now()
        settings_row = reminder_settings_for(store=found)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verified = verify(secret=settings_row.webhook_secret, headers=headers, body=body, now=now)
        except SignatureError as exc:
            logger.info("store %s: webhook refused (%s)", found.slug, exc.code)
            return _error(401, exc.code, exc.message)
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return _error(400, "body_invalid", f"body: not valid UTF-8 JSON ({exc}).", field="body")
        try:
            event = event_parse(payload)
        except EventError as exc:
            return _error(400, "event_invalid", str(exc), field=exc.field)
        result = shop_event_ingest(store=found, event=event, now=now, webhook_id=verified.msg_id)
        return JsonResponse({"duplicate": result.duplicate, "applied": result.applied})


class ShopEventApi(APIView):
    """One shop event (a cart, an order, a customer) for a store you work for; the same shapes as the webhook."""

    permission_classes = [IsStoreStaff]
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer[Any]):
        type = serializers.ChoiceField(choices=sorted(EVENT_SHAPES))
        data = serializers.DictField(help_text="The cart, order or customer (see the README).")  # type: ignore[assignment]
        timestamp = serializers.DateTimeField(required=False)

        class Meta:
            ref_name = "ShopEvent"

    class OutputSerializer(serializers.Serializer[Any]):
        applied = serializers.BooleanField(help_text="False when the event was older than what is stored.")
        duplicate = serializers.BooleanField()

        class Meta:
            ref_name = "ShopEventResult"

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 400: OpenApiResponse(description="Names the bad field."), 404: None},
    )
    def post(self, request: Request, store: str) -> Response:
        found = store_list_for_user(user=request.user).filter(slug=store).first()
        if found is None:
            raise NotFound(f"You have no store {store!r}.")
        if len(request.body) > MAX_BODY_BYTES:
            raise ApplicationError(f"body: larger than {MAX_BODY_BYTES} bytes.", extra={"field": "body"})
        try:
            event = event_parse(request.data)
        except EventError as exc:
            raise ApplicationError(str(exc), extra={"field": exc.field}) from None
        result = shop_event_ingest(store=found, event=event, now=timezone.now())
        return Response(self.OutputSerializer({"applied": result.applied, "duplicate": result.duplicate}).data)
