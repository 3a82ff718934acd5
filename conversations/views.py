"""The shopper-facing pages: the full-page chat, the widget's public settings, and the demo shop."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from conversations.console_texts import console_texts
from conversations.services.agents import tickets_close_stale
from kb.models import Product, Store
from kb.selectors import store_get_by_slug, store_list_for_user
from kb.widget import store_origin_allowed, store_widget_config

DEMO_STORE = "demo"
DEMO_SKU = "TS-001"


def _store_or_404(slug: str) -> Store:
    store = store_get_by_slug(slug=slug)
    if store is None:
        raise Http404(_("No such store."))
    return store


@require_GET
def chat_page(request: HttpRequest, store: str) -> HttpResponse:
    shop = _store_or_404(store)
    config = {**store_widget_config(store=shop), "origin_allowed": True}
    context = {"store": shop, "config": config, "config_id": f"shopdesk-config-{shop.slug}"}
    return render(request, "conversations/chat_page.html", context)


@require_GET
def chat_config(request: HttpRequest, store: str) -> JsonResponse:
    """The widget's settings for any page; `origin_allowed` tells it whether its page may chat at all."""
    shop = _store_or_404(store)
    origin = request.headers.get("Origin") or ""
    allowed = not origin or store_origin_allowed(store=shop, origin=origin, host=request.get_host())
    response = JsonResponse({**store_widget_config(store=shop), "origin_allowed": allowed})
    # Public settings, read by the shops' own pages: any origin may read them; the websocket checks origins.
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=60"
    response["Vary"] = "Origin"
    return response


@require_GET
def demo_shop(request: HttpRequest) -> HttpResponse:
    """The demo store's T-shirt page with the widget on it: what `make run` shows at /. `?sku=` shows another
    product (the widget is told which, as a shop's product page would)."""
    store = store_get_by_slug(slug=DEMO_STORE)
    product = None
    others: list[Product] = []
    if store is not None:
        products = Product.objects.filter(store=store, is_active=True)
        sku = request.GET.get("sku", DEMO_SKU)[:64]
        product = products.filter(sku=sku).first() or products.filter(sku=DEMO_SKU).first() or products.first()
        others = [p for p in products.order_by("sku") if product is None or p.pk != product.pk]
    config = {**store_widget_config(store=store), "origin_allowed": True} if store is not None else None
    attributes = [
        (key, value if isinstance(value, list) else [value])
        for key, value in (product.attributes.items() if product and isinstance(product.attributes, dict) else [])
    ]
    context = {
        "store": store,
        "product": product,
        "others": others,
        "attributes": attributes,
        "config": config,
        "config_id": f"shopdesk-config-{DEMO_STORE}",
    }
    return render(request, "demo_shop.html", context)


@require_GET
@login_required(login_url="admin:login")
def agent_console(request: HttpRequest) -> HttpResponse:
    """The live console where store staff take over chats; only their own stores' tickets reach it."""
    stores = list(store_list_for_user(user=request.user))
    if not stores:
        return render(request, "conversations/agent_forbidden.html", status=403)
    config = {
        "ws_path": "/ws/agent/",
        "username": request.user.get_username(),
        "stores": [{"slug": store.slug, "name": store.name} for store in stores],
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "strings": console_texts(),
        "stale_hours": settings.CHAT_TICKET_STALE_HOURS,
        "close_stale_url": reverse("agent-close-stale"),
    }
    context = {
        "agent": request.user,
        "stores": stores,
        "console_config": config,
        "logout_url": reverse("admin:logout"),
    }
    return render(request, "conversations/agent_console.html", context)


@require_POST
@login_required(login_url="admin:login")
def agent_close_stale(request: HttpRequest) -> JsonResponse:
    """The console's 关闭超时工单: ends the chats of tickets of the agent's stores (or the one `store`) that
    nobody claimed for CHAT_TICKET_STALE_HOURS. Consoles see the tickets go over their websocket."""
    stores = store_list_for_user(user=request.user)
    slug = request.POST.get("store") or ""
    if slug:
        stores = stores.filter(slug=slug)
    if not stores.exists():
        return JsonResponse({"error": _("No such store.")}, status=404)
    return JsonResponse({"closed": tickets_close_stale(stores=stores)})
