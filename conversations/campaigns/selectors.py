"""Reads: campaign figures per store, and how a reminder is credited with an order."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from conversations.campaigns.models import Order, OutboxMessage, ReminderClick, ReminderSequence
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
    sent_rows = OutboxMessage.objects.filter(store=store, status=OutboxMessage.Status.SENT)
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
