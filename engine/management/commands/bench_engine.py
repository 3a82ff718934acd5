import gc
import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from engine.bench import generation, report
from engine.bench.faq import keyword_faq_latency
from engine.bench.retrieval import retrieval_benchmark
from engine.service import scheduler_config


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

    def handle(self, *args: Any, **options: Any) -> None:
        from engine.llm import LlamaRuntime, RuntimeConfig

        concurrency = [int(n) for n in options["concurrency"].split(",") if n.strip()]
        prefix = generation.demo_prefix()
        runtime_config = RuntimeConfig(
            model_path=str(settings.ENGINE_MODEL_PATH),
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

        self.stderr.write("benchmarking our engine ...")
        runtime = LlamaRuntime(runtime_config)
        ours = generation.OurEngine(runtime, config)
        ours_report = generation.run_workload("ours", ours.ask, ours.closed_loop, prefix, **workload)
        rss = report.rss_mb()
        ours.close()
        runtime.close()
        gc.collect()

        self.stderr.write("benchmarking the naive baseline ...")
        naive_runtime = LlamaRuntime(runtime_config)
        naive = generation.NaiveEngine(naive_runtime)
        naive_report = generation.run_workload("naive", naive.ask, naive.closed_loop, prefix, **workload)
        naive_runtime.close()

        result = report.summarize(ours_report, naive_report, rss, str(settings.ENGINE_MODEL_PATH))
        result["workload"] = workload
        self.stderr.write("timing keyword FAQ answers and retrieval over 10,000 FAQ entries ...")
        result["keyword_faq"] = keyword_faq_latency()
        result["retrieval"] = retrieval_benchmark(n_faqs=10_000)
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            self.stdout.write(report.format_table(result))
