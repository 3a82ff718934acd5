from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.services.agents import tickets_close_stale
from kb.models import Store


class Command(BaseCommand):
    help = "End the chats of handoff tickets nobody claimed for a long time (default CHAT_TICKET_STALE_HOURS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=float, default=None, help="waiting longer than this many hours")
        parser.add_argument("--store", default="", help="only this store (slug); default: every store")

    def handle(self, *args: Any, **options: Any) -> None:
        hours = settings.CHAT_TICKET_STALE_HOURS if options["hours"] is None else options["hours"]
        if hours < 0:
            raise CommandError("--hours must not be negative")
        stores = Store.objects.all()
        if options["store"]:
            stores = stores.filter(slug=options["store"])
            if not stores.exists():
                raise CommandError(f'no store "{options["store"]}"')
        closed = tickets_close_stale(stores=stores, waiting_longer_than=timedelta(hours=hours))
        self.stdout.write(f"closed {closed} chats whose tickets waited longer than {hours:g} hours")
