"""The conversation's event log: one row per handoff, claim, hand-back and close, appended, never changed."""

from datetime import datetime
from typing import Any

from django.utils import timezone

from conversations.models import Conversation, ConversationEvent


def conversation_event_record(
    *,
    conversation: Conversation,
    kind: ConversationEvent.Kind,
    actor: Any = None,
    reason: str = "",
    outcome: str = "",
    detail: str = "",
    at: datetime | None = None,
) -> ConversationEvent:
    """Append one event; call it inside the transaction that makes the change it records."""
    return ConversationEvent.objects.create(
        conversation=conversation,
        store_id=conversation.store_id,
        kind=kind,
        actor=actor if getattr(actor, "pk", None) else None,
        reason=reason,
        outcome=outcome,
        detail=detail,
        at=at or timezone.now(),
    )
