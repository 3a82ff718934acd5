"""Retrieval over the synthetic store: the figures are there and the scale finds shop questions only."""

from engine.bench.retrieval import retrieval_benchmark


def test_the_benchmark_reports_its_figures():
    figures = retrieval_benchmark(n_faqs=200, queries=20)

    assert {"n_faqs", "queries", "build_ms", "p50_ms", "p95_ms", "max_ms"} <= figures.keys()
    assert figures["n_faqs"] == 200
    assert figures["queries"] == 20
    assert figures["shop_hit_rate"] > 0.5
    assert figures["offtopic_hit_rate"] == 0.0
