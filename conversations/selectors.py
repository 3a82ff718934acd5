from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Prefetch, QuerySet

from conversations.models import Conversation, HandoffTicket, Message
from kb.selectors import store_list_for_user


def conversation_list(
    *, user: AbstractBaseUser | AnonymousUser, store_slug: str = "", status: str = ""
) -> QuerySet[Conversation]:
    """Conversations of the stores the user works for, newest first, with their message count."""
    conversations = (
        Conversation.objects.filter(store__in=store_list_for_user(user=user))
        .select_related("store", "visitor")
        .annotate(message_count=Count("messages"))
    )
    if store_slug:
        conversations = conversations.filter(store__slug=store_slug)
    if status:
        conversations = conversations.filter(status=status)
    return conversations


def conversation_list_with_transcript(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Conversation]:
    """As `conversation_list`, each with its messages in the order they were written."""
    messages = Message.objects.select_related("agent").order_by("id")
    return conversation_list(user=user).prefetch_related(Prefetch("messages", queryset=messages))


def ticket_list_for_agent(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[HandoffTicket]:
    """Open and claimed tickets of the stores the user works for, newest first."""
    return (
        HandoffTicket.objects.filter(
            conversation__store__in=store_list_for_user(user=user),
            status__in=[HandoffTicket.Status.OPEN, HandoffTicket.Status.CLAIMED],
        )
        .select_related("conversation__store", "conversation__visitor", "agent")
        .order_by("-created_at")
    )


def ticket_get_for_agent(*, user: AbstractBaseUser | AnonymousUser, ticket_id: int) -> HandoffTicket | None:
    """One ticket of the user's stores, whatever its status; None for another store's."""
    return (
        HandoffTicket.objects.filter(conversation__store__in=store_list_for_user(user=user), pk=ticket_id)
        .select_related("conversation__store", "conversation__visitor", "agent")
        .first()
    )
