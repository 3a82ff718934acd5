import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations

from config.exceptions import ApplicationError
from kb.kb_file_json import MAX_FILE_BYTES, kb_file_parse, kb_file_read
from kb.services import store_import


class Command(BaseCommand):
    help = (
        "Import a store and its knowledge base (products, promotions, FAQ entries, synonyms) from a JSON "
        "file. Idempotent: rows are matched on their natural keys. All or nothing: on any error nothing "
        "is written. See README, 'Knowledge-base file format'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the JSON file, or - to read standard input")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="also delete the store's products, promotions, FAQ entries and synonyms that the file does "
            "not name (only in the sections the file has)",
        )
        parser.add_argument("--dry-run", action="store_true", help="check the file and report, write nothing")

    @no_translations
    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            if path == "-":
                data = kb_file_parse(raw=sys.stdin.buffer.read(MAX_FILE_BYTES + 1))
            else:
                data = kb_file_read(path=path)
            report = store_import(data=data, prune=options["prune"], dry_run=options["dry_run"])
        except ApplicationError as exc:
            raise CommandError(f"{'standard input' if path == '-' else path}: {exc.message}") from exc
        for line in report.lines():
            self.stdout.write(line)
