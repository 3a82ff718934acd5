"""The agent console's texts in the request's language, sent to agent.js with the page.

Statuses, reasons, roles and sources are the models' own choice labels, so the console, the admin
and the reports call one thing by one name.
"""

from typing import Any

from django.db.models import TextChoices
from django.utils.translation import gettext as _

from conversations.models import Conversation, HandoffTicket, Message


def _labels(choices: type[TextChoices]) -> dict[str, str]:
    return {str(value): str(label) for value, label in choices.choices}


def console_texts() -> dict[str, Any]:
    """Every text agent.js shows, keyed as its table `T`; `{name}` marks a value filled in by the page."""
    return {
        "connected": _("Connected"),
        "connecting": _("Connecting…"),
        "ticket": _labels(HandoffTicket.Status),
        "conversation": _labels(Conversation.Status),
        "reasons": _labels(HandoffTicket.Reason),
        "roles": _labels(Message.Role),
        "sources": _labels(Message.Source),
        "kinds": {
            "faq": _("FAQ"),
            "product": _("Product"),
            "promotion": _("Promotion"),
            "template": _("Template"),
            "llm": _("Model"),
            "draft": _("Model draft"),
        },
        "me": _("me"),
        "claim": _("Claim"),
        "claimedBy": _("Handled by: "),
        "unclaimed": _("Waiting to be claimed"),
        "claiming": _("Claiming…"),
        "noContact": _("Not left"),
        "noMatched": _("No knowledge-base entry matched"),
        "noPreview": _("(no message from the shopper yet)"),
        "partial": _("(answer incomplete)"),
        "pending": _("Sending…"),
        "failed": _("Not sent"),
        "typing": _("Typing…"),
        "loading": _("Getting suggestions…"),
        "noSuggestions": _("No suggestions"),
        "drafting": _("Writing a draft…"),
        "draftBusy": _("The model is busy; no draft"),
        "draftFailed": _("The draft failed"),
        "draftEmpty": _("No draft"),
        "tooLong": _("The reply is too long: at most {max} characters, now {n}."),
        "offline": _("Disconnected; it will be sent once the connection is back."),
        "confirmClose": _("End the chat with this shopper? They will be asked to rate it."),
        "resolved": _("This ticket is resolved."),
        "claimedByOther": _(
            "{agent} handles this ticket; you can only read it. You can take over once they go offline."
        ),
        "takeOver": _("Take over"),
        "needClaim": _("Claim the ticket to reply to the shopper."),
        "closedConversation": _("The chat has ended."),
        "justNow": _("just now"),
        "minutes": _("{n} min ago"),
        "hours": _("{n} h ago"),
        "days": _("{n} days ago"),
        "visitor": _("Visitor #{id}"),
        "waited": _("waiting {time}"),
        "durMinutes": _("{n} min"),
        "durHours": _("{n} h"),
        "durDays": _("{n} days"),
        "queueMore": _("{n} older tickets are not listed; close stale tickets to clear them."),
        "confirmCloseStale": _(
            "End the chats of every ticket nobody claimed for more than {hours} hours? The shoppers are asked to rate."
        ),
        "closedStale": _("{n} stale chats were ended."),
        "closeStaleFailed": _("Stale tickets could not be closed; try again."),
        "notifyTitle": _("A shopper of {store} is waiting"),
    }
