import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from kb.models import Store, TimeStampedModel


def _new_visitor_token() -> str:
    return secrets.token_urlsafe(24)


class Visitor(TimeStampedModel):
    """A shopper as the widget knows them: an anonymous token, or the shop's verified customer id."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="visitors")
    token = models.CharField(max_length=64, unique=True, default=_new_visitor_token, editable=False)
    customer_id = models.CharField(max_length=128, blank=True, help_text="Set only when the shop verified it.")
    display_name = models.CharField(max_length=100, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "customer_id"], condition=~Q(customer_id=""), name="visitor_unique_customer_per_store"
            ),
        ]

    def __str__(self) -> str:
        return self.customer_id or f"visitor {self.pk}"


class Conversation(TimeStampedModel):
    class Status(models.TextChoices):
        BOT = "bot", "Bot answering"
        WAITING = "waiting", "Waiting for a human"
        HUMAN = "human", "Human answering"
        CLOSED = "closed", "Closed"

    class Outcome(models.TextChoices):
        BOT_RESOLVED = "bot_resolved", "Resolved by the bot"
        HANDED_OFF = "handed_off", "Handed off to a human"
        ABANDONED = "abandoned", "Abandoned"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="conversations")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOT, db_index=True)
    # A single nullable column can hold one outcome only; the constraints below make a closed
    # conversation carry exactly one and an open one none.
    outcome = models.CharField(max_length=20, choices=Outcome.choices, null=True, blank=True)  # noqa: DJ001
    closed_at = models.DateTimeField(null=True, blank=True)
    # The product page the shopper is on (its SKU), as the widget last said: "这件" and bare questions
    # are about it.
    product_sku = models.CharField(max_length=64, blank=True, default="")
    # When the shopper last moved to another product page: what was said before is about the page they left.
    product_viewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
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
        CUSTOMER = "customer", "Customer"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    class Source(models.TextChoices):
        FAQ = "faq", "FAQ keyword"
        LLM = "llm", "Model"
        TEMPLATE = "template", "Template"
        GUARDRAIL = "guardrail", "Guardrail"
        HANDOFF = "handoff", "Handoff"
        AGENT = "agent", "Agent"

    class Feedback(models.TextChoices):
        UP = "up", "Thumbs up"
        DOWN = "down", "Thumbs down"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField(blank=True)
    # A shopper's turn as the model saw it (with its reference snippets): later turns repeat it
    # word for word, so the engine's KV cache for the conversation stays valid.
    prompt = models.TextField(blank=True, editable=False)
    # NULL, not "", for "no client id": the unique constraint must not make all of those collide.
    # Shoppers' and agents' ids live apart (the constraint includes the role): a shopper cannot pick an
    # id that swallows an agent's reply.
    client_id = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True, help_text="Client-chosen id; re-sends dedupe."
    )
    # The generation job a bot answer belongs to: the engine and the watchdog record it once, and a
    # widget that missed the job's final frame matches the recorded message up by it.
    job_id = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    source = models.CharField(max_length=10, choices=Source.choices, blank=True)
    partial = models.BooleanField(default=False, help_text="Generation stopped before the answer was complete.")
    matched = models.JSONField(default=list, blank=True, help_text="Knowledge-base entries the answer used.")
    flags = models.JSONField(default=list, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    feedback = models.CharField(max_length=4, choices=Feedback.choices, blank=True)
    feedback_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
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
        SHOPPER_ASKED = "shopper_asked", "Shopper asked for a human"
        BOT_UNSURE = "bot_unsure", "Bot was not sure"
        COMPLAINT = "complaint", "Complaint"
        GUARDRAIL = "guardrail", "Guardrail tripped"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        RESOLVED = "resolved", "Resolved"

    OPEN_STATUSES = (Status.OPEN, Status.CLAIMED)

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="tickets")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    contact = models.CharField(max_length=200, blank=True, help_text="Phone, WeChat id or e-mail left by the shopper.")
    matched = models.JSONField(default=list, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = HandoffTicketQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
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
    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="csat")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)

    class Meta:
        verbose_name = "CSAT rating"
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="csat_score_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.score}/5"


class AgentPresence(models.Model):
    """One open agent console (a websocket); an agent with a fresh row is online for their stores."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presences")
    channel_name = models.CharField(max_length=200, unique=True)
    connected_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.user} on {self.channel_name}"
