import logging
import time
from dataclasses import dataclass, field
from typing import Any, cast

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from kb.kb_file import ROW_SECTIONS, STORE, KbRow, Section, kb_file_validate, kb_row_export
from kb.kb_file_json import KbFileError
from kb.models import FaqEntry, Product, Store
from kb.validation import text_clean

logger = logging.getLogger(__name__)


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __str__(self) -> str:
        text = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        return text + (f", {self.deleted} deleted" if self.deleted else "")


@dataclass
class ImportReport:
    store: Store
    store_action: str  # "created", "updated" or "unchanged"
    counts: dict[str, ImportCounts] = field(default_factory=dict)  # per section the file has
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return self.store_action != "unchanged" or any(
            c.created or c.updated or c.deleted for c in self.counts.values()
        )

    def lines(self) -> list[str]:
        lines = [f'store "{self.store.slug}" ({self.store.name}): {self.store_action}']
        lines += [f"{name}: {counts}" for name, counts in self.counts.items()]
        if self.dry_run:
            lines.append("dry run: nothing was written")
        return lines


@dataclass
class _Planned:
    obj: models.Model
    action: str


def _plan(*, section: Section, row: KbRow, current: models.Model | None) -> _Planned:
    """Apply the row to a new or existing instance (unsaved) and run the model's own validation."""
    if current is None:
        planned = _Planned(obj=section.model(**row.values), action="created")
    else:
        changed = [name for name, value in row.values.items() if getattr(current, name) != value]
        for name in changed:
            setattr(current, name, row.values[name])
        planned = _Planned(obj=current, action="updated" if changed else "unchanged")
    try:
        if section is STORE:
            planned.obj.full_clean()
        else:
            # Uniqueness within the store is the natural key: rows are looked up by it and
            # duplicates inside the file are refused before we get here.
            planned.obj.full_clean(exclude=["store"], validate_unique=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            for message in messages:
                row.error(message if name == NON_FIELD_ERRORS else f"{name}: {message}")
    return planned


def store_import(*, data: Any, prune: bool = False, dry_run: bool = False) -> ImportReport:
    """Create or update a store and its knowledge base from a parsed knowledge-base file.

    Rows are matched on their natural key (store slug; product sku, promotion title, FAQ question and
    synonym phrase within the store) and written exactly as the file has them, so importing the same
    file again changes nothing. Rows the file does not name are kept, unless `prune` is set, which
    deletes them from the sections the file has. Everything is checked before the first write and
    runs in one transaction: on any error (KbFileError, listing all of them) nothing is written.
    """
    kb = kb_file_validate(data=data)
    if kb.store is None:
        raise KbFileError(kb.all_errors())

    with transaction.atomic():
        store = None
        if isinstance(kb.store.key, str):
            store = Store.objects.select_for_update().filter(slug=kb.store.key).first()
        store_plan = None if kb.store.errors else _plan(section=STORE, row=kb.store, current=store)
        plans: dict[str, list[_Planned]] = {}
        doomed: dict[str, list[models.Model]] = {}
        for section in ROW_SECTIONS:
            rows = kb.sections.get(section.name)
            if rows is None:
                continue
            existing: dict[Any, models.Model] = {}
            if store is not None:
                current_rows = section.model._default_manager.filter(store=store)
                existing = {getattr(obj, section.key): obj for obj in current_rows}
            plans[section.name] = [
                _plan(section=section, row=row, current=existing.get(row.key)) for row in rows if not row.errors
            ]
            if prune:
                named = {row.key for row in rows}
                doomed[section.name] = [obj for key, obj in existing.items() if key not in named]
        errors = kb.all_errors()
        if errors or store_plan is None:
            raise KbFileError(errors)

        store = cast(Store, store_plan.obj)
        if store_plan.action != "unchanged":
            store.save()
        report = ImportReport(store=store, store_action=store_plan.action, dry_run=dry_run)
        for name, planned_rows in plans.items():
            counts = report.counts[name] = ImportCounts()
            for planned in planned_rows:
                if planned.action != "unchanged":
                    planned.obj.store = store  # type: ignore[attr-defined]
                    planned.obj.save()
                setattr(counts, planned.action, getattr(counts, planned.action) + 1)
            for obj in doomed.get(name, []):
                obj.delete()
                counts.deleted += 1
        if dry_run:
            transaction.set_rollback(True)

    logger.info("Imported the knowledge base of store %s (dry run: %s): %s", store.slug, dry_run, report.lines())
    return report


def store_export(*, store: Store) -> dict[str, Any]:
    """The store and its knowledge base in the import format; importing it back changes nothing."""
    data: dict[str, Any] = {STORE.name: kb_row_export(section=STORE, obj=store)}
    for section in ROW_SECTIONS:
        # Sorted by the natural key in Python, not by the database's collation, so that the same data
        # exports byte for byte the same from SQLite and PostgreSQL.
        rows = sorted(section.model._default_manager.filter(store=store), key=lambda obj: getattr(obj, section.key))
        data[section.name] = [kb_row_export(section=section, obj=obj) for obj in rows]
    return data


def faq_entry_count_hit(*, faq_id: int) -> None:
    """An FAQ entry answered a shopper: its hit count goes up (staff see which entries earn their keep)."""
    FaqEntry.objects.filter(pk=faq_id).update(hit_count=F("hit_count") + 1)


# The group every store staff member is in: the permissions to run a shop in the back office and
# answer its chats (which rows they see is still limited to their stores).
STAFF_GROUP = "store staff"
STAFF_APPS = ("kb", "conversations", "reports")
STAFF_CAMPAIGN_MODELS = ("review", "reviewreply")


def staff_group_get() -> Group:
    group, _created = Group.objects.get_or_create(name=STAFF_GROUP)
    group.permissions.add(*Permission.objects.filter(content_type__app_label__in=STAFF_APPS))
    # Replies to the store's reviews are shop work too (the rest of campaigns is the owner's settings).
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="campaigns", content_type__model__in=STAFF_CAMPAIGN_MODELS)
    )
    return group


@transaction.atomic
def store_staff_add(*, store: Store, username: str, password: str = "", email: str = "") -> tuple[Any, bool]:
    """Makes `username` a staff member of `store`: an existing user is linked, a new one created with
    `password`. Either way they get the staff flag (back-office login) and the store staff group.

    Returns the user and whether they were created; ValidationError (by field) when the password is
    missing or too weak for a new user.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    created = user is None
    if user is None:
        if not password:
            raise ValidationError({"password": _("A new account needs a password.")})
        user = user_model(username=username, email=email)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
        user.set_password(password)
    user.is_staff = True
    user.save()
    user.groups.add(staff_group_get())
    store.staff.add(user)
    return user, created


# One message per store and second is enough: the engine worker waits for the store's rows to be quiet
# (ENGINE_WARM_DELAY_SECONDS, longer than this) before it reads them, so an import of many rows, which
# commits them all at once, is one message and one prefix evaluation; a burst of shoppers opening the chat
# is one message a second.
_WARM_EVERY_SECONDS = 1.0
_warm_sent: dict[int, float] = {}


def store_prefix_warm_message(*, store_id: int) -> dict[str, Any] | None:
    """The engine-channel message asking a worker to evaluate the store's prompt prefix now, or None when one
    was sent for this store within the last second (or warming is off)."""
    if not settings.ENGINE_WARM_PREFIXES:
        return None
    now = time.monotonic()
    if now - _warm_sent.get(store_id, -_WARM_EVERY_SECONDS) < _WARM_EVERY_SECONDS:
        return None
    _warm_sent[store_id] = now
    return {"type": "engine.warm", "store_id": store_id}


def store_prefix_warm(*, store_id: int) -> None:
    """After a knowledge-base edit: have an engine worker evaluate the store's new prefix before a shopper asks."""
    message = store_prefix_warm_message(store_id=store_id)
    layer = get_channel_layer()
    if message is None or layer is None:
        return
    try:
        async_to_sync(layer.send)(settings.ENGINE_CHANNEL, message)
    except Exception:
        # A full or unreachable engine channel: the next question builds the prefix instead.
        logger.warning("could not ask the engine to warm store %s's prefix", store_id, exc_info=True)


def product_description_set(*, product: Product, description: str) -> Product:
    """Staff saved a description (the model's draft, as they edited it) into the product."""
    product.description = text_clean(description).strip()
    try:
        product.full_clean()
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages)) from None
    product.save(update_fields=["description", "updated_at"])
    return product
