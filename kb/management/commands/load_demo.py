from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kb.kb_file_json import kb_file_read
from kb.models import Store
from kb.services import store_import

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "demo_store.json"


class Command(BaseCommand):
    help = "Load the demo store `demo` once; later runs keep whatever staff changed since (use --reset to reload)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="import the demo file again over the demo store")

    def handle(self, *args: Any, **options: Any) -> None:
        data = kb_file_read(path=DEMO_FILE)
        slug = data["store"]["slug"]
        if Store.objects.filter(slug=slug).exists() and not options["reset"]:
            self.stdout.write(f"Demo store {slug!r} is already loaded (its edits are kept).")
            return
        report = store_import(data=data)
        for line in report.lines():
            self.stdout.write(line)
