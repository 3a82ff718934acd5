import asyncio
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.load import LoadPlan, run_load


class Command(BaseCommand):
    help = (
        "Load the chat websocket of a running server: open --connections at once and count the hellos, "
        "then send --askers simultaneous questions and print their answer latency (p50/p95)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        plan = LoadPlan()
        parser.add_argument("--host", default=plan.host, help="the server (default %(default)s)")
        parser.add_argument("--port", type=int, default=plan.port)
        parser.add_argument("--store", default=plan.store, help="the store's slug (default %(default)s)")
        parser.add_argument("--connections", type=int, default=plan.connections, help="opened in one burst")
        parser.add_argument("--askers", type=int, default=plan.askers, help="of them, ask at the same moment")
        parser.add_argument("--question", default=plan.question)
        parser.add_argument(
            "--addresses", type=int, default=plan.addresses, help="loopback client addresses the shoppers come from"
        )
        parser.add_argument("--timeout", type=float, default=plan.timeout, help="seconds per phase")
        parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["connections"] < 1 or not 0 <= options["askers"] <= options["connections"]:
            raise CommandError("--connections must be at least 1 and --askers between 0 and --connections.")
        plan = LoadPlan(
            host=options["host"],
            port=options["port"],
            store=options["store"],
            connections=options["connections"],
            askers=options["askers"],
            question=options["question"],
            addresses=options["addresses"],
            timeout=options["timeout"],
        )
        summary = asyncio.run(run_load(plan)).summary()
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
            return
        failures = ", ".join(f"{reason}: {n}" for reason, n in summary["failures"].items()) or "none"
        self.stdout.write(
            f"burst    {summary['connections']} connections at once: {summary['hellos']} got hello "
            f"in {summary['burst_seconds']} s\n"
            f"answers  {summary['askers']} simultaneous {plan.question!r}: {summary['answered']} answered, "
            f"p50 {summary['answer_p50_ms']} ms, p95 {summary['answer_p95_ms']} ms, max {summary['answer_max_ms']} ms\n"
            f"failures {failures}"
        )
