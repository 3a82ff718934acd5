"""The relay: sends due outbox rows, each in its own transaction, and marks them.

Claiming a row is locking it for the sending transaction: `SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL, so relays in several workers never take the same row; on SQLite the transaction begins
IMMEDIATE (config/settings/base.py), which takes the database's write lock before the row is read, so a
second relay waits instead. The stop conditions are checked again inside that transaction, just before
the send. A relay killed mid-send rolls its transaction back and the row is still pending: the chat
message is written in the same transaction (exactly once); an e-mail or a webhook may then go out a
second time with the same Message-ID / `webhook-id`, which is what receivers de-duplicate on.
"""

import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from conversations import realtime
from conversations.campaigns.models import DeliveryAttempt, OutboxMessage, ReminderSequence, ReminderSettings
from conversations.campaigns.reminders import _sequence_stop, customer_visitor, sequence_stop_reason
from conversations.campaigns.signing import signed_headers
from conversations.models import Conversation, Message
from conversations.services.widget import conversation_start

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = 30.0  # seconds
BACKOFF_CAP = 3600.0
WEBHOOK_TIMEOUT = 5.0  # seconds; the sending transaction stays short


class DeliveryError(Exception):
    """A send that may work later (the shop's endpoint is down, the mail server refused)."""


def backoff_delay(attempts: int, *, rng: Callable[[float, float], float] = random.uniform) -> timedelta:
    """The wait after the `attempts`-th failure: between half and all of min(1 h, 30 s x 2^attempts), jittered.

    Full jitter (anywhere from 0 to the ceiling) can spend all eight attempts within minutes, and a shop
    whose endpoint is down for an hour would lose its reminders to the dead letters. Half fixed, half
    jittered keeps relays from retrying in step and makes eight attempts last at least an hour.
    """
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts, 1))
    return timedelta(seconds=rng(ceiling / 2, ceiling))


def _send_chat(message: OutboxMessage) -> None:
    sequence = message.sequence
    assert sequence is not None  # review replies go to the shop's webhook only
    visitor = customer_visitor(customer=sequence.customer)
    if visitor is None:
        raise DeliveryError("The shopper has no chat visitor any more.")
    conversation = visitor.conversations.exclude(status=Conversation.Status.CLOSED).order_by(
        "-created_at"
    ).first() or conversation_start(store=visitor.store, visitor=visitor)
    text = f"{message.text}\n{message.link}" if message.link else message.text
    # The outbox row's key as the job id: the chat holds this reminder at most once.
    chat_message, created = Message.objects.get_or_create(
        conversation=conversation,
        job_id=f"{message.idempotency_key}:chat"[:64],
        defaults={"role": Message.Role.BOT, "text": text, "source": Message.Source.TEMPLATE, "flags": ["reminder"]},
    )
    if created:
        realtime.push_message(chat_message)


def _send_email(message: OutboxMessage) -> None:
    assert message.sequence is not None  # review replies go to the shop's webhook only
    customer = message.sequence.customer
    store = message.store
    subject = f"{store.name}：您的购物车还在等您" if message.sequence.kind == "cart" else f"{store.name}：订单待付款"
    body = f"{message.text}\n\n{message.link}\n" if message.link else message.text
    email = EmailMessage(
        subject=subject,
        body=body,
        to=[customer.email],
        headers={"Message-ID": f"<{message.idempotency_key.replace(':', '.')}.{message.pk}@shopdesk>"},
    )
    try:
        email.send(fail_silently=False)
    except Exception as exc:
        raise DeliveryError(f"e-mail not sent: {exc}") from exc


def review_reply_payload(message: OutboxMessage) -> bytes:
    reply = message.review_reply
    assert reply is not None
    review = reply.review
    data = {
        "type": "review.reply",
        "timestamp": timezone.now().isoformat(),
        "data": {
            "key": message.idempotency_key,
            "store": message.store.slug,
            "review_id": review.external_id,
            "order_id": review.order_ref or None,
            "sku": review.sku or None,
            "rating": review.rating,
            "text": message.text,
            "approved_at": reply.decided_at.isoformat() if reply.decided_at else None,
            "automatic": reply.source == "thank_you",
        },
    }
    return json.dumps(data, ensure_ascii=False).encode()


def webhook_payload(message: OutboxMessage) -> bytes:
    if message.review_reply_id:
        return review_reply_payload(message)
    sequence = message.sequence
    assert sequence is not None
    customer = sequence.customer
    data = {
        "type": f"reminder.{sequence.kind}",
        "timestamp": timezone.now().isoformat(),
        "data": {
            "key": message.idempotency_key,
            "step": message.step,
            "store": message.store.slug,
            "customer": {"id": customer.external_id, "phone": customer.phone, "email": customer.email},
            "cart_id": sequence.cart.external_id if sequence.cart_id and sequence.cart else None,
            "order_id": sequence.order.external_id if sequence.order_id and sequence.order else None,
            "text": message.text,
            "link": message.link,
        },
    }
    return json.dumps(data, ensure_ascii=False).encode()


def _send_webhook(message: OutboxMessage) -> None:
    reminder_settings = ReminderSettings.objects.get(store_id=message.store_id)
    if not reminder_settings.webhook_url:
        raise DeliveryError("The store has no webhook URL any more.")
    body = webhook_payload(message)
    headers = signed_headers(
        secret=reminder_settings.webhook_secret,
        msg_id=f"{message.idempotency_key}:webhook",
        timestamp=int(time.time()),
        body=body,
    )
    request = urllib.request.Request(  # noqa: S310 (the store's own https/http endpoint)
        reminder_settings.webhook_url,
        data=body,
        method="POST",
        headers={**headers, "Content-Type": "application/json", "User-Agent": "ShopDesk-Reminders"},
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"the shop's endpoint answered {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"the shop's endpoint is unreachable: {exc}") from exc
    if not 200 <= status < 300:
        raise DeliveryError(f"the shop's endpoint answered {status}")


SENDERS: dict[str, Callable[[OutboxMessage], None]] = {
    OutboxMessage.Channel.CHAT: _send_chat,
    OutboxMessage.Channel.EMAIL: _send_email,
    OutboxMessage.Channel.WEBHOOK: _send_webhook,
}


def _due(now: datetime) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)


def _claim_next(now: datetime, exclude: set[int]) -> OutboxMessage | None:
    """The next due row, locked for this transaction (skipped by other relays on PostgreSQL)."""
    rows = _due(now).exclude(pk__in=exclude).order_by("next_attempt_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    return rows.select_related("sequence", "sequence__customer", "store", "review_reply__review").first()


@dataclass
class RelayReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0


def _stopped(message: OutboxMessage, *, report: RelayReport) -> bool:
    """A reminder whose sequence must stop is cancelled; an approved review reply has nothing to stop it."""
    if message.sequence_id is None:
        return False
    sequence = ReminderSequence.objects.select_for_update().get(pk=message.sequence_id)
    version = message.target_version if sequence.kind == ReminderSequence.Kind.CART else None
    reason = (
        sequence.stop_reason
        if sequence.status == ReminderSequence.Status.STOPPED
        else sequence_stop_reason(sequence=sequence, version=version)
    )
    if reason:
        if sequence.status != ReminderSequence.Status.STOPPED:
            _sequence_stop(sequence=sequence, reason=reason)
        message.refresh_from_db()
        if message.status == OutboxMessage.Status.PENDING:
            message.status = OutboxMessage.Status.CANCELLED
            message.cancel_reason = reason
            message.save(update_fields=["status", "cancel_reason", "updated_at"])
        report.cancelled += 1
        return True
    return False


def _deliver_claimed(message: OutboxMessage, *, now: datetime, report: RelayReport) -> None:
    if _stopped(message, report=report):
        return
    message.attempts += 1
    try:
        SENDERS[message.channel](message)
    except DeliveryError as exc:
        DeliveryAttempt.objects.create(message=message, at=now, ok=False, error=str(exc)[:2000])
        message.last_error = str(exc)[:2000]
        if message.attempts >= MAX_ATTEMPTS:
            message.status = OutboxMessage.Status.DEAD
            report.dead += 1
            logger.warning("outbox %s dead after %s attempts: %s", message.pk, message.attempts, exc)
        else:
            message.next_attempt_at = now + backoff_delay(message.attempts)
            report.failed += 1
        message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at", "updated_at"])
        return
    DeliveryAttempt.objects.create(message=message, at=now, ok=True)
    message.status = OutboxMessage.Status.SENT
    message.sent_at = now
    message.last_error = ""
    message.save(update_fields=["attempts", "status", "sent_at", "last_error", "updated_at"])
    report.sent += 1


def outbox_relay(*, now: datetime | None = None, limit: int = 50) -> RelayReport:
    """Send up to `limit` due rows, one transaction each; what fails waits for its backoff in the row."""
    report = RelayReport()
    seen: set[int] = set()
    for _ in range(limit):
        at = now or timezone.now()
        with transaction.atomic():
            message = _claim_next(at, seen)
            if message is None:
                break
            seen.add(message.pk)
            _deliver_claimed(message, now=at, report=report)
    return report


def outbox_retry(*, message_ids: list[int], now: datetime | None = None) -> int:
    """Give dead-lettered rows a fresh set of attempts (the admin's "retry" action)."""
    return OutboxMessage.objects.filter(pk__in=message_ids, status=OutboxMessage.Status.DEAD).update(
        status=OutboxMessage.Status.PENDING, attempts=0, next_attempt_at=now or timezone.now(), last_error=""
    )
