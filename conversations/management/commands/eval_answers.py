import csv
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.services.answers import ask_question
from conversations.services.widget import conversation_start, visitor_create
from engine.evaluation.questions import load_questions
from engine.evaluation.report import format_route_distribution, format_summary
from engine.evaluation.routing import route_distribution, route_kind
from engine.evaluation.scoring import score, summarize
from engine.pipeline import decide
from kb.kb_file_json import kb_file_read
from kb.models import Store
from kb.selectors import store_snapshot
from kb.services import store_import

EVAL_DIR = Path(settings.BASE_DIR) / "tests" / "eval"
EVAL_PREFIX = "eval-"
STORE_FILES = {"demo": Path(settings.BASE_DIR) / "kb" / "demo" / "demo_store.json", "tea": EVAL_DIR / "store_tea.json"}


class Command(BaseCommand):
    help = (
        "Run the dev evaluation (tests/eval/questions.jsonl on the demo and tea stores) through the real "
        "pipeline and model, and print interception rate, fact accuracy, unbacked promises, handoff "
        "precision/recall, off-topic accuracy and first-token latency. It works on its own copies of the "
        "stores (slugs eval-demo, eval-tea) and deletes them afterwards. With "
        "--shopper-questions, also measure routing on a file of real labelled shopper questions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--questions", default=str(EVAL_DIR / "questions.jsonl"))
        parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument("--routing-only", action="store_true", help="skip the answers; routing figures only")
        parser.add_argument(
            "--shopper-questions",
            default="",
            help="a TSV with `question` and `intent` columns of real labelled shopper questions: measure routing",
        )
        parser.add_argument("--show", action="store_true", help="print every question with its answer")

    def handle(self, *args: Any, **options: Any) -> None:
        report: dict[str, Any] = {}
        stores = self._load_stores()
        try:
            if not options["routing_only"]:
                report["dev"] = self._run_dev(stores, options)
            if options["shopper_questions"]:
                report["shopper_routing"] = self._run_routing(stores["demo"], Path(options["shopper_questions"]))
        finally:
            # The evaluation's own copies of the stores go, with every conversation it made.
            for store in stores.values():
                store.delete()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, default=str))
            return
        if "dev" in report:
            self.stdout.write("Dev evaluation (tests/eval):")
            self.stdout.write(format_summary(report["dev"]))
        if "shopper_routing" in report:
            self.stdout.write("\nRouting of real shopper questions (demo store rules):")
            self.stdout.write(format_route_distribution(report["shopper_routing"]))

    def _load_stores(self) -> dict[str, Store]:
        """Fresh copies of the evaluated stores under their own slugs: a real store of the same name,
        and whatever staff changed in it, is never touched."""
        stores = {}
        for slug, path in STORE_FILES.items():
            data = kb_file_read(path=path)
            data["store"]["slug"] = f"{EVAL_PREFIX}{slug}"
            Store.objects.filter(slug=data["store"]["slug"]).delete()  # left over from an interrupted run
            store_import(data=data)
            stores[slug] = Store.objects.get(slug=data["store"]["slug"])
        return stores

    def _run_dev(self, stores: dict[str, Store], options: dict[str, Any]) -> dict[str, Any]:
        questions = load_questions(options["questions"])
        if options["limit"]:
            questions = questions[: options["limit"]]
        answers, verdicts = [], []
        for i, question in enumerate(questions, start=1):
            store = stores.get(question.store)
            if store is None:
                raise CommandError(f"question {i}: unknown store {question.store!r}")
            visitor = visitor_create(store=store)
            conversation = conversation_start(store=store, visitor=visitor)
            answer = ask_question(conversation=conversation, text=question.question)
            verdict = score(question, answer)
            answers.append(answer)
            verdicts.append(verdict)
            if options["show"]:
                self.stdout.write(json.dumps({"q": question.question, **answer}, ensure_ascii=False))
            elif i % 20 == 0:
                self.stderr.write(f"{i}/{len(questions)} questions")
        return summarize(verdicts, questions, answers)

    def _run_routing(self, store: Store, path: Path) -> dict[str, Any]:
        if not path.exists():
            raise CommandError(f"{path} not found")
        with path.open(encoding="utf-8") as fh:
            reader = csv.reader(fh, delimiter="\t")
            header = next(reader, [])
            q_col, i_col = header.index("question"), header.index("intent")
            rows = [(r[q_col], r[i_col]) for r in reader if len(r) > max(q_col, i_col)]
        snapshot = store_snapshot(store=store)

        def classify(question: str) -> str:
            return route_kind(decide(store=snapshot, question=question))

        return route_distribution(rows, classify)
