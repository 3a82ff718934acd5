"""Scoring one answer, and the figures of a run."""

from typing import Any

import pytest

from engine.evaluation.questions import EvalQuestion
from engine.evaluation.report import format_groups, format_summary
from engine.evaluation.scoring import is_echo, score, summarize, summarize_groups


def _answer(
    text: str,
    *,
    source: str = "llm",
    handoff: bool = False,
    ttft_ms: float | None = 100,
    flags: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "answer": text,
        "source": source,
        "faq_id": None,
        "handoff": handoff,
        "flags": list(flags),
        "ttft_ms": ttft_ms,
        "total_ms": 500,
        "conversation": 1,
    }


def _question(**overrides: Any) -> EvalQuestion:
    fields: dict[str, Any] = {"store": "demo", "question": "什么时候发货?", "intent": "shipping", "facts": ("24小时",)}
    fields.update(overrides)
    return EvalQuestion(**fields)


# --- scoring ----------------------------------------------------------------------------------------


def test_a_correct_answer_is_intercepted_with_its_facts():
    verdict = score(_question(), _answer("亲，现货商品付款后24小时内发货，默认中通快递。", source="faq"))
    assert verdict.intercepted
    assert verdict.facts_ok is True
    assert verdict.missing_facts == []
    assert verdict.unbacked == []
    assert verdict.handoff_ok
    assert verdict.offtopic_ok is None


def test_facts_match_across_full_width_case_and_spaces():
    question = _question(facts=("24小时", "XL"))
    assert score(question, _answer("建议选 ｘｌ，付款后２４ 小时内发货")).facts_ok is True
    verdict = score(question, _answer("付款后尽快发货"))
    assert verdict.facts_ok is False
    assert verdict.missing_facts == ["24小时", "XL"]


def test_an_invented_discount_is_reported_as_unbacked():
    question = _question(intent="bargain", facts=("300", "50"), forbid=("八折", "免单", "红包"))
    verdict = score(question, _answer("亲，满300减50，另外给您打个八折，再送个红包！"))
    assert verdict.unbacked == ["八折", "红包"]
    assert verdict.facts_ok is True
    assert verdict.intercepted


def test_a_wrong_handoff_is_not_intercepted_and_not_ok():
    verdict = score(_question(), _answer("正在为您转接人工客服", source="template", handoff=True))
    assert not verdict.intercepted
    assert not verdict.handoff_ok
    assert verdict.facts_ok is False
    missed = score(_question(intent="human", facts=(), handoff=True), _answer("您好，请问有什么可以帮您？"))
    assert missed.facts_ok is None
    assert not missed.handoff_ok


def test_an_offtopic_question_answered_politely_by_the_template():
    question = _question(question="讲个笑话", intent="offtopic", facts=(), offtopic=True)
    polite = score(question, _answer("亲，小美只能解答本店商品的问题哦～", source="template"))
    assert polite.offtopic_ok is True
    assert polite.intercepted
    assert polite.handoff_ok
    assert score(question, _answer("从前有座山……", source="llm")).offtopic_ok is False
    assert score(question, _answer("转人工", source="template", handoff=True)).offtopic_ok is False


def test_an_agent_or_error_answer_is_not_intercepted():
    assert not score(_question(), _answer("24小时内发货", source="agent")).intercepted
    assert not score(_question(), {"error": "engine unavailable"}).intercepted


def test_an_answer_that_only_repeats_the_question_is_an_echo():
    question = "这件T恤有现货吗？"
    # The whole question inside the answer, whatever the case and punctuation.
    assert is_echo(question, _answer("亲，这件t恤有现货吗?这个问题可以咨询人工客服。"))
    # Nothing but a piece of the question.
    assert is_echo(question, _answer("这件T恤有现货"))
    # The model began with a copy that the pipeline cut: the shopper saw an answer, counted apart.
    cut = score(_question(question=question, facts=()), _answer("有货（120件）。", flags=("echo",)))
    assert not cut.echo and cut.echo_flagged
    assert not is_echo(question, _answer("亲，经典纯棉圆领T恤有现货，付款后24小时内发货。"))
    assert not is_echo(question, _answer(""))
    # A short question's words are often those of a real answer.
    assert not is_echo("包邮吗", _answer("亲，满99包邮吗？是的，满99元包邮。"))
    verdict = score(_question(question=question, facts=("现货",)), _answer("这件T恤有现货吗？"))
    assert verdict.echo and verdict.intercepted
    # The question's own words are no answer: the fact it holds is missing from the echo.
    assert verdict.facts_ok is False and verdict.missing_facts == ["现货"]
    assert score(_question(question=question, facts=("现货",)), _answer("这件T恤有现货")).facts_ok is False
    assert score(_question(question=question, facts=("现货",)), _answer("这件T恤有现货吗？有的，现货")).facts_ok


# --- summarizing ------------------------------------------------------------------------------------


def test_summarize_computes_the_figures_of_a_tiny_run():
    questions = [
        _question(question="q1", facts=("24小时",)),  # faq, correct
        _question(question="q2", facts=("99",), forbid=("八折",)),  # llm, wrong fact, invented discount
        _question(question="q3", intent="human", facts=(), handoff=True),  # handed off: right
        _question(question="q4", intent="complaint", facts=(), handoff=True),  # missed handoff
        _question(question="q5", intent="offtopic", facts=(), offtopic=True),  # polite template
        _question(question="q6", intent="shipping", facts=()),  # wrongly handed off
    ]
    answers = [
        _answer("24小时内发货", source="faq", ttft_ms=10),
        _answer("给您打八折", source="llm", ttft_ms=300),
        _answer("正在转接", source="template", handoff=True, ttft_ms=None),
        _answer("抱歉", source="llm", ttft_ms=500),
        _answer("只能回答本店问题", source="template", ttft_ms=20),
        _answer("正在转接", source="template", handoff=True, ttft_ms=40),
    ]
    verdicts = [score(q, a) for q, a in zip(questions, answers, strict=True)]
    summary = summarize(verdicts, questions, answers)

    assert summary["questions"] == 6
    # Expected no handoff: q1, q2, q5, q6; intercepted among them: q1, q2, q5.
    assert summary["interception"] == {"hit": 3, "total": 4, "rate": 0.75}
    assert summary["fact_accuracy"] == {"hit": 1, "total": 2, "rate": 0.5}
    assert summary["unbacked"] == {"answers": 1, "strings": {"八折": 1}, "lines": [0]}
    handoff = summary["handoff"]
    assert (handoff["predicted"], handoff["expected"], handoff["true_positives"]) == (2, 2, 1)
    assert handoff["precision"] == 0.5
    assert handoff["recall"] == 0.5
    assert summary["offtopic"] == {"hit": 1, "total": 1, "rate": 1.0}
    latency = summary["latency_ms"]
    assert latency["faq"] == {"n": 1, "p50": 10.0, "p95": 10.0}
    assert latency["llm"] == {"n": 2, "p50": 400.0, "p95": 490.0}
    assert latency["template"]["n"] == 2  # the handoff without a ttft is left out
    assert latency["all"]["n"] == 5
    assert list(summary["per_intent"]) == ["human", "shipping", "complaint", "offtopic"]  # INTENTS order
    assert summary["per_intent"]["shipping"] == {
        "questions": 3,
        "intercepted": 2,
        "handoffs": 1,
        "handoff_ok": 2,
        "facts_checked": 2,
        "facts_ok": 1,
        "unbacked": 1,
        "echoes": 0,
    }

    assert summary["echoes"] == {"answers": 0, "lines": [], "flagged": 0}
    assert summary["by_split"] == {"dev": 6}

    report = format_summary(summary)
    assert "interception rate" in report and "75.0%" in report and "3/4" in report
    assert "handoff recall" in report and "50.0%" in report
    assert "八折 x1" in report
    assert "complaint" in report


def test_summarize_handles_an_empty_run_and_rejects_mismatched_lengths():
    empty = summarize([], [], [])
    assert empty["interception"]["rate"] is None
    assert empty["handoff"]["precision"] is None
    assert "-" in format_summary(empty)
    with pytest.raises(ValueError, match="differ in length"):
        summarize([], [_question()], [])
    with pytest.raises(ValueError, match="differ in length"):
        summarize_groups([], [_question()], [])


def test_summarize_groups_gives_the_figures_per_store_and_split_with_echoes():
    questions = [
        _question(question="什么时候发货？", line=1),  # demo dev: right
        _question(question="这件T恤有现货吗", facts=("现货",), split="heldout", product="TS-001", line=2),  # echo
        _question(store="tea", question="包邮不", facts=("59",), split="heldout", line=3),  # tea held-out: right
        _question(
            store="tea", question="它保质期多久", facts=("18个月",), split="heldout", history=("龙井多少钱",), line=4
        ),  # wrong fact
    ]
    answers = [
        _answer("付款后24小时内发货", source="faq"),
        _answer("这件T恤有现货吗？", source="llm"),
        _answer("满59元包邮", source="llm", flags=("echo",)),  # a copy of the question was cut
        _answer("24个月", source="llm"),
    ]
    verdicts = [score(q, a) for q, a in zip(questions, answers, strict=True)]
    groups = summarize_groups(verdicts, questions, answers)

    assert groups["all"]["questions"] == 4
    assert groups["all"]["echoes"] == {"answers": 1, "lines": [2], "flagged": 1}
    assert list(groups["by_split"]) == ["dev", "heldout"]
    assert groups["by_split"]["heldout"]["fact_accuracy"] == {"hit": 1, "total": 3, "rate": 1 / 3}
    assert groups["by_split"]["dev"]["fact_accuracy"]["rate"] == 1.0
    assert groups["by_store"]["tea"]["fact_accuracy"] == {"hit": 1, "total": 2, "rate": 0.5}
    assert groups["by_store_split"]["demo"]["heldout"]["echoes"]["answers"] == 1
    assert set(groups["by_store_split"]["tea"]) == {"heldout"}  # no empty group

    report = format_groups(groups)
    rows = {line.split("  ")[0]: line for line in report.splitlines()}
    assert {"all", "dev", "heldout", "demo dev", "demo heldout", "demo all", "tea heldout"} <= set(rows)
    assert "tea all" not in rows  # a store with one split has one row
    assert "33.3%" in rows["heldout"] and "1/3" in rows["heldout"]
    assert rows["demo heldout"].split()[-1] == "1"  # its echo
    assert "echoes: lines 2" in report
    assert [line.split()[-2:] for line in report.splitlines() if line.startswith("model echoes cut")] == [["1", "4"]]
