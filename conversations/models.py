import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kb.models import Store, TimeStampedModel


def _new_visitor_token() -> str:
    return secrets.token_urlsafe(24)


class Visitor(TimeStampedModel):
    """A shopper as the widget knows them: an anonymous token, or the shop's verified customer id."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="visitors", verbose_name=_("store"))
    token = models.CharField(_("token"), max_length=64, unique=True, default=_new_visitor_token, editable=False)
    customer_id = models.CharField(
        _("customer id"), max_length=128, blank=True, help_text=_("Set only when the shop verified it.")
    )
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    last_seen_at = models.DateTimeField(_("last seen at"), null=True, blank=True)

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")
        constraints = [
            models.UniqueConstraint(
                fields=["store", "customer_id"], condition=~Q(customer_id=""), name="visitor_unique_customer_per_store"
            ),
        ]

    def __str__(self) -> str:
        return self.customer_id or f"visitor {self.pk}"


class Conversation(TimeStampedModel):
    class Status(models.TextChoices):
        BOT = "bot", _("Bot answering")
        WAITING = "waiting", _("Waiting for an agent")
        HUMAN = "human", _("Agent answering")
        CLOSED = "closed", _("Chat ended")

    class Outcome(models.TextChoices):
        BOT_RESOLVED = "bot_resolved", _("Resolved by the bot")
        HANDED_OFF = "handed_off", _("Handed off to an agent")
        ABANDONED = "abandoned", _("Abandoned")

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("store"))
    visitor = models.ForeignKey(
        Visitor, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("visitor")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.BOT, db_index=True)
    # A single nullable column can hold one outcome only; the constraints below make a closed
    # conversation carry exactly one and an open one none.
    outcome = models.CharField(  # noqa: DJ001
        _("outcome"), max_length=20, choices=Outcome.choices, null=True, blank=True
    )
    closed_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    # The product page the shopper is on (its SKU), as the widget last said: "这件" and bare questions
    # are about it.
    product_sku = models.CharField(_("product in view"), max_length=64, blank=True, default="")
    # When the shopper last moved to another product page: what was said before is about the page they left.
    product_viewed_at = models.DateTimeField(_("product viewed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__isnull=True) | Q(outcome__in=["bot_resolved", "handed_off", "abandoned"]),
                name="conversation_outcome_valid",
            ),
            models.CheckConstraint(
                condition=(Q(status="closed") & Q(outcome__isnull=False) & Q(closed_at__isnull=False))
                | (~Q(status="closed") & Q(outcome__isnull=True)),
                name="conversation_closed_iff_one_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.store.slug} ({self.status})"


class Message(TimeStampedModel):
    class Role(models.TextChoices):
        CUSTOMER = "customer", _("Shopper")
        BOT = "bot", _("Bot")
        AGENT = "agent", _("Agent")
        SYSTEM = "system", _("System")

    class Source(models.TextChoices):
        FAQ = "faq", _("FAQ keyword")
        LLM = "llm", _("Model")
        TEMPLATE = "template", _("Template")
        GUARDRAIL = "guardrail", _("Safety rule")
        HANDOFF = "handoff", _("Handoff")
        AGENT = "agent", _("Agent")

    class Feedback(models.TextChoices):
        UP = "up", _("Thumbs up")
        DOWN = "down", _("Thumbs down")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", verbose_name=_("conversation")
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    text = models.TextField(_("text"), blank=True)
    # A shopper's turn as the model saw it (with its reference snippets): later turns repeat it
    # word for word, so the engine's KV cache for the conversation stays valid.
    prompt = models.TextField(_("prompt"), blank=True, editable=False)
    # NULL, not "", for "no client id": the unique constraint must not make all of those collide.
    # Shoppers' and agents' ids live apart (the constraint includes the role): a shopper cannot pick an
    # id that swallows an agent's reply.
    client_id = models.CharField(  # noqa: DJ001
        _("client id"), max_length=64, null=True, blank=True, help_text=_("Client-chosen id; re-sends dedupe.")
    )
    # The generation job a bot answer belongs to: the engine and the watchdog record it once, and a
    # widget that missed the job's final frame matches the recorded message up by it.
    job_id = models.CharField(_("job id"), max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, blank=True)
    partial = models.BooleanField(
        _("incomplete"), default=False, help_text=_("Generation stopped before the answer was complete.")
    )
    matched = models.JSONField(
        _("matched knowledge"), default=list, blank=True, help_text=_("Knowledge-base entries the answer used.")
    )
    flags = models.JSONField(_("flags"), default=list, blank=True)
    ttft_ms = models.PositiveIntegerField(_("first token (ms)"), null=True, blank=True)
    total_ms = models.PositiveIntegerField(_("total time (ms)"), null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(_("answer tokens"), null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("agent")
    )
    feedback = models.CharField(_("feedback"), max_length=4, choices=Feedback.choices, blank=True)
    feedback_comment = models.TextField(_("feedback comment"), blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "role", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_unique_client_id_per_conversation_role",
            ),
            models.UniqueConstraint(
                fields=["conversation", "job_id"],
                condition=Q(job_id__isnull=False),
                name="message_unique_job_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"


class HandoffTicketQuerySet(models.QuerySet["HandoffTicket"]):
    def still_open(self) -> "HandoffTicketQuerySet":
        """Waiting for a person or claimed by one: not resolved yet (at most one per conversation)."""
        return self.filter(status__in=HandoffTicket.OPEN_STATUSES)


class HandoffTicket(TimeStampedModel):
    class Reason(models.TextChoices):
        SHOPPER_ASKED = "shopper_asked", _("Shopper asked for an agent")
        BOT_UNSURE = "bot_unsure", _("Bot could not answer")
        COMPLAINT = "complaint", _("Complaint")
        GUARDRAIL = "guardrail", _("Safety rule tripped")
        BAD_REVIEW = "bad_review", _("Bad review")

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting")
        CLAIMED = "claimed", _("In progress")
        RESOLVED = "resolved", _("Resolved")

    OPEN_STATUSES = (Status.OPEN, Status.CLAIMED)

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="tickets", verbose_name=_("conversation")
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("agent")
    )
    contact = models.CharField(
        _("contact"), max_length=200, blank=True, help_text=_("Phone, WeChat id or e-mail left by the shopper.")
    )
    matched = models.JSONField(_("matched knowledge"), default=list, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    objects = HandoffTicketQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("handoff ticket")
        verbose_name_plural = _("handoff tickets")
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["open", "claimed"]),
                name="ticket_one_open_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"ticket #{self.pk} ({self.reason}, {self.status})"


class CSAT(TimeStampedModel):
    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="csat", verbose_name=_("conversation")
    )
    score = models.PositiveSmallIntegerField(_("score"))
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        verbose_name = _("satisfaction rating")
        verbose_name_plural = _("satisfaction ratings")
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="csat_score_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.score}/5"


class AgentPresence(models.Model):
    """One open agent console (a websocket); an agent with a fresh row is online for their stores."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presences", verbose_name=_("user")
    )
    channel_name = models.CharField(_("channel"), max_length=200, unique=True)
    connected_at = models.DateTimeField(_("connected at"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen at"), db_index=True)

    class Meta:
        verbose_name = _("agent presence")
        verbose_name_plural = _("agent presences")

    def __str__(self) -> str:
        return f"{self.user} on {self.channel_name}"


class ConversationEvent(models.Model):
    """What happened to a conversation, appended once and never changed: the figures count these.

    A handoff (with its reason), a person claiming it, handing it back to the bot, and the close (with the
    one outcome it ended in). Reports count them in half-open time ranges; they never read `updated_at`.
    """

    class Kind(models.TextChoices):
        HANDOFF = "handoff", _("Handed off")
        CLAIM = "claim", _("Claimed by an agent")
        HAND_BACK = "hand_back", _("Handed back to the bot")
        CLOSE = "close", _("Ended")

    class Detail(models.TextChoices):
        """How an abandoned conversation was left (the outcome alone does not say)."""

        BEFORE_ANSWER = "before_answer", _("Left before any answer")
        WAITING = "waiting", _("Left while waiting for a person")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="events", verbose_name=_("conversation")
    )
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+", verbose_name=_("store"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("by")
    )
    reason = models.CharField(_("reason"), max_length=20, blank=True)  # a handoff's HandoffTicket.Reason
    outcome = models.CharField(_("outcome"), max_length=20, choices=Conversation.Outcome.choices, blank=True)
    detail = models.CharField(_("detail"), max_length=20, choices=Detail.choices, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("conversation event")
        verbose_name_plural = _("conversation events")
        indexes = [models.Index(fields=["store", "kind", "at"], name="event_store_kind_at")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="close") & ~Q(outcome="")) | (~Q(kind="close") & Q(outcome="")),
                name="event_outcome_iff_close",
            ),
            models.UniqueConstraint(
                fields=["conversation"], condition=Q(kind="close"), name="event_one_close_per_conversation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.conversation_id} at {self.at:%Y-%m-%d %H:%M}"
