"""Reviews in, replies out: a review is upserted from its event, a reply drafted (the model's, if it passes the
checks in engine/review_reply.py, else the store's template), a person approves or rejects it, and an approved
reply leaves through the outbox as a signed webhook. Nothing to a review of 3 stars or fewer is sent without a
person; 4-5 stars may get the store's thank-you automatically when the store turns it on.
"""

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from conversations.campaigns.events import ShopEvent
from conversations.campaigns.models import (
    Order,
    OutboxMessage,
    ReminderSettings,
    Review,
    ReviewReply,
    ShopCustomer,
)
from conversations.campaigns.reminders import customer_visitor
from conversations.models import HandoffTicket, Message
from conversations.services.handoff import conversation_hand_off
from conversations.services.widget import conversation_start, visitor_create
from engine.generate import BACKGROUND, AnswerJob, AnswerResult, GenerationRequest
from engine.knowledge import StoreSnapshot
from engine.review_reply import (
    MAX_REPLY_CHARS,
    ReviewForReply,
    draft_from_model,
    reply_action,
    reply_messages,
    review_band,
    review_needs_draft,
    template_reply,
)
from engine.service import get_scheduler
from engine.worker import answer_blocking
from kb.models import Store
from kb.selectors import store_snapshot
from kb.validation import text_clean

logger = logging.getLogger(__name__)

# The model writes one sentence (at most 60 characters, about as many tokens); nobody watches it stream, so
# it may take its time behind the chats.
REPLY_MAX_TOKENS = 64
REPLY_MAX_SECONDS = 120.0
TICKET_REVIEW_CHARS = 1000

# How a draft is written: the real engine (`model_writer`), or a stand-in in tests.
Writer = Callable[[AnswerJob, StoreSnapshot], AnswerResult]


def model_writer(job: AnswerJob, snapshot: StoreSnapshot) -> AnswerResult:
    """This process's engine writes the draft, guarded like an answer (a Celery worker loads its own model)."""
    try:
        return answer_blocking(job=job, snapshot=snapshot, started=time.monotonic()).result
    except BaseException:
        get_scheduler().cancel(job.job_id)  # out of time (the task's limit): free the engine for the next one
        raise


def review_upsert(*, store: Store, event: ShopEvent, now: datetime, customer: ShopCustomer | None) -> Review | None:
    """Insert or update a review by the shop's id; None when the stored one is as new (nothing changed)."""
    data = event.data
    review = Review.objects.select_for_update().filter(store=store, external_id=data["id"]).first()
    version = data.get("version", 0)
    if review is not None and (version <= review.version or event.type == "review.created"):
        return None
    order_ref = data.get("order_id") or ""
    values: dict[str, Any] = {
        "version": version,
        "rating": data["rating"],
        "text": text_clean(data.get("text") or ""),
        "sku": data.get("sku") or "",
        "order_ref": order_ref,
        "order": Order.objects.filter(store=store, external_id=order_ref).first() if order_ref else None,
        "reviewed_at": data.get("created_at") or event.occurred_at or now,
        "needs_reply": review_needs_draft(rating=data["rating"], text=data.get("text") or ""),
    }
    if customer is not None:
        values["customer"] = customer
    elif values["order"] is not None and values["order"].customer_id:
        values["customer"] = values["order"].customer
    if review is None:
        review = Review.objects.create(store=store, external_id=data["id"], **values)
    else:
        for key, value in values.items():
            setattr(review, key, value)
        review.save()
        # A changed review gets a fresh draft, unless a person has already decided on the reply.
        ReviewReply.objects.filter(review=review, status=ReviewReply.Status.DRAFT).delete()
    transaction.on_commit(lambda: _enqueue_draft(review.pk))
    return review


def _enqueue_draft(review_id: int) -> None:
    from conversations.campaigns.tasks import review_draft_task  # the tasks module imports this one

    review_draft_task.delay(review_id)


def _for_reply(review: Review, snapshot: StoreSnapshot) -> ReviewForReply:
    product = next((p.name for p in snapshot.products if p.sku == review.sku), "") if review.sku else ""
    return ReviewForReply(rating=review.rating, text=review.text, product=product, order=review.order_ref)


def review_job(*, review: Review, snapshot: StoreSnapshot) -> AnswerJob:
    """The engine job for a review's reply: low priority, so shoppers waiting in a chat come first."""
    messages = reply_messages(store=snapshot, review=_for_reply(review, snapshot))
    request = GenerationRequest(
        job_id=uuid.uuid4().hex,
        conversation_key=f"review:{review.pk}",
        messages=messages,
        max_tokens=REPLY_MAX_TOKENS,
        max_seconds=REPLY_MAX_SECONDS,
        prompt_lookup=False,
        priority=BACKGROUND,
    )
    return AnswerJob(request=request, store_id=snapshot.store_id)


@dataclass(frozen=True)
class DraftOutcome:
    reply: ReviewReply | None  # None: the review needs no reply (4-5 stars, no complaint, no thank-you)
    created: bool


def review_reply_draft(*, review_id: int, now: datetime | None = None, writer: Writer = model_writer) -> DraftOutcome:
    """Draft the reply to a review once (idempotent); open a ticket for 1-2 stars so a person follows up."""
    review = Review.objects.select_related("store", "customer").get(pk=review_id)
    existing = ReviewReply.objects.filter(review=review).first()
    if existing is not None:
        return DraftOutcome(reply=existing, created=False)
    settings_row, _created = ReminderSettings.objects.get_or_create(store=review.store)
    actions = tuple(a.strip() for a in settings_row.review_actions if isinstance(a, str) and a.strip())
    channel = settings_row.review_channel.strip()
    if not review_needs_draft(rating=review.rating, text=review.text):
        if not settings_row.review_auto_thank_you:
            return DraftOutcome(reply=None, created=False)
        return _thank_you(review=review, text=settings_row.review_thank_you, now=now or timezone.now())
    snapshot = store_snapshot(store=review.store)
    action = reply_action(review.text, actions)
    template = (
        settings_row.review_template_low if review_band(review.rating) == "low" else settings_row.review_template_mid
    )
    fallback = template_reply(template, action=action, channel=channel)[:MAX_REPLY_CHARS]
    # The model runs outside any transaction: a draft takes seconds, and nothing is locked meanwhile.
    job = review_job(review=review, snapshot=snapshot)
    try:
        result = writer(job, snapshot)
    except Exception:
        logger.exception("review %s: the engine failed; the store's template is the draft", review.pk)
        result = AnswerResult(text="", source="template", error="engine_error")
    model_text = result.text.strip()
    draft, problems = draft_from_model(
        model_text, store=snapshot, review=_for_reply(review, snapshot), action=action, channel=channel, actions=actions
    )
    if result.error or result.source != "llm":
        problems = [*problems, "engine" if result.error else "guard"]
    elif result.partial or {"time", "length"} & set(result.flags):
        problems = [*problems, "cut_short"]  # the sentence may have stopped mid-way
    source = ReviewReply.Source.TEMPLATE if problems else ReviewReply.Source.MODEL
    try:
        with transaction.atomic():
            ticket = _ticket_open(review=review) if review.rating <= 2 else None
            reply = ReviewReply.objects.create(
                review=review,
                store=review.store,
                source=source,
                draft=fallback if problems else draft,
                model_text=model_text,
                problems=problems,
                action=action[:100],
                drafted_at=now or timezone.now(),
                ticket=ticket,
            )
    except IntegrityError:
        # Another worker drafted it meanwhile (its ticket stands; this one's was rolled back).
        return DraftOutcome(reply=ReviewReply.objects.get(review=review), created=False)
    logger.info("review %s: reply drafted by %s (problems: %s)", review.pk, source, ",".join(problems) or "none")
    return DraftOutcome(reply=reply, created=True)


def _thank_you(*, review: Review, text: str, now: datetime) -> DraftOutcome:
    """The store's thank-you to a 4-5 star review, sent without a person (the store turned it on)."""
    with transaction.atomic():
        reply, created = ReviewReply.objects.get_or_create(
            review=review,
            defaults={
                "store": review.store,
                "source": ReviewReply.Source.THANK_YOU,
                "draft": text,
                "text": text,
                "status": ReviewReply.Status.APPROVED,
                "drafted_at": now,
                "decided_at": now,
            },
        )
        if created:
            _outbox_write(reply=reply, now=now)
    return DraftOutcome(reply=reply, created=created)


def _ticket_open(*, review: Review) -> HandoffTicket:
    """A conversation for the reviewer (their chat visitor when the shop told us who they are) with the review
    and its order as a system note, handed off so a person follows up."""
    visitor = customer_visitor(customer=review.customer) if review.customer else None
    if visitor is None:
        visitor = visitor_create(store=review.store)
    conversation = conversation_start(store=review.store, visitor=visitor)
    text = review.text if len(review.text) <= TICKET_REVIEW_CHARS else review.text[:TICKET_REVIEW_CHARS] + "……"
    order = review.order
    if order is None and review.order_ref:  # the order may have arrived after the review
        order = Order.objects.filter(store=review.store, external_id=review.order_ref).first()
    context = [_("%(stars)s-star review %(id)s") % {"stars": review.rating, "id": review.external_id}]
    if review.order_ref:
        context.append(_("order %(order)s") % {"order": review.order_ref})
    if order is not None:
        context.append(_("total %(total)s, %(status)s") % {"total": order.total, "status": order.get_status_display()})
    if review.sku:
        context.append(_("product %(sku)s") % {"sku": review.sku})
    Message.objects.create(conversation=conversation, role=Message.Role.SYSTEM, text=f"{' · '.join(context)}\n{text}")
    return conversation_hand_off(conversation=conversation, reason=HandoffTicket.Reason.BAD_REVIEW)


def _outbox_write(*, reply: ReviewReply, now: datetime) -> OutboxMessage:
    message, _created = OutboxMessage.objects.get_or_create(
        idempotency_key=f"review:{reply.review_id}:reply",
        channel=OutboxMessage.Channel.WEBHOOK,
        defaults={
            "store": reply.store,
            "review_reply": reply,
            "step": 0,
            "text": reply.text,
            "next_attempt_at": now,
        },
    )
    transaction.on_commit(_enqueue_relay)
    return message


def _enqueue_relay() -> None:
    from conversations.campaigns.tasks import outbox_relay_task

    outbox_relay_task.delay()


def review_reply_approve(
    *, reply_id: int, user: AbstractBaseUser, text: str | None = None, now: datetime | None = None
) -> ReviewReply:
    """Approve a draft as it is or as edited (`text`); record who and when; queue the signed webhook."""
    now = now or timezone.now()
    with transaction.atomic():
        reply = ReviewReply.objects.select_for_update().select_related("review").get(pk=reply_id)
        if reply.status != ReviewReply.Status.DRAFT:
            raise ApplicationError(_("This reply was already %(status)s.") % {"status": reply.get_status_display()})
        final = text_clean(reply.draft if text is None else text).strip()
        if not final:
            raise ApplicationError(_("The reply is empty."))
        if len(final) > MAX_REPLY_CHARS:
            raise ApplicationError(
                _("The reply is too long (%(count)s characters, at most %(max)s).")
                % {"count": len(final), "max": MAX_REPLY_CHARS}
            )
        reply.text = final
        reply.edited = final != reply.draft.strip()
        reply.status = ReviewReply.Status.APPROVED
        reply.decided_at = now
        reply.decided_by = user  # type: ignore[assignment]
        reply.save(update_fields=["text", "edited", "status", "decided_at", "decided_by", "updated_at"])
        _outbox_write(reply=reply, now=now)
    logger.info("review reply %s approved by %s (edited: %s)", reply.pk, user.pk, reply.edited)
    return reply


def review_reply_reject(*, reply_id: int, user: AbstractBaseUser, now: datetime | None = None) -> ReviewReply:
    """Reject a draft: nothing is sent; who and when are recorded."""
    with transaction.atomic():
        reply = ReviewReply.objects.select_for_update().get(pk=reply_id)
        if reply.status != ReviewReply.Status.DRAFT:
            raise ApplicationError(_("This reply was already %(status)s.") % {"status": reply.get_status_display()})
        reply.status = ReviewReply.Status.REJECTED
        reply.decided_at = now or timezone.now()
        reply.decided_by = user  # type: ignore[assignment]
        reply.save(update_fields=["status", "decided_at", "decided_by", "updated_at"])
    return reply


def reviews_awaiting_draft(*, since: datetime, until: datetime, limit: int = 20) -> list[int]:
    """Reviews with no reply yet (a lost task, a worker that was down): the sweep drafts them."""
    rows = Review.objects.filter(needs_reply=True, reply__isnull=True, created_at__gte=since, created_at__lt=until)
    return list(rows.order_by("created_at").values_list("pk", flat=True)[:limit])
