"""Live pushes to the chat widget and the agent console, and the frames they carry.

Services call these after they change a conversation; the push is sent once the transaction commits,
so nobody is told about a row that was rolled back. The channel layer only pushes (at most once):
both websockets re-read the database when they (re)connect.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from conversations.models import Conversation, HandoffTicket, Message
from kb.models import Product
from kb.widget import store_widget_config

logger = logging.getLogger(__name__)


def conversation_group(conversation_id: int) -> str:
    """Every widget tab of the conversation and every agent console watching it."""
    return f"conversation.{conversation_id}"


def store_agents_group(store_id: int) -> str:
    """Every agent console of a store's staff."""
    return f"agents.store.{store_id}"


def agent_display_name(user: Any) -> str:
    """The agent as shoppers see them: their first name, or nothing (never the login name)."""
    if user is None:
        return ""
    return str(user.first_name or "").strip()


def message_frame(message: Message) -> dict[str, Any]:
    """A recorded message as the widget and the console show it."""
    return {
        "id": message.pk,
        "role": message.role,
        "text": message.text,
        "source": message.source,
        "partial": message.partial,
        "client_id": message.client_id if message.role == Message.Role.CUSTOMER else None,
        "created_at": message.created_at.isoformat(),
        # The job that streamed a bot answer: a widget that missed its final frame matches it up.
        "job": message.job_id if message.role == Message.Role.BOT else None,
        "feedback": message.feedback,
        "agent_name": agent_display_name(message.agent) if message.agent_id else "",
    }


def agent_message_frame(message: Message) -> dict[str, Any]:
    """A message as the agent console shows it: also who of the staff wrote it."""
    return {**message_frame(message), "agent": message.agent.get_username() if message.agent else None}


def final_frame(
    message: Message,
    *,
    job_id: str,
    answer_to: int | None,
    handoff: bool = False,
    error: str = "",
    evaluated_tokens: int | None = None,
) -> dict[str, Any]:
    """The last frame of every answer the widget sees streaming (model, FAQ, template, handoff, lost job)."""
    return {
        "type": "final",
        "job": job_id,
        "answer_to": answer_to,
        "message_id": message.pk,
        "text": message.text,
        "source": message.source,
        "partial": message.partial,
        "flags": message.flags,
        "handoff": handoff,
        "status": Conversation.Status.WAITING.value if handoff else None,
        "error": error,
        "ttft_ms": message.ttft_ms,
        "total_ms": message.total_ms,
        "prompt_tokens": message.prompt_tokens,
        "evaluated_tokens": evaluated_tokens,
        "completion_tokens": message.completion_tokens,
    }


def widget_hello_frame(
    *, conversation: Conversation, visitor_token: str, verified: bool, messages: list[Message], waiting: dict[str, Any]
) -> dict[str, Any]:
    """The first frame a widget gets: who it is, the conversation, the store's public settings, the transcript."""
    return {
        "type": "hello",
        "visitor": visitor_token,
        "verified": verified,
        "conversation": conversation.pk,
        "status": conversation.status,
        "rated": hasattr(conversation, "csat"),
        **waiting,
        "store": store_widget_config(store=conversation.store),
        "messages": [message_frame(m) for m in messages],
    }


def ticket_frame(ticket: HandoffTicket, *, messages: list[Message] | None = None) -> dict[str, Any]:
    """A ticket as the agent console shows it, with the conversation's transcript."""
    conversation = ticket.conversation
    store = conversation.store
    visitor = conversation.visitor
    if messages is None:
        messages = list(conversation.messages.select_related("agent").order_by("-pk")[:200])
        messages.reverse()
    return {
        "id": ticket.pk,
        "conversation": conversation.pk,
        "store": store.slug,
        "store_name": store.name,
        "reason": ticket.reason,
        "reason_label": str(HandoffTicket.Reason(ticket.reason).label),
        "status": ticket.status,
        "agent": ticket.agent.get_username() if ticket.agent_id and ticket.agent else None,
        "contact": ticket.contact,
        "matched": ticket.matched,
        "created_at": ticket.created_at.isoformat(),
        "claimed_at": ticket.claimed_at.isoformat() if ticket.claimed_at else None,
        "conversation_status": conversation.status,
        "visitor": {"id": visitor.pk, "customer_id": visitor.customer_id, "display_name": visitor.display_name},
        "product": _product_in_view(conversation),
        "messages": [agent_message_frame(m) for m in messages],
    }


def _product_in_view(conversation: Conversation) -> dict[str, str] | None:
    """The product page the shopper was on when they asked (what "这件" means), or None."""
    if not conversation.product_sku:
        return None
    name = (
        Product.objects.filter(store_id=conversation.store_id, sku=conversation.product_sku)
        .values_list("name", flat=True)
        .first()
    )
    return {"sku": conversation.product_sku, "name": name or conversation.product_sku}


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:
        # A push that cannot be delivered must not undo what was saved: clients re-sync from the database.
        logger.exception("could not push %s to %s", event.get("type"), group)


def _send_on_commit(group: str, event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send(group, event))


def push_message(message: Message) -> None:
    _send_on_commit(
        conversation_group(message.conversation_id),
        {
            "type": "conversation.message",
            "conversation_id": message.conversation_id,
            "message": message_frame(message),
            "agent": message.agent.get_username() if message.agent_id and message.agent else None,
        },
    )


def push_status(conversation: Conversation, **extra: Any) -> None:
    """The conversation changed hands or closed; `extra` carries what the widget shows while waiting."""
    _send_on_commit(
        conversation_group(conversation.pk),
        {"type": "conversation.status", "conversation_id": conversation.pk, "status": conversation.status, **extra},
    )


def push_ticket(ticket: HandoffTicket, *, store_id: int) -> None:
    """Agent consoles re-read the ticket (each for its own user) when this arrives."""
    _send_on_commit(store_agents_group(store_id), {"type": "agents.ticket", "ticket_id": ticket.pk})


def cancel_generation(*, job_id: str, engine_channel: str | None) -> None:
    """Ask the engine worker running a job (or any worker, when unknown) to stop it."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.send)(
                engine_channel or settings.ENGINE_CHANNEL, {"type": "engine.cancel", "job_id": job_id}
            )
        except Exception:
            logger.exception("could not cancel job %s", job_id)

    transaction.on_commit(send)
