"""The shopper's chat session: who they are, their open conversation, feedback, rating, ending it."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from conversations.models import CSAT, Conversation, Message, Visitor
from conversations.services.handoff import conversation_close
from kb.models import Product, Store
from kb.selectors import store_get_by_slug
from kb.validation import text_clean
from kb.widget import store_origin_allowed

# How long after it ended a chat is still shown to a shopper who reloads the page.
CLOSED_CHAT_KEPT = timedelta(days=1)


def visitor_create(*, store: Store, customer_id: str = "") -> Visitor:
    return Visitor.objects.create(store=store, customer_id=customer_id)


def conversation_start(*, store: Store, visitor: Visitor) -> Conversation:
    if visitor.store_id != store.pk:
        raise ApplicationError("This visitor belongs to another store.")
    return Conversation.objects.create(store=store, visitor=visitor)


def conversation_view_product(*, conversation: Conversation, sku: str) -> bool:
    """Remember the product page the shopper is on; an SKU the store does not sell clears it.

    Returns whether the conversation now has a product in view.
    """
    sku = (sku or "").strip()[:64]
    if sku and not Product.objects.filter(store_id=conversation.store_id, sku=sku).exists():
        sku = ""
    conversation.refresh_from_db(fields=["product_sku", "product_viewed_at"])  # another tab may have moved it
    if sku != conversation.product_sku:
        conversation.product_sku = sku
        conversation.product_viewed_at = timezone.now()
        conversation.save(update_fields=["product_sku", "product_viewed_at", "updated_at"])
    return bool(sku)


def chat_session_open(
    *, store: Store, visitor_token: str = "", conversation_id: int | None = None
) -> tuple[Visitor, Conversation]:
    """The visitor (new when the token is unknown) and their open conversation (new when none)."""
    visitor = Visitor.objects.filter(store=store, token=visitor_token).first() if visitor_token else None
    if visitor is None:
        visitor = visitor_create(store=store)
    visitor.last_seen_at = timezone.now()
    visitor.save(update_fields=["last_seen_at", "updated_at"])
    open_conversations = visitor.conversations.exclude(status=Conversation.Status.CLOSED).order_by("-created_at")
    conversation = None
    if conversation_id is not None:
        conversation = open_conversations.filter(pk=conversation_id).first()
        if conversation is None:
            # A chat that ended lately comes back as it ended (its last messages, the rating prompt, "start a
            # new chat") when the page reloads, instead of an empty chat.
            conversation = visitor.conversations.filter(
                pk=conversation_id,
                status=Conversation.Status.CLOSED,
                closed_at__gte=timezone.now() - CLOSED_CHAT_KEPT,
            ).first()
    conversation = conversation or open_conversations.first() or conversation_start(store=store, visitor=visitor)
    return visitor, conversation


def visitor_verify(*, store: Store, customer_id: str, signature: str) -> bool:
    """Whether `signature` is the hex HMAC-SHA256 of `customer_id` under the store's widget secret."""
    if not customer_id or not signature or len(customer_id) > 128:
        return False
    expected = hmac.new(store.widget_secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


@dataclass(frozen=True)
class WidgetSession:
    store: Store
    visitor: Visitor
    conversation: Conversation
    verified: bool
    identity_refused: bool  # a customer id came with a signature that does not match


def widget_connect(
    *,
    store_slug: str,
    origin: str,
    host: str,
    visitor_token: str = "",
    customer_id: str = "",
    signature: str = "",
    conversation_id: int | None = None,
) -> WidgetSession:
    """A widget's websocket connects: the store must exist and the page must be one of the store's."""
    store = store_get_by_slug(slug=store_slug)
    if store is None:
        raise ApplicationError(f"Unknown store {store_slug!r}.")
    if not store_origin_allowed(store=store, origin=origin, host=host):
        raise PermissionError(origin)
    return widget_session_open(
        store=store,
        visitor_token=visitor_token,
        customer_id=customer_id,
        signature=signature,
        conversation_id=conversation_id,
    )


def widget_session_open(
    *,
    store: Store,
    visitor_token: str = "",
    customer_id: str = "",
    signature: str = "",
    conversation_id: int | None = None,
) -> WidgetSession:
    """Open the widget's chat: a verified customer by (store, customer id), else an anonymous visitor.

    An anonymous token never opens a verified customer's visitor, so a stolen or left-over token
    does not reveal a signed-in customer's history; a bad signature falls back to anonymous.
    """
    verified = visitor_verify(store=store, customer_id=customer_id, signature=signature)
    if verified:
        visitor = Visitor.objects.filter(store=store, customer_id=customer_id).first()
        if visitor is None:
            try:
                with transaction.atomic():
                    visitor = visitor_create(store=store, customer_id=customer_id)
            except IntegrityError:
                visitor = Visitor.objects.get(store=store, customer_id=customer_id)
        token = visitor.token
    else:
        anonymous = Visitor.objects.filter(store=store, token=visitor_token, customer_id="").exists()
        token = visitor_token if visitor_token and anonymous else ""
    visitor, conversation = chat_session_open(store=store, visitor_token=token, conversation_id=conversation_id)
    return WidgetSession(
        store=store,
        visitor=visitor,
        conversation=conversation,
        verified=verified,
        identity_refused=bool(customer_id) and not verified,
    )


def message_feedback_set(*, conversation: Conversation, message_id: int, value: str, comment: str = "") -> Message:
    """Thumbs up or down on one of the bot's answers in this conversation; a later vote replaces it."""
    if value not in Message.Feedback.values:
        raise ApplicationError(_('Feedback is "up" or "down".'))
    if len(comment) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ApplicationError(
            _("The comment is too long (at most %(max)s characters).") % {"max": settings.CHAT_MAX_MESSAGE_CHARS}
        )
    message = conversation.messages.filter(pk=message_id, role=Message.Role.BOT).first()
    if message is None:
        raise ApplicationError(_("Only the bot's answers in this conversation can be rated."))
    message.feedback = value
    message.feedback_comment = text_clean(comment).strip()
    message.save(update_fields=["feedback", "feedback_comment", "updated_at"])
    return message


def csat_submit(*, conversation: Conversation, score: Any, comment: str = "") -> CSAT:
    """The shopper's 1-5 satisfaction rating; one per conversation."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ApplicationError(_("The rating is a whole number from 1 to 5."))
    if len(comment) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ApplicationError(
            _("The comment is too long (at most %(max)s characters).") % {"max": settings.CHAT_MAX_MESSAGE_CHARS}
        )
    try:
        with transaction.atomic():
            return CSAT.objects.create(conversation=conversation, score=score, comment=text_clean(comment).strip())
    except IntegrityError:
        raise ApplicationError(_("This conversation has already been rated.")) from None


def conversation_close_by_shopper(*, conversation: Conversation) -> Conversation:
    """The shopper ended the chat, with the outcome its log gives (`conversation_ending`)."""
    return conversation_close(conversation=conversation)
