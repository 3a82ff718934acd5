"""The benchmark's table: every figure on its row, and it still prints when a figure is missing."""

import json
import math

import pytest

from engine.bench import report
from engine.bench.generation import Report


def _report(name: str, scale: float) -> Report:
    return Report(
        name=name,
        first_turn_ttft=[0.5 * scale, 0.7 * scale, 0.6 * scale, 0.9 * scale],
        follow_up_ttft=[0.2 * scale, 0.3 * scale],
        single_tps=20 / scale,
        copy_tps=30 / scale,
        concurrent={4: {"aggregate_tps": 40 / scale, "first_token_max_s": 2 * scale, "first_token_p50_s": scale}},
        evaluated_first=[300, 310],
        evaluated_follow=[int(20 * scale), int(30 * scale)],
    )


def test_the_summary_compares_both_sides_with_interpolated_percentiles():
    result = report.summarize(_report("ours", 1.0), _report("naive", 4.0), 512.0, "/models/small.gguf")
    ours = result["ours"]
    assert ours["first_turn_ttft_p50_s"] == pytest.approx(0.65)  # between 0.6 and 0.7
    assert ours["follow_up_ttft_p50_s"] == pytest.approx(0.25)
    assert ours["follow_up_evaluated_tokens_mean"] == 25
    assert result["speedup"]["first_turn_ttft_p50"] == pytest.approx(4.0)
    assert result["speedup"]["aggregate_tps_4"] == pytest.approx(4.0)
    assert result["model"] == "small.gguf"
    json.dumps(result)  # --json prints it as it is


def test_the_table_has_a_row_for_every_figure():
    result = report.summarize(_report("ours", 1.0), _report("naive", 2.0), 512.0, "/models/small.gguf")
    result["keyword_faq"] = {"p50_ms": 0.4, "p99_ms": 1.2, "n": 1400}
    result["retrieval"] = {"n_faqs": 10000, "p50_ms": 3.5}
    table = report.format_table(result)
    for label in (
        "time to first token, first turn, p50 (s)",
        "time to first token, follow-up, p95 (s)",
        "generation, answer copying the KB (tok/s)",
        "prompt tokens evaluated per follow-up",
        "4 chats at once, aggregate (tok/s)",
        "4 chats at once, slowest first token (s)",
        "keyword FAQ answer, server side, p99 (ms)",
        "retrieval over 10,000 FAQ entries, p50 (ms)",
    ):
        assert label in table
    assert "| time to first token, first turn, p50 (s)       |      0.65 |      1.30 |  2.00x |" in table
    assert table.splitlines()[-1].startswith("ratio: how many times better ours is")


def test_a_side_without_conversations_prints_nan_instead_of_failing():
    empty = Report(name="ours", concurrent={})
    result = report.summarize(empty, Report(name="naive", concurrent={}), 100.0, "m.gguf")
    assert math.isnan(result["ours"]["first_turn_ttft_p50_s"])
    assert "nan" in report.format_table(result)


def test_a_figure_with_nothing_to_measure_is_null_in_strict_json():
    from engine.bench.pipeline_turns import PipelineReport

    ours = PipelineReport("ours", first_visible=[0.3, 0.4], follow_visible=[0.2])
    naive = PipelineReport("naive", first_visible=[1.5, 1.6], follow_visible=[2.0])
    figures = report.summarize_pipeline(ours, naive, rss=900.0, model="m.gguf")  # no evaluation questions
    assert math.isnan(figures["ours"]["evaluation_visible_p50_s"])
    text = json.dumps(report.json_figures({"pipeline": {"fast": figures}}), allow_nan=False)
    parsed = json.loads(text)["pipeline"]["fast"]
    assert parsed["ours"]["evaluation_visible_p50_s"] is None and parsed["speedup"]["evaluation_visible_p50"] is None
    assert parsed["ours"]["first_turn_visible_p50_s"] == pytest.approx(0.35)
    assert "evaluation's model answers, p50 (s)" in report.format_pipeline({"fast": figures})  # the table: nan
