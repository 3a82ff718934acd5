"""The typed payloads that cross the channel layer to an engine worker, and the answer stream's record."""

import json
from decimal import Decimal

import pytest

from engine.generate import AnswerJob, AnswerStream, GenerationEvent, GenerationRequest


def make_job(**overrides):
    request = GenerationRequest(
        job_id="j1",
        conversation_key="7",
        messages=[{"role": "system", "content": "店铺"}, {"role": "user", "content": "有货吗"}],
    )
    fields = {
        "request": request,
        "store_id": 3,
        "reference": "库存：20",
        "question": "有货吗",
        "matched": ({"kind": "product", "id": 5, "title": "纯棉T恤"},),
        "conversation_id": 7,
        "question_id": 11,
        **overrides,
    }
    return AnswerJob(**fields)


@pytest.mark.parametrize("draft", [False, True])
def test_a_job_survives_the_trip_through_json_unchanged(draft):
    job = make_job(draft=draft)
    travelled = AnswerJob.from_dict(json.loads(json.dumps(job.to_dict())))
    assert travelled == job
    assert travelled.job_id == "j1" and travelled.draft is draft


def test_a_job_with_keys_nobody_knows_is_refused():
    data = make_job().to_dict()
    with pytest.raises(ValueError, match="does not take meta"):
        AnswerJob.from_dict({**data, "meta": {}})
    with pytest.raises(ValueError, match="does not take prompt"):
        AnswerJob.from_dict({**data, "request": {**data["request"], "prompt": "x"}})


class _PassGuard:
    flags: list[str] = []
    replaced = 0
    looping = False

    def feed(self, delta):
        return delta

    def finish(self):
        return ""


def test_the_stream_records_what_the_shopper_saw_and_how_it_ended():
    stream = AnswerStream(_PassGuard())
    assert stream.feed("亲，") == "亲，"
    stream.feed("有现货")
    tail, result = stream.finish(GenerationEvent(job_id="j1", kind="done", finish_reason="length"))
    assert tail == "" and result.text == "亲，有现货"
    assert (result.source, result.partial, result.flags, result.error) == ("llm", False, ("length",), "")


def test_a_busy_engine_says_so_and_a_failed_one_apologises():
    _tail, busy = AnswerStream(_PassGuard()).finish(GenerationEvent(job_id="j", kind="done", finish_reason="busy"))
    assert (busy.text, busy.source, busy.error) == (AnswerStream.BUSY_TEXT, "template", "busy")
    tail, failed = AnswerStream(_PassGuard()).finish(GenerationEvent(job_id="j", kind="done", finish_reason="error"))
    assert tail == failed.text == AnswerStream.FAILED_TEXT
    assert (failed.source, failed.partial, failed.error) == ("template", True, "engine_error")


def _stream_of(deltas, *, reason="stop", question="", fallback=""):
    from engine.guard import StreamGuard
    from engine.knowledge import StoreSnapshot

    guard = StreamGuard(StoreSnapshot(store_id=1, slug="s", name="店"), question=question)
    stream = AnswerStream(guard, fallback=fallback, question=question)
    shown = ""
    for delta in deltas:
        shown += stream.feed(delta)
        if stream.stop_requested:
            reason = "cancelled"  # what the worker does: cancel the job
            break
    tail, result = stream.finish(GenerationEvent(job_id="j", kind="done", finish_reason=reason))
    return shown + tail, result, stream


def test_a_repetition_loop_stops_at_once_and_is_never_recorded_twice():
    looped = ["亲，这件还有货吗？", "我想要黑色L码。"] * 40
    _, result, stream = _stream_of(looped)
    assert stream.stop_requested
    assert result.text.count("我想要黑色L码") == 1
    assert "repetition" in result.flags and not result.partial


def test_an_answer_that_only_echoes_the_question_gives_the_stores_entry():
    question = "纯棉T恤会缩水吗？"
    entry = "纯棉面料都会有轻微缩水（约2%-3%）。"
    _, result, _ = _stream_of([question], question=question, fallback=entry)
    assert result.text == entry and result.source == "faq" and "fallback" in result.flags
    # Without an entry to fall back on, it is the honest "a person will help" (recorded as the guardrail's).
    _, bare, _ = _stream_of([question], question=question)
    assert bare.source == "guardrail" and question not in bare.text


def test_an_answer_cut_at_the_length_limit_keeps_its_finished_sentences():
    _, result, _ = _stream_of(["亲，有现货。", "库存不分颜色，下单页面"], reason="length")
    assert result.text == "亲，有现货。" and "trimmed" in result.flags


def test_a_label_before_the_answer_is_not_shown():
    shown, result, _ = _stream_of(["答", "：亲，", "有现货。"])
    assert shown == "亲，有现货。" and result.text == "亲，有现货。"
    plain, _, _ = _stream_of(["答案", "在商品页。"])
    assert plain == "答案在商品页。"


def test_a_job_keeps_its_fallback_on_the_way_to_a_worker():
    job = make_job(fallback="付款后24小时内发货。")
    assert AnswerJob.from_dict(json.loads(json.dumps(job.to_dict()))).fallback == "付款后24小时内发货。"


def test_an_echo_loop_stopped_by_the_guard_gives_the_entry():
    question = "纯棉的衣服洗了会缩水吗？"
    entry = "纯棉面料都会有轻微缩水（约2%-3%）。"
    _, result, stream = _stream_of([question] * 30, question=question, fallback=entry)
    assert stream.stop_requested and result.text == entry and result.source == "faq"
    # Saying the question twice is no answer either: without an entry, "not sure" and a person.
    _, twice, _ = _stream_of(["这件会缩水吗？这件会缩水吗？"], question="这件会缩水吗？")
    assert twice.source == "guardrail" and "缩水" not in twice.text


def test_a_disclaimer_does_not_hide_an_unfinished_answer():
    from engine.guard import StreamGuard
    from engine.knowledge import PromotionFact, StoreSnapshot

    store = StoreSnapshot(
        store_id=1,
        slug="s",
        name="店",
        disclaimer="以页面为准。",
        promotions=(PromotionFact(id=1, title="满99包邮", kind="free_shipping", threshold=Decimal("99")),),
    )
    stream = AnswerStream(StreamGuard(store, question="包邮吗？"))
    stream.feed("亲，满99元包邮。面料是纯棉，透气")
    _, result = stream.finish(GenerationEvent(job_id="j", kind="done", finish_reason="length"))
    assert result.text.startswith("亲，满99元包邮。") and "透气" not in result.text
    assert result.text.endswith("以页面为准。") and "trimmed" in result.flags
