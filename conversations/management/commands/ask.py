import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.models import Conversation
from conversations.services.answers import ask_question
from conversations.services.widget import conversation_start, conversation_view_product, visitor_create
from kb.models import Store


class Command(BaseCommand):
    help = (
        "Ask the store's bot, exactly as a shopper in the chat would, and print one JSON object per answer: "
        "answer, source, faq_id, handoff, flags, ttft_ms, total_ms, conversation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("question", nargs="?", help="the question (or use --file)")
        parser.add_argument("--store", required=True, help="the store's slug")
        parser.add_argument("--conversation", type=int, help="continue this conversation (default: a new one)")
        parser.add_argument("--file", help="one question per line, each the first turn of a new conversation")
        parser.add_argument("--product", default="", help="the SKU of the product page the shopper is on")

    def handle(self, *args: Any, **options: Any) -> None:
        store = Store.objects.filter(slug=options["store"]).first()
        if store is None:
            raise CommandError(f"No store with the slug {options['store']!r}.")
        self.product = options["product"]
        if self.product and not store.products.filter(sku=self.product).exists():
            raise CommandError(f"Store {store.slug!r} has no product with the SKU {self.product!r}.")
        if options["file"]:
            if options["question"] or options["conversation"]:
                raise CommandError("--file asks each line in a new conversation: give no question or --conversation.")
            path = Path(options["file"])
            lines = sys.stdin.read().splitlines() if options["file"] == "-" else path.read_text("utf-8").splitlines()
            for line in lines:
                if line.strip():
                    self._print(ask_question(conversation=self._new_conversation(store), text=line))
            return
        if not options["question"]:
            raise CommandError("Give a question, or --file.")
        if options["conversation"]:
            conversation = Conversation.objects.filter(pk=options["conversation"], store=store).first()
            if conversation is None:
                raise CommandError(f"Store {store.slug!r} has no conversation {options['conversation']}.")
            if self.product:
                conversation_view_product(conversation=conversation, sku=self.product)
        else:
            conversation = self._new_conversation(store)
        self._print(ask_question(conversation=conversation, text=options["question"]))

    def _print(self, result: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(result, ensure_ascii=False))

    def _new_conversation(self, store: Store) -> Conversation:
        visitor = visitor_create(store=store)
        conversation = conversation_start(store=store, visitor=visitor)
        if self.product:
            conversation_view_product(conversation=conversation, sku=self.product)
        return conversation
