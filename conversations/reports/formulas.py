"""How each reported figure is computed, in words: shown on hover in the report and listed in the README.

The computation itself is `conversations.metrics`; these sentences describe it and nothing else.
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

FORMULAS: dict[str, Promise] = {
    "conversations": _(
        "Conversations that ended in the period and in which the shopper wrote at least once; "
        "each has exactly one outcome."
    ),
    "in_progress": _(
        "Conversations going on now in which the shopper wrote: they get their outcome when they end (by the "
        "shopper, an agent, or after 24 hours without a message)."
    ),
    "questions": _("Messages the shoppers wrote in the period."),
    "interception_rate": _(
        "Questions the bot answered itself (FAQ entry, model or template; not busy, failed or unsure) with no person "
        "asked for at the time or before the next question, divided by all questions. Target: 70%."
    ),
    "bot_resolved_confirmed": _(
        "Ended conversations with no handoff in which the bot answered and the shopper gave a thumbs up or a "
        "rating of 4 or 5, divided by conversations."
    ),
    "bot_resolved_assumed": _(
        "Ended conversations with no handoff in which the bot answered and the shopper left without confirming "
        "(ended the chat, or wrote nothing for 24 hours), divided by conversations."
    ),
    "handed_off": _(
        "Ended conversations in which a person claimed the chat or the shopper left a contact for one (any "
        "handoff wins, whatever happened after it), divided by conversations."
    ),
    "abandoned_before_answer": _(
        "Ended conversations in which the shopper left before any answer, divided by conversations."
    ),
    "abandoned_waiting": _(
        "Ended conversations in which the shopper asked for a person (or was handed to one) and left before one came, "
        "divided by conversations."
    ),
    "reopened": _("Ended conversations whose shopper started another chat within 7 days, divided by conversations."),
    "handoff_rate": _(
        "Ended conversations with at least one handoff, divided by conversations; by the reason of the first handoff "
        "(bot busy: the shopper asked for a person right after the bot said the line was busy)."
    ),
    "csat": _("Mean of the 1-5 ratings given in the period; the number of ratings and how many of each score."),
    "thumbs": _("Thumbs up and down on the bot's answers given in the period; up share = up / (up + down)."),
    "first_token": _(
        "Time from the question to the first text shown, per answer source: the median (p50) and p95 of the "
        "answers given in the period."
    ),
    "human_first_response": _(
        "Time from a handoff in the period to the first message of a person after it (the bot's messages do not "
        "count): p50 and p90."
    ),
    "handling": _("Time from a person claiming the chat to handing it back or ending it: p50 and p90."),
    "guardrail_trips": _("The bot's answers in the period in which the safety rules replaced a claim."),
    "busy_refusals": _("The times in the period the bot told a shopper the line was busy."),
}
