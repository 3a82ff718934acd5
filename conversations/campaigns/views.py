"""The reminder's restore link (counts the click, opens the cart or order) and the demo shop's cart button."""

import json

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.exceptions import ApplicationError
from conversations.campaigns.reminders import RESTORE_SALT
from conversations.campaigns.services import demo_cart_add, reminder_click_record
from conversations.views import DEMO_STORE
from kb.selectors import store_get_by_slug

RESTORE_LINK_MAX_AGE = 30 * 24 * 3600  # seconds


@require_GET
def reminder_restore(request: HttpRequest, token: str) -> HttpResponseRedirect:
    try:
        data = signing.loads(token, salt=RESTORE_SALT, max_age=RESTORE_LINK_MAX_AGE)
    except signing.BadSignature:
        raise Http404("This link is not valid (any more).") from None
    target = reminder_click_record(message_id=int(data["m"]), now=timezone.now())
    if target is None:
        raise Http404("This reminder no longer exists.")
    return HttpResponseRedirect(target)


@require_POST
def demo_cart(request: HttpRequest) -> JsonResponse:
    """POST /demo/cart/ `{"visitor", "sku", "quantity"}` from the demo page: records the chat visitor's cart."""
    store = store_get_by_slug(slug=DEMO_STORE)
    if store is None:
        raise Http404("The demo store is not loaded.")
    try:
        data = json.loads(request.body or b"{}")
        visitor, sku, quantity = (
            str(data.get("visitor") or ""),
            str(data.get("sku") or ""),
            int(data.get("quantity", 1)),
        )
    except (ValueError, TypeError, AttributeError):
        return JsonResponse({"message": "body: expected {visitor, sku, quantity}."}, status=400)
    try:
        cart = demo_cart_add(store=store, visitor_token=visitor, sku=sku, quantity=quantity, now=timezone.now())
    except ApplicationError as exc:
        return JsonResponse({"message": exc.message}, status=400)
    return JsonResponse({"cart": cart.external_id, "items": sum(i.quantity for i in cart.items.all())})
