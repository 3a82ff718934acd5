import csv
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.services.answers import ask_question
from conversations.services.widget import conversation_start, conversation_view_product, visitor_create
from engine.evaluation.questions import SPLITS, EvalQuestion, load_questions
from engine.evaluation.report import format_groups, format_route_distribution
from engine.evaluation.routing import route_distribution, route_kind
from engine.evaluation.scoring import score, summarize_groups
from engine.pipeline import decide
from engine.worker import prefix_warm_blocking
from kb.kb_file_json import kb_file_read
from kb.models import Store
from kb.selectors import store_snapshot
from kb.services import store_import

EVAL_DIR = Path(settings.BASE_DIR) / "tests" / "eval"
EVAL_PREFIX = "eval-"
STORE_FILES = {
    "demo": Path(settings.BASE_DIR) / "kb" / "demo" / "demo_store.json",
    "tea": EVAL_DIR / "store_tea.json",
    "skincare": EVAL_DIR / "store_skincare.json",
}
ROUTING_STORE = "demo"  # the real shopper questions are routed with this store's rules


class Command(BaseCommand):
    help = (
        "Run the evaluation (tests/eval/questions.jsonl on the demo, tea and skincare stores, dev and "
        "held-out splits) through the real pipeline and model, and print per store and split: interception "
        "rate, fact accuracy, unbacked promises, handoff precision/recall, off-topic accuracy, echoes and "
        "first-token latency. A question's earlier messages are asked first in the same conversation, and "
        "its product page is in view. It works on its own copies of the stores (slugs eval-demo, ...) and "
        "deletes them afterwards. With --shopper-questions, also measure routing on a file of real "
        "labelled shopper questions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--questions", default=str(EVAL_DIR / "questions.jsonl"))
        parser.add_argument("--limit", type=int, default=0, help="only the first N questions (after the filters)")
        parser.add_argument("--split", choices=(*SPLITS, "all"), default="all", help="only the questions of this split")
        parser.add_argument("--store", default="", help=f"only this store's questions ({', '.join(STORE_FILES)})")
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument("--routing-only", action="store_true", help="skip the answers; routing figures only")
        parser.add_argument(
            "--shopper-questions",
            default="",
            help="a TSV with `question` and `intent` columns of real labelled shopper questions: measure routing",
        )
        parser.add_argument("--show", action="store_true", help="print every question with its answer")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["store"] and options["store"] not in STORE_FILES:
            raise CommandError(f"unknown store {options['store']!r}; expected one of {', '.join(STORE_FILES)}")
        questions: list[EvalQuestion] = []
        if not options["routing_only"]:
            questions = self._questions(options)
        slugs = {q.store for q in questions}
        if options["shopper_questions"]:
            slugs.add(ROUTING_STORE)
        report: dict[str, Any] = {}
        stores = self._load_stores(sorted(slugs))
        try:
            if not options["routing_only"]:
                self._check_products(questions, stores)
                report["answers"] = self._run_answers(questions, stores, show=options["show"])
            if options["shopper_questions"]:
                report["shopper_routing"] = self._run_routing(stores[ROUTING_STORE], Path(options["shopper_questions"]))
        finally:
            # The evaluation's own copies of the stores go, with every conversation it made.
            for store in stores.values():
                store.delete()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, default=str))
            return
        if "answers" in report:
            self.stdout.write(f"Evaluation (tests/eval, split {options['split']}):")
            self.stdout.write(format_groups(report["answers"]))
        if "shopper_routing" in report:
            self.stdout.write(f"\nRouting of real shopper questions ({ROUTING_STORE} store rules):")
            self.stdout.write(format_route_distribution(report["shopper_routing"]))

    def _questions(self, options: dict[str, Any]) -> list[EvalQuestion]:
        questions = load_questions(options["questions"])
        unknown = sorted({q.store for q in questions} - set(STORE_FILES))
        if unknown:
            raise CommandError(f"unknown store {unknown[0]!r} in {options['questions']}")
        if options["split"] != "all":
            questions = [q for q in questions if q.split == options["split"]]
        if options["store"]:
            questions = [q for q in questions if q.store == options["store"]]
        if options["limit"]:
            questions = questions[: options["limit"]]
        if not questions:
            raise CommandError("no question matches the filters")
        return questions

    def _load_stores(self, slugs: list[str]) -> dict[str, Store]:
        """Fresh copies of the evaluated stores under their own slugs: a real store of the same name,
        and whatever staff changed in it, is never touched."""
        stores = {}
        for slug in slugs:
            data = kb_file_read(path=STORE_FILES[slug])
            data["store"]["slug"] = f"{EVAL_PREFIX}{slug}"
            Store.objects.filter(slug=data["store"]["slug"]).delete()  # left over from an interrupted run
            store_import(data=data)
            stores[slug] = Store.objects.get(slug=data["store"]["slug"])
        return stores

    def _check_products(self, questions: list[EvalQuestion], stores: dict[str, Store]) -> None:
        """Every product page a question is on exists in its store, before anything is asked."""
        skus = {slug: set(store.products.values_list("sku", flat=True)) for slug, store in stores.items()}
        wrong = [f"line {q.line}: {q.product!r}" for q in questions if q.product and q.product not in skus[q.store]]
        if wrong:
            raise CommandError("products the store does not have:\n" + "\n".join(wrong))

    def _run_answers(self, questions: list[EvalQuestion], stores: dict[str, Store], *, show: bool) -> dict[str, Any]:
        answers, verdicts = [], []
        warm_store = None
        for i, question in enumerate(questions, start=1):
            store = stores[question.store]
            if store != warm_store and settings.ENGINE_WARM_PREFIXES:
                # A running server has the store's prefix evaluated when a shopper opens the chat (while they
                # type): the first question of each store finds it ready here too, as it would there.
                prefix_warm_blocking(snapshot=store_snapshot(store=store))
                warm_store = store
            visitor = visitor_create(store=store)
            conversation = conversation_start(store=store, visitor=visitor)
            if question.product:
                conversation_view_product(conversation=conversation, sku=question.product)
            for turn in question.history:
                earlier = ask_question(conversation=conversation, text=turn)
                if show:
                    self.stdout.write(json.dumps({"q": turn, "history": True, **earlier}, ensure_ascii=False))
            answer = ask_question(conversation=conversation, text=question.question)
            verdict = score(question, answer)
            answers.append(answer)
            verdicts.append(verdict)
            if show:
                self.stdout.write(
                    json.dumps(
                        {"line": question.line, "q": question.question, **answer, "missing": verdict.missing_facts},
                        ensure_ascii=False,
                    )
                )
            elif i % 20 == 0:
                self.stderr.write(f"{i}/{len(questions)} questions")
        return summarize_groups(verdicts, questions, answers)

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
