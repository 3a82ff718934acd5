"""The typed payloads that cross the channel layer to an engine worker, and the answer stream's record."""

import json

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
