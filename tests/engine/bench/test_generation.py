"""The generation benchmark's two engines on the fake runtime: same answers, different work.

No timings are asserted: only what each engine evaluates and what it answers.
"""

import pytest

from engine.bench import generation
from engine.scheduler import SchedulerConfig
from tests.engine.fake_runtime import FakeRuntime

PREFIX = "你是示例店铺的客服。本店T恤99元，24小时内发货。"


@pytest.fixture(scope="module")
def reports() -> tuple[generation.Report, generation.Report]:
    rt = FakeRuntime(answer="好的", n_ctx=16384)
    ours = generation.OurEngine(rt, SchedulerConfig(parallel=2))
    try:
        workload = {"conversations": 2, "max_tokens": 8, "concurrency": [2], "rounds": 1}
        ours_report = generation.run_workload("ours", ours.ask, ours.closed_loop, PREFIX, **workload)
    finally:
        ours.close()
    naive = generation.NaiveEngine(FakeRuntime(answer="好的", n_ctx=16384))
    naive_report = generation.run_workload("naive", naive.ask, naive.closed_loop, PREFIX, **workload)
    return ours_report, naive_report


def test_both_engines_run_the_whole_workload(reports):
    for report in reports:
        assert len(report.first_turn_ttft) == len(report.follow_up_ttft) == 2
        assert set(report.concurrent) == {2}
        assert report.concurrent[2]["aggregate_tps"] > 0


def test_our_follow_ups_evaluate_only_their_new_tokens(reports):
    ours, naive = reports
    # The naive engine evaluates the whole chat again; ours keeps the conversation's KV sequence.
    assert all(o < n for o, n in zip(ours.evaluated_follow, naive.evaluated_follow, strict=True))
    assert max(ours.evaluated_follow) < min(naive.evaluated_first)


def test_the_copy_questions_still_go_to_the_model_with_their_reference():
    turns = generation.copy_turns()
    assert len(turns) == len(generation.COPY_QUESTIONS)
    for question, turn in zip(generation.COPY_QUESTIONS, turns, strict=True):
        assert "<<<" in turn and len(turn) > 3 * len(question)  # the fenced reference text is in the turn


def test_the_demo_prefix_is_the_demo_stores_prompt():
    assert "示例服饰旗舰店" in generation.demo_prefix()
