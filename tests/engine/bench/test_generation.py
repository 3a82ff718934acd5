"""The generation benchmark's two engines on the fake runtime: same answers, different work.

No timings are asserted: only what each engine evaluates and what it answers.
"""

import pytest

from engine.bench import generation
from engine.pipeline import decide
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


def test_the_real_pipeline_workload_is_built_by_decide_and_timed_through_the_guard():
    from engine.bench import demo_snapshot, pipeline_turns
    from engine.bench.report import format_pipeline, summarize_pipeline

    chats = pipeline_turns.pipeline_chats([demo_snapshot()])
    assert chats, "some generic questions go to the model on the demo store"
    assert all(c.first in pipeline_turns.FIRST_QUESTIONS for c in chats)
    rt = FakeRuntime(answer="亲，收到后请联系我们。", n_ctx=16384)
    ours = generation.OurEngine(rt, SchedulerConfig(parallel=2))
    try:
        ours_report = pipeline_turns.run_pipeline_workload("ours", ours.scheduler.submit, chats[:2], max_tokens=8)
    finally:
        ours.close()
    naive = generation.NaiveEngine(FakeRuntime(answer="亲，收到后请联系我们。", n_ctx=16384))
    naive_report = pipeline_turns.run_pipeline_workload("naive", naive.submit, chats[:2], max_tokens=8)
    for report in (ours_report, naive_report):
        assert len(report.first_visible) == 2
        # Real first turns carry the retrieved references: far more than the bare question.
        assert min(report.first_prompt_tokens) > 100
    # Ours evaluates only what its cached store prefix does not cover; naive evaluates everything.
    assert max(ours_report.evaluated_first) < min(naive_report.evaluated_first)
    figures = summarize_pipeline(ours_report, naive_report, rss=1.0, model="fake.gguf")
    assert set(figures) == {"model", "engine_rss_mb", "ours", "naive", "speedup"}
    assert "tier fast" in format_pipeline({"fast": figures})


def test_the_evaluations_questions_are_asked_as_eval_answers_asks_them_and_timed_where_the_model_answers():
    from engine.bench import DEMO_FILE, pipeline_turns
    from engine.evaluation.questions import EvalQuestion

    stores = pipeline_turns.load_stores({"demo": DEMO_FILE}, prefix_entry_chars=0)
    first, second = (chat.first for chat in pipeline_turns.pipeline_chats([stores["demo"]])[:2])  # the model's
    questions = [
        EvalQuestion(store="demo", question=first, intent="policy"),
        EvalQuestion(store="demo", question="你好", intent="greeting"),  # a template: not timed
        EvalQuestion(store="demo", question=second, intent="policy", history=("你好",)),
        EvalQuestion(store="tea", question=first, intent="policy"),  # a store not given
    ]
    asked = pipeline_turns.evaluation_chats(stores, questions)
    assert [a.question for a in asked] == [q.question for q in questions[:3]] and asked[2].earlier == ("你好",)
    rt = FakeRuntime(answer="亲，收到后请联系我们。", n_ctx=16384)
    ours = generation.OurEngine(rt, SchedulerConfig(parallel=2))
    seen: list[list[dict[str, str]]] = []

    def submit(request, sink):
        seen.append(request.messages)
        return ours.scheduler.submit(request, sink)

    try:
        report = pipeline_turns.run_evaluation_workload(
            pipeline_turns.PipelineReport("ours"), submit, asked, max_tokens=8, earlier_max_tokens=16
        )
    finally:
        ours.close()
    generated = sum(1 for q in questions[:3] if decide(store=stores["demo"], question=q.question).kind == "generate")
    assert len(report.asked_visible) == generated == 2  # the greeting got its template, without the model
    last = seen[-1]
    # The third chat's greeting came first: the model sees it and its answer as the chat's history.
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user"] and last[1]["content"] == "你好"
    assert report.figures()["evaluation_questions"] == 2


def test_with_the_stores_turn_openings_evaluated_ahead_first_turns_evaluate_only_their_question():
    from engine.bench import demo_snapshot, pipeline_turns

    chats = pipeline_turns.pipeline_chats([demo_snapshot()])[:3]
    evaluated = {}
    for openings in (0, 100):
        rt = FakeRuntime(answer="亲，收到后请联系我们。", n_ctx=16384)
        ours = generation.OurEngine(rt, SchedulerConfig(parallel=2))
        try:
            report = pipeline_turns.run_pipeline_workload(
                "ours", ours.scheduler.submit, chats, max_tokens=8, openings=openings
            )
        finally:
            ours.close()
        evaluated[openings] = report.evaluated_first
    # The reference header and the first entry came from the saved openings: the question is what is left.
    assert sum(evaluated[100]) * 3 < sum(evaluated[0])
