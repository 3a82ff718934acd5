import dataclasses
import gc
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from engine import model_files
from engine.bench import DEMO_FILE, generation, pipeline_turns, report
from engine.bench.faq import keyword_faq_latency
from engine.bench.retrieval import retrieval_benchmark
from engine.evaluation.questions import load_questions
from engine.service import model_for_this_cpu, scheduler_config


class Command(BaseCommand):
    help = (
        "Measure the engine (time to first token, tokens per second, concurrency, memory) against a naive "
        "baseline (full prompt every turn, one request at a time, no cache) in the same run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument("--conversations", type=int, default=8, help="two-turn conversations per side")
        parser.add_argument("--max-tokens", type=int, default=64, help="answer length cap (same for both)")
        parser.add_argument("--concurrency", default="4,8", help="concurrent chats to measure, comma-separated")
        parser.add_argument(
            "--tiers",
            default="fast,quality",
            help="model tiers for the real-pipeline turns, comma-separated (a tier whose file is missing is skipped)",
        )
        parser.add_argument("--pipeline-only", action="store_true", help="only the real-pipeline turns per tier")
        parser.add_argument(
            "--no-evaluation-questions",
            action="store_true",
            help="leave out the evaluation's questions (tests/eval/questions.jsonl) from the real-pipeline turns",
        )
        parser.add_argument(
            "--warm-openings",
            type=int,
            default=settings.ENGINE_WARM_OPENINGS,
            help="turn openings per store evaluated ahead with its prefix in the real-pipeline turns, ours (0: none)",
        )
        parser.add_argument(
            "--prefix-entry-chars",
            type=int,
            default=settings.ENGINE_PREFIX_ENTRY_CHARS,
            help="characters of FAQ entries the stores' cached prefixes carry in the real-pipeline turns (0: none)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from engine.llm import LlamaRuntime, RuntimeConfig

        concurrency = [int(n) for n in options["concurrency"].split(",") if n.strip()]
        prefix = generation.demo_prefix()
        model_path, use_mmap = model_for_this_cpu(str(settings.ENGINE_MODEL_PATH))
        runtime_config = RuntimeConfig(
            model_path=model_path,
            use_mmap=use_mmap,
            n_ctx=settings.ENGINE_N_CTX,
            n_seq_max=min(64, max([*concurrency, settings.ENGINE_PARALLEL]) * 4),
            n_threads=settings.ENGINE_THREADS,
        )
        config = scheduler_config()
        config = type(config)(**{**config.__dict__, "parallel": max([*concurrency, config.parallel])})
        workload = {
            "conversations": options["conversations"],
            "max_tokens": options["max_tokens"],
            "concurrency": concurrency,
        }

        result: dict[str, Any] = {"machine": report.machine()}
        if not options["pipeline_only"]:
            result.update(self._engine_workload(LlamaRuntime, runtime_config, config, prefix, workload))
        result["pipeline"] = self._pipeline_by_tier(LlamaRuntime, runtime_config, config, options)
        if options["json"]:
            self.stdout.write(json.dumps(report.json_figures(result), indent=2, ensure_ascii=False, allow_nan=False))
        else:
            if not options["pipeline_only"]:
                self.stdout.write(report.format_table(result))
            self.stdout.write(report.format_pipeline(result["pipeline"]))

    def _pipeline_by_tier(
        self, runtime_class: Any, runtime_config: Any, config: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        """The real pipeline's turns on each tier's model, ours against the naive baseline."""
        eval_dir = Path(settings.BASE_DIR) / "tests" / "eval"
        files = {"demo": DEMO_FILE, **{p.stem.removeprefix("store_"): p for p in sorted(eval_dir.glob("store_*.json"))}}
        snapshots = pipeline_turns.load_stores(files, prefix_entry_chars=options["prefix_entry_chars"])
        chats = pipeline_turns.pipeline_chats(list(snapshots.values()))
        asked = (
            []
            if options["no_evaluation_questions"]
            else pipeline_turns.evaluation_chats(snapshots, load_questions(eval_dir / "questions.jsonl"))
        )
        out: dict[str, Any] = {}
        for tier in [t.strip() for t in options["tiers"].split(",") if t.strip()]:
            if tier not in model_files.TIERS:
                raise CommandError(f"unknown tier {tier!r}: {', '.join(model_files.TIERS)}")
            path = Path(settings.ENGINE_MODEL_DIR) / model_files.TIERS[tier].filename
            if not path.is_file():
                self.stderr.write(f"tier {tier}: {path.name} not found (python manage.py fetch_model --tier {tier})")
                continue
            tier_path, tier_mmap = model_for_this_cpu(str(path))
            tier_config = dataclasses.replace(runtime_config, model_path=tier_path, use_mmap=tier_mmap)
            self.stderr.write(f"real-pipeline turns, tier {tier}: ours ...")
            runtime = runtime_class(tier_config)
            ours = generation.OurEngine(runtime, config)
            max_tokens = options["max_tokens"]
            earlier = settings.ENGINE_MAX_TOKENS  # the untimed earlier messages: answered as long as the chat's
            openings = options["warm_openings"]
            ours_report = pipeline_turns.run_pipeline_workload(
                "ours", ours.scheduler.submit, chats, max_tokens=max_tokens, openings=openings
            )
            pipeline_turns.run_evaluation_workload(
                ours_report,
                ours.scheduler.submit,
                asked,
                max_tokens=max_tokens,
                earlier_max_tokens=earlier,
                openings=openings,
            )
            rss = report.rss_mb()
            ours.close()
            runtime.close()
            gc.collect()
            self.stderr.write(f"real-pipeline turns, tier {tier}: naive ...")
            naive_runtime = runtime_class(tier_config)
            naive = generation.NaiveEngine(naive_runtime)
            naive_report = pipeline_turns.run_pipeline_workload("naive", naive.submit, chats, max_tokens=max_tokens)
            pipeline_turns.run_evaluation_workload(
                naive_report, naive.submit, asked, max_tokens=max_tokens, earlier_max_tokens=earlier
            )
            naive_runtime.close()
            gc.collect()
            out[tier] = report.summarize_pipeline(ours_report, naive_report, rss=rss, model=Path(tier_path).name)
        return out

    def _engine_workload(
        self, runtime_class: Any, runtime_config: Any, config: Any, prefix: str, workload: dict[str, Any]
    ) -> dict[str, Any]:
        self.stderr.write("benchmarking our engine ...")
        runtime = runtime_class(runtime_config)
        ours = generation.OurEngine(runtime, config)
        ours_report = generation.run_workload("ours", ours.ask, ours.closed_loop, prefix, **workload)
        rss = report.rss_mb()
        ours.close()
        runtime.close()
        gc.collect()

        self.stderr.write("benchmarking the naive baseline ...")
        naive_runtime = runtime_class(runtime_config)
        naive = generation.NaiveEngine(naive_runtime)
        naive_report = generation.run_workload("naive", naive.ask, naive.closed_loop, prefix, **workload)
        naive_runtime.close()

        result = report.summarize(ours_report, naive_report, rss, runtime_config.model_path)
        result["workload"] = workload
        self.stderr.write("timing keyword FAQ answers and retrieval over 10,000 FAQ entries ...")
        result["keyword_faq"] = keyword_faq_latency()
        result["retrieval"] = retrieval_benchmark(n_faqs=10_000)
        return result
