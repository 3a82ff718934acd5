from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations

from kb.kb_file_json import kb_file_dumps
from kb.selectors import store_get_by_slug
from kb.services import store_export


class Command(BaseCommand):
    help = "Write a store and its knowledge base as a JSON file that import_kb reads back unchanged."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", required=True, metavar="SLUG")
        parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")

    @no_translations
    def handle(self, *args: Any, **options: Any) -> None:
        store = store_get_by_slug(slug=options["store"])
        if store is None:
            raise CommandError(f'No store with slug "{options["store"]}".')
        text = kb_file_dumps(data=store_export(store=store))
        output = options["output"]
        if not output:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}") from exc
        self.stdout.write(f'Exported store "{store.slug}" to {output}.')
