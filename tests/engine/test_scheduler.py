"""The scheduler's behaviour with a scripted fake runtime: no model needed, no timings asserted."""

import threading
import time

import pytest

from engine.generate import BACKGROUND, GenerationEvent, GenerationRequest
from engine.scheduler import Scheduler, SchedulerConfig
from tests.engine.fake_runtime import FakeRuntime

SYSTEM = "你是示例店铺的客服。本店T恤99元，24小时内发货。"


class Collector:
    def __init__(self) -> None:
        self.events: list[GenerationEvent] = []
        self.done = threading.Event()

    def __call__(self, event: GenerationEvent) -> None:
        self.events.append(event)
        if event.kind == "done":
            self.done.set()

    @property
    def final(self) -> GenerationEvent:
        assert self.done.wait(10), "the job never finished"
        return self.events[-1]

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if e.kind == "delta")


def request(job: str, conversation: str, question: str, history=(), **kw) -> GenerationRequest:
    messages = [{"role": "system", "content": SYSTEM}, *history, {"role": "user", "content": question}]
    return GenerationRequest(job_id=job, conversation_key=conversation, messages=messages, **kw)


@pytest.fixture
def make_scheduler():
    made: list[Scheduler] = []

    def make(runtime: FakeRuntime | None = None, **config) -> tuple[Scheduler, FakeRuntime]:
        rt = runtime or FakeRuntime()
        scheduler = Scheduler(lambda: rt, SchedulerConfig(**config))
        made.append(scheduler)
        return scheduler, rt

    yield make
    for scheduler in made:
        scheduler.stop()


def test_answer_streams_in_deltas_and_ends_with_stats(make_scheduler):
    scheduler, rt = make_scheduler(draft_tokens=0)
    out = Collector()
    assert scheduler.submit(request("j1", "c1", "什么时候发货?"), out)
    final = out.final
    assert final.finish_reason == "stop"
    assert out.text == final.text == rt.answer
    assert len([e for e in out.events if e.kind == "delta"]) >= 2
    assert final.stats.completion_tokens == len(rt.answer)
    assert final.stats.evaluated_tokens == final.stats.prompt_tokens


def test_follow_up_turn_evaluates_only_its_new_tokens(make_scheduler):
    scheduler, rt = make_scheduler()
    first = Collector()
    scheduler.submit(request("j1", "c1", "什么时候发货?"), first)
    cold = first.final.stats
    second = Collector()
    history = [{"role": "user", "content": "什么时候发货?"}, {"role": "assistant", "content": first.final.text}]
    scheduler.submit(request("j2", "c1", "T恤多少钱?", history=history), second)
    warm = second.final.stats
    assert warm.prompt_tokens > cold.prompt_tokens
    assert warm.evaluated_tokens < warm.prompt_tokens - cold.prompt_tokens + 10
    assert second.final.text == rt.answer


def test_a_new_conversation_reuses_the_store_prefix(make_scheduler):
    scheduler, _ = make_scheduler()
    a, b = Collector(), Collector()
    scheduler.submit(request("j1", "c1", "有现货吗?"), a)
    cold = a.final.stats
    scheduler.submit(request("j2", "c2", "什么时候发货?"), b)
    warm = b.final.stats
    prefix_len = len(f"<system>{SYSTEM}\n")
    assert cold.evaluated_tokens == cold.prompt_tokens
    assert warm.evaluated_tokens == warm.prompt_tokens - prefix_len
    # The same question in a third chat: the second chat's cells already hold all of its turn but the last token.
    c = Collector()
    scheduler.submit(request("j3", "c3", "什么时候发货?"), c)
    assert c.final.stats.evaluated_tokens == 1


def test_changed_store_prefix_is_not_reused(make_scheduler):
    scheduler, rt = make_scheduler()
    a, b = Collector(), Collector()
    scheduler.submit(request("j1", "c1", "有现货吗?"), a)
    a.final  # noqa: B018
    changed = GenerationRequest(
        job_id="j2",
        conversation_key="c2",
        messages=[
            {"role": "system", "content": SYSTEM + "新增：满300减50。"},
            {"role": "user", "content": "有现货吗?"},
        ],
    )
    scheduler.submit(changed, b)
    assert b.final.stats.evaluated_tokens == b.final.stats.prompt_tokens
    assert b.final.text == rt.answer


def test_concurrent_chats_are_decoded_together(make_scheduler):
    scheduler, rt = make_scheduler(parallel=4, draft_tokens=0)
    outs = [Collector() for _ in range(4)]
    for i, out in enumerate(outs):
        scheduler.submit(request(f"j{i}", f"c{i}", f"问题{i}"), out)
    for out in outs:
        assert out.final.text == rt.answer
    # Four answers one at a time would take 4x the decode calls of one answer.
    assert rt.decode_calls < 2 * (len(rt.answer) + 4)


def test_prompt_lookup_drafts_are_verified_and_save_decode_steps(make_scheduler):
    answer = "本店T恤99元，24小时内发货。"
    plain, rt_plain = make_scheduler(FakeRuntime(answer=answer), draft_tokens=0)
    out = Collector()
    plain.submit(request("j1", "c1", "T恤多少钱?"), out)
    assert out.final.text == answer

    drafted, rt_drafted = make_scheduler(FakeRuntime(answer=answer), draft_tokens=6)
    out2 = Collector()
    drafted.submit(request("j1", "c1", "T恤多少钱?"), out2)
    assert out2.final.text == answer  # drafting never changes the answer
    assert out2.final.stats.accepted_tokens > 0
    assert rt_drafted.decode_calls < rt_plain.decode_calls


def test_full_queue_refuses_at_once(make_scheduler):
    rt = FakeRuntime(answer="很长的回答" * 50, delay=0.01)
    scheduler, _ = make_scheduler(rt, parallel=1, queue_size=1)
    outs = [Collector() for _ in range(3)]
    accepted = [scheduler.submit(request(f"j{i}", f"c{i}", "问"), out) for i, out in enumerate(outs)]
    # One runs (or waits to), one waits in the queue; the third is refused without waiting.
    assert accepted.count(False) >= 1
    assert accepted[0] is True


def test_cancel_stops_between_tokens(make_scheduler):
    rt = FakeRuntime(answer="很长的回答" * 200, delay=0.01)
    scheduler, _ = make_scheduler(rt, draft_tokens=0)
    out = Collector()
    scheduler.submit(request("j1", "c1", "介绍一下", max_tokens=900), out)
    for _ in range(200):
        if any(e.kind == "delta" for e in out.events):
            break
        threading.Event().wait(0.01)
    scheduler.cancel("j1")
    final = out.final
    assert final.finish_reason == "cancelled"
    assert 0 < final.stats.completion_tokens < len(rt.answer)


def test_token_limit_ends_the_answer(make_scheduler):
    scheduler, _ = make_scheduler(FakeRuntime(answer="很长的回答" * 50), draft_tokens=0)
    out = Collector()
    scheduler.submit(request("j1", "c1", "介绍一下", max_tokens=5), out)
    assert out.final.finish_reason == "length"
    assert out.final.text == "很长的回答"


def test_engine_crash_fails_running_answers_and_recovers(make_scheduler):
    rt = FakeRuntime()
    scheduler, _ = make_scheduler(rt, draft_tokens=0)
    rt.fail_after_calls = 3
    out = Collector()
    scheduler.submit(request("j1", "c1", "有现货吗?"), out)
    assert out.final.finish_reason == "error"
    assert "simulated engine crash" in out.final.error
    rt.fail_after_calls = None
    again = Collector()
    scheduler.submit(request("j2", "c1", "有现货吗?"), again)
    assert again.final.text == rt.answer
    assert scheduler.restarts >= 1


def test_evicted_conversation_is_restored_from_saved_state(make_scheduler):
    # Two sequences only: a third conversation evicts the first, whose state goes to the RAM cache.
    rt = FakeRuntime(n_seq_max=2)
    scheduler, _ = make_scheduler(rt, parallel=1)
    first = Collector()
    scheduler.submit(request("j1", "c1", "第一个问题"), first)
    first.final  # noqa: B018
    for i in (2, 3):
        other = Collector()
        scheduler.submit(request(f"j{i}", f"c{i}", "别的问题"), other)
        other.final  # noqa: B018
    follow = Collector()
    history = [{"role": "user", "content": "第一个问题"}, {"role": "assistant", "content": rt.answer}]
    scheduler.submit(request("j9", "c1", "追问", history=history), follow)
    stats = follow.final.stats
    assert stats.evaluated_tokens < stats.prompt_tokens / 2
    assert follow.final.text == rt.answer


def test_a_finished_conversation_past_the_idle_budget_is_parked_and_its_follow_up_loads_it(make_scheduler):
    rt = FakeRuntime()
    scheduler, _ = make_scheduler(rt, parallel=1, idle_kv_cells=0)
    question = "这件T恤的面料是纯棉的吗？洗了会不会缩水变形？夏天穿着热不热？我平时穿L码，这件要选哪个码？"
    first = Collector()
    scheduler.submit(request("j1", "c1", question), first)
    first.final  # noqa: B018
    # Once answered, its cells left the KV cache (attention spans every cell in use): only the store prefix stays.
    assert _wait(lambda: len([seq for seq, cells in list(rt.kv.items()) if cells]) == 1)
    follow = Collector()
    history = [{"role": "user", "content": question}, {"role": "assistant", "content": rt.answer}]
    scheduler.submit(request("j2", "c1", "追问", history=history), follow)
    stats = follow.final.stats
    assert stats.evaluated_tokens < stats.prompt_tokens / 2  # its saved state came back: only the new turn
    assert follow.final.text == rt.answer


def _wait(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_live_chats_go_ahead_of_background_work(make_scheduler):
    rt = FakeRuntime(answer="很长的回答" * 20, delay=0.005)
    scheduler, _ = make_scheduler(rt, parallel=1, draft_tokens=0)
    order: list[str] = []

    class Recorder(Collector):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def __call__(self, event: GenerationEvent) -> None:
            if event.kind == "accepted":
                order.append(self.name)
            super().__call__(event)

    running, review, chat = Recorder("running"), Recorder("review"), Recorder("chat")
    scheduler.submit(request("j0", "c0", "介绍一下"), running)
    scheduler.submit(request("j1", "review:1", "写回复", priority=BACKGROUND), review)
    scheduler.submit(request("j2", "c2", "什么时候发货?"), chat)
    for out in (running, review, chat):
        assert out.final.finish_reason == "stop"
    # The review reply was queued before the shopper's question but started after it.
    assert order.index("chat") < order.index("review")


def test_background_work_leaves_half_the_queue_to_shoppers(make_scheduler):
    rt = FakeRuntime(answer="很长的回答" * 50, delay=0.01)
    scheduler, _ = make_scheduler(rt, parallel=1, queue_size=4)
    scheduler.submit(request("j0", "c0", "问"), Collector())
    accepted = [scheduler.submit(request(f"b{i}", f"r{i}", "写", priority=BACKGROUND), Collector()) for i in range(4)]
    assert accepted.count(True) <= 2
    # A shopper still finds room.
    assert scheduler.submit(request("j9", "c9", "问"), Collector())
