"""Product copy in the back office: the model drafts a title, a description and a promo line for one product,
streamed into the page part by part; staff edit them and save the description into the product (or copy any
part). Nothing is saved without that click.

The jobs go to the engine worker over the channel layer like an agent's draft (recorded nowhere), at the
background priority: shoppers' questions go first. The worker's guard checks prices, discounts, gifts and free
shipping as the text streams; afterwards a sentence naming a material the row does not is dropped
(engine/product_copy.py).
"""

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.exceptions import ApplicationError
from conversations.engine_bridge import engine_application
from engine.embedded import ensure_embedded_worker
from engine.generate import BACKGROUND, AnswerJob, GenerationRequest
from engine.knowledge import ProductFact, StoreSnapshot
from engine.product_copy import (
    COPY_PARTS,
    CopyPart,
    clean_copy,
    clean_title,
    copy_messages,
    copy_reference,
    drop_unbacked_materials,
)
from kb.models import Product
from kb.selectors import store_list_for_user, store_snapshot
from kb.services import product_description_set

logger = logging.getLogger(__name__)

PART_MAX_SECONDS = 120.0
# Silence from the engine this long (no delta, no heartbeat) ends the part with an error.
PART_SILENCE_SECONDS = 60.0


def _product_for(user: Any, product_id: int) -> Product:
    """The product, if it belongs to one of the user's stores (else 404: another store's rows do not exist)."""
    product = Product.objects.filter(pk=product_id, store__in=store_list_for_user(user=user)).first()
    if product is None or not getattr(user, "is_staff", False):
        raise Http404(_("No such product."))
    return product


def _fact(snapshot: StoreSnapshot, product: Product) -> ProductFact:
    """The product as the engine knows it (an inactive product is not in the snapshot: built the same way)."""
    found = next((p for p in snapshot.products if p.id == product.pk), None)
    if found is not None:
        return found
    attributes = tuple(
        (str(k), "、".join(map(str, v)) if isinstance(v, list) else str(v)) for k, v in product.attributes.items()
    )
    return ProductFact(
        id=product.pk,
        sku=product.sku,
        name=product.name,
        price=product.price,
        stock=product.stock,
        description=product.description,
        attributes=attributes,
        size_guide=product.size_guide,
        shipping_note=product.shipping_note,
    )


@staff_member_required
def product_copy_page(request: HttpRequest, product_id: int) -> HttpResponse:
    """GET: the page that streams the three parts. POST: save the (edited) description into the product."""
    product = _product_for(request.user, product_id)
    if request.method == "POST":
        try:
            product_description_set(product=product, description=request.POST.get("description", ""))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(reverse("product-copy", args=[product.pk]))
        messages.success(request, _("The description of %(name)s was saved.") % {"name": product.name})
        return HttpResponseRedirect(reverse("admin:kb_product_change", args=[product.pk]))
    parts = [{"key": p.key, "label": _PART_LABELS[p.key]} for p in COPY_PARTS]
    context = {
        "product": product,
        "parts": parts,
        "stream_url_json": json.dumps(reverse("product-copy-stream", args=[product.pk])),
        "texts": {
            "writing": _("Writing…"),
            "done": _("Done. Edit what you like, then save or copy."),
            "failed": _("The model could not write this part; try again."),
            "dropped": _("Dropped a sentence naming a material the product's data does not name: "),
            "replaced": _("A price or offer the store's data does not back was replaced."),
            "copied": _("Copied."),
        },
        "title": _("Write copy for %(name)s") % {"name": product.name},
        "has_permission": True,
    }
    return render(request, "conversations/product_copy.html", context)


_PART_LABELS = {
    "title": gettext_lazy("Title"),
    "description": gettext_lazy("Description"),
    "promo": gettext_lazy("Promo line"),
}


async def product_copy_stream(request: HttpRequest, product_id: int) -> HttpResponse | StreamingHttpResponse:
    """The three parts as they are written: one JSON object a line (`start`, `delta`, `part`, `done`)."""
    user = await request.auser()
    if not (user.is_authenticated and user.is_staff):
        return HttpResponse(status=403)
    product = await database_sync_to_async(_product_for)(user, product_id)
    snapshot = await database_sync_to_async(store_snapshot)(store=await _store_of(product))
    await ensure_embedded_worker(engine_application)
    fact = _fact(snapshot, product)
    response = StreamingHttpResponse(_frames(snapshot, fact), content_type="application/x-ndjson; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


@database_sync_to_async
def _store_of(product: Product) -> Any:
    return product.store


def _line(frame: dict[str, Any]) -> bytes:
    return (json.dumps(frame, ensure_ascii=False) + "\n").encode()


async def _frames(snapshot: StoreSnapshot, product: ProductFact) -> AsyncIterator[bytes]:
    for index, part in enumerate(COPY_PARTS):
        yield _line({"type": "start", "part": part.key, "index": index, "total": len(COPY_PARTS)})
        text, error, flags = "", "", []
        async for kind, value in _generate(snapshot, product, part):
            if kind == "delta":
                yield _line({"type": "delta", "part": part.key, "text": value})
            else:
                text, error, flags = value["text"], value["error"], list(value.get("flags", []))
        text = clean_copy(text, disclaimer=snapshot.disclaimer)
        text = clean_title(text) if part.key == "title" else text
        text, dropped = drop_unbacked_materials(text, product)
        yield _line(
            {"type": "part", "part": part.key, "text": text, "error": error, "flags": flags, "dropped": dropped}
        )
    yield _line({"type": "done"})


async def _generate(snapshot: StoreSnapshot, product: ProductFact, part: CopyPart) -> AsyncIterator[tuple[str, Any]]:
    layer = get_channel_layer()
    assert layer is not None
    job_id = uuid.uuid4().hex
    group = f"copy.{job_id}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    job = AnswerJob(
        request=GenerationRequest(
            job_id=job_id,
            conversation_key=f"copy:{product.id}:{part.key}",
            messages=copy_messages(store=snapshot, product=product, part=part),
            max_tokens=part.max_tokens,
            max_seconds=PART_MAX_SECONDS,
            prompt_lookup=False,
            priority=BACKGROUND,
        ),
        store_id=snapshot.store_id,
        reference=copy_reference(product),
        draft=True,
    )
    try:
        await layer.send(
            settings.ENGINE_CHANNEL, {"type": "engine.generate", "job": job.to_dict(), "reply_group": group}
        )
        while True:
            try:
                event = await asyncio.wait_for(layer.receive(channel), timeout=PART_SILENCE_SECONDS)
            except TimeoutError:
                logger.warning("product copy job %s: no word from the engine", job_id)
                yield "final", {"text": "", "error": "engine_error"}
                return
            if event.get("job_id") != job_id:
                continue
            if event["type"] == "conversation.delta":
                yield "delta", event["text"]
            elif event["type"] == "conversation.final":
                yield "final", event["draft"]
                return
    finally:
        await layer.group_discard(group, channel)
