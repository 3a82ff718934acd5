"""The keyword-FAQ timing: its questions must still be answered by a keyword FAQ entry."""

from engine.bench.faq import FAQ_QUESTIONS, keyword_faq_latency


def test_every_question_is_a_keyword_faq_answer_and_is_timed():
    figures = keyword_faq_latency(rounds=2)
    assert figures["n"] == 2 * len(FAQ_QUESTIONS)
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
