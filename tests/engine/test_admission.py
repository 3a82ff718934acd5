"""Admission on the fake runtime: which sequence a queued job gets, and how warm it starts."""

from engine.admission import Job, slot_prepare
from engine.generate import GenerationRequest
from engine.kv_cache import KvCache, KvEntry
from tests.engine.fake_runtime import FakeRuntime

SYSTEM = "你是示例店铺的客服。" * 10
FIRST = "第一个问题，" * 10


def _messages(*turns: str) -> list[dict[str, str]]:
    roles = ["user", "assistant"]
    return [{"role": "system", "content": SYSTEM}] + [
        {"role": roles[i % 2], "content": text} for i, text in enumerate(turns)
    ]


def _prepare(rt: FakeRuntime, kv: KvCache, messages: list[dict[str, str]]):
    job = Job(request=GenerationRequest("j", "c1", messages, 16), sink=lambda ev: None)
    return slot_prepare(rt, kv, job, building=set(), active=(), draft_tokens=0, kv_margin=0)


def test_a_conversation_loaded_from_ram_shares_the_cached_store_prefix_again():
    rt = FakeRuntime(n_seq_max=4)
    kv = KvCache(state_cache_mb=8)
    prefix = rt.tokenize(rt.render_chat(_messages()[:1], add_generation_prompt=False))
    kv.add(KvEntry(seq=0, kind="prefix", key=f"prefix:{hash(tuple(prefix))}", tokens=list(prefix)))
    rt.kv[0] = dict(enumerate(prefix))
    # The conversation's first turn, parked: its saved state holds its own copy of the prefix.
    earlier = rt.tokenize(rt.render_chat(_messages("第一个问题"), add_generation_prompt=True)) + rt.tokenize("回答")
    rt.kv[1] = dict(enumerate(earlier))
    kv.add(KvEntry(seq=1, kind="conversation", key="conv:c1", tokens=list(earlier)))
    assert kv.park_idle(rt, budget=0) == 1 and not rt.kv[1]

    slot = _prepare(rt, kv, _messages("第一个问题", "回答", "追问"))

    assert slot is not None and slot.n_past > len(prefix)  # warm: only the new turn is left to evaluate
    entry = kv.find("conv:c1")
    assert entry is not None and entry.shared == len(prefix)  # its prefix cells are the store's, shared
    assert [rt.kv[slot.entry.seq][p] for p in range(len(prefix))] == prefix
    # Idle again, it counts only its own turns against the budget: it stays in the cache.
    entry.busy = False
    assert kv.park_idle(rt, budget=len(earlier) - len(prefix)) == 0


def _parked_sharing_the_prefix(rt: FakeRuntime, kv: KvCache) -> list[int]:
    """The conversation's first turn over the cached store prefix, parked; the prefix's tokens."""
    prefix = rt.tokenize(rt.render_chat(_messages()[:1], add_generation_prompt=False))
    kv.add(KvEntry(seq=0, kind="prefix", key=f"prefix:{hash(tuple(prefix))}", tokens=list(prefix)))
    rt.kv[0] = dict(enumerate(prefix))
    earlier = rt.tokenize(rt.render_chat(_messages(FIRST), add_generation_prompt=True)) + rt.tokenize("回答" * 20)
    rt.seq_copy(0, 1)
    rt.kv[1].update((pos, tok) for pos, tok in enumerate(earlier) if pos >= len(prefix))
    entry = KvEntry(seq=1, kind="conversation", key="conv:c1", tokens=list(earlier), shared=len(prefix))
    entry.shared_with = f"prefix:{hash(tuple(prefix))}"
    kv.add(entry)
    assert kv.park_idle(rt, budget=0) == 1 and not rt.kv[1]
    return prefix


def test_a_conversation_parked_over_the_store_prefix_comes_back_warm_on_it():
    rt = FakeRuntime(n_seq_max=4)
    kv = KvCache(state_cache_mb=8)
    prefix = _parked_sharing_the_prefix(rt, kv)
    assert len(rt.kv[0]) == len(prefix)  # parking left the store prefix whole

    slot = _prepare(rt, kv, _messages(FIRST, "回答" * 20, "追问"))

    assert slot is not None and slot.n_past > len(prefix)  # only the new turn is left to evaluate
    cells = rt.kv[slot.entry.seq]
    assert sorted(cells) == list(range(slot.n_past))  # the prefix (shared) and its first turn, no hole
    assert [cells[p] for p in range(len(prefix))] == prefix
    assert slot.entry.shared == len(prefix)


def test_a_conversation_parked_over_an_older_store_prefix_starts_from_the_new_one():
    rt = FakeRuntime(n_seq_max=4)
    kv = KvCache(state_cache_mb=8)
    _parked_sharing_the_prefix(rt, kv)
    # The store was edited: its prompt changed, and the old prefix left the cache.
    global SYSTEM
    old, SYSTEM = SYSTEM, SYSTEM + "新规则。"
    try:
        rt.seq_remove(0)
        kv.drop(0)
        slot = _prepare(rt, kv, _messages(FIRST, "回答" * 20, "追问"))
    finally:
        SYSTEM = old
    assert slot is not None and slot.n_past == 0  # evaluated afresh: the saved turns sat on the old prompt
    assert not rt.kv.get(slot.entry.seq) and slot.entry.tokens == []  # nothing of the old turns was loaded


def test_a_parked_store_prefix_is_loaded_back_not_evaluated_again():
    rt = FakeRuntime(n_seq_max=4)
    kv = KvCache(state_cache_mb=8)
    prefix = rt.tokenize(rt.render_chat(_messages()[:1], add_generation_prompt=False))
    key = f"prefix:{hash(tuple(prefix))}"
    kv.add(KvEntry(seq=0, kind="prefix", key=key, tokens=list(prefix), last_used=1.0))
    rt.kv[0] = dict(enumerate(prefix))
    kv.add(KvEntry(seq=1, kind="prefix", key="prefix:other", tokens=list(range(500)), last_used=2.0))
    rt.kv[1] = dict(enumerate(range(500)))
    assert kv.park_idle(rt, budget=0) == 1 and kv.find(key) is None and not rt.kv[0]

    slot = _prepare(rt, kv, _messages("新顾客的问题"))

    assert slot is not None and slot.n_past == len(prefix)  # the prefix came back from RAM, shared
    loaded = kv.find(key)
    assert loaded is not None and loaded.kind == "prefix" and slot.entry.shared_with == key
    assert [rt.kv[slot.entry.seq][p] for p in range(len(prefix))] == prefix
