"""Reads: campaign figures per store, and how a reminder is credited with an order."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from conversations.campaigns.models import Order, OutboxMessage, ReminderClick, ReminderSequence, Review, ReviewReply
from engine.stats import percentile
from kb.models import Store

ATTRIBUTION_WINDOW = timedelta(days=5)


@dataclass(frozen=True)
class CampaignFigures:
    sent: int  # reminder steps sent (on at least one channel)
    clicked: int  # sequences whose link was opened
    recovered: int  # orders within 5 days after a click
    recovered_revenue: Decimal
    ordered_after: int  # orders within 5 days after a reminder, without a click before them
    ordered_after_revenue: Decimal


def campaign_figures(*, store: Store, since: datetime | None = None, until: datetime | None = None) -> CampaignFigures:
    """Figures of the reminders sent in [since, until); each order counts once, under one heading.

    An order placed within 5 days after a click on a reminder of the same shopper is "recovered"; one
    placed within 5 days after a reminder with no click before it is "ordered after a reminder". Orders
    with no reminder before them are never credited, and a cancelled order is never credited.
    """
    sent_rows = OutboxMessage.objects.filter(store=store, status=OutboxMessage.Status.SENT, sequence__isnull=False)
    if since is not None:
        sent_rows = sent_rows.filter(sent_at__gte=since)
    if until is not None:
        sent_rows = sent_rows.filter(sent_at__lt=until)
    first_sent: dict[int, datetime] = {}
    steps: set[str] = set()
    for sequence_id, key, sent_at in sent_rows.values_list("sequence_id", "idempotency_key", "sent_at"):
        steps.add(key)
        if sent_at is not None and (sequence_id not in first_sent or sent_at < first_sent[sequence_id]):
            first_sent[sequence_id] = sent_at
    sequences = {s.pk: s for s in ReminderSequence.objects.filter(pk__in=first_sent)}
    clicks: dict[int, list[datetime]] = {}
    for sequence_id, at in ReminderClick.objects.filter(sequence_id__in=first_sent).values_list("sequence_id", "at"):
        clicks.setdefault(sequence_id, []).append(at)

    recovered: dict[int, Decimal] = {}
    ordered_after: dict[int, Decimal] = {}
    for sequence_id, sent_at in first_sent.items():
        sequence = sequences[sequence_id]
        last = max([sent_at, *clicks.get(sequence_id, [])])
        orders = Order.objects.filter(
            store=store,
            customer_id=sequence.customer_id,
            placed_at__gt=sent_at,
            placed_at__lte=last + ATTRIBUTION_WINDOW,
        ).exclude(status=Order.Status.CANCELLED)
        for order in orders:
            clicked_before = [c for c in clicks.get(sequence_id, []) if c <= order.placed_at <= c + ATTRIBUTION_WINDOW]
            if clicked_before:
                recovered[order.pk] = order.total
            elif order.placed_at <= sent_at + ATTRIBUTION_WINDOW and order.pk not in recovered:
                ordered_after[order.pk] = order.total
    for order_id in recovered:
        ordered_after.pop(order_id, None)
    return CampaignFigures(
        sent=len(steps),
        clicked=len(clicks),
        recovered=len(recovered),
        recovered_revenue=sum(recovered.values(), Decimal(0)),
        ordered_after=len(ordered_after),
        ordered_after_revenue=sum(ordered_after.values(), Decimal(0)),
    )


@dataclass(frozen=True)
class ReviewFigures:
    """Replies to the reviews that arrived in [start, end) (the reports page reads these)."""

    bad_reviews: int  # reviews of 3 stars or fewer
    replied: int  # of those, with an approved reply
    reply_rate: float | None  # replied / bad_reviews; None without bad reviews
    median_reply_minutes: float | None  # review received -> reply approved, approved replies to bad reviews
    approved: int  # drafts a person approved (automatic thank-yous not counted)
    edited: int  # of those, changed before approval
    edited_share: float | None
    drafts: int  # drafts written (model or template)
    validator_rejected: int  # model drafts the checks refused (the store's template stood in)
    validator_rejected_share: float | None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def review_figures(*, store: Store, start: datetime, end: datetime) -> ReviewFigures:
    """Counted by when the review arrived (its row's creation), half-open [start, end)."""
    reviews = Review.objects.filter(store=store, created_at__gte=start, created_at__lt=end)
    bad = reviews.filter(rating__lte=3)
    replies = ReviewReply.objects.filter(review__in=reviews)
    approved_bad = list(
        replies.filter(review__rating__lte=3, status=ReviewReply.Status.APPROVED).values_list(
            "review__created_at", "decided_at"
        )
    )
    waits = sorted((decided - received).total_seconds() / 60 for received, decided in approved_bad if decided)
    staff_approved = replies.filter(status=ReviewReply.Status.APPROVED).exclude(source=ReviewReply.Source.THANK_YOU)
    drafts = replies.exclude(source=ReviewReply.Source.THANK_YOU)
    bad_count, drafted = bad.count(), drafts.count()
    approved, edited = staff_approved.count(), staff_approved.filter(edited=True).count()
    rejected = drafts.filter(source=ReviewReply.Source.TEMPLATE).exclude(problems=[]).count()
    return ReviewFigures(
        bad_reviews=bad_count,
        replied=len(approved_bad),
        reply_rate=_share(len(approved_bad), bad_count),
        median_reply_minutes=percentile(waits, 50) if waits else None,
        approved=approved,
        edited=edited,
        edited_share=_share(edited, approved),
        drafts=drafted,
        validator_rejected=rejected,
        validator_rejected_share=_share(rejected, drafted),
    )
