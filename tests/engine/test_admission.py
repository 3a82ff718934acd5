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


def _other_store(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": "system", "content": "你是另一家茶叶店的客服。" * 10}, *messages[1:]]


def test_a_store_starting_on_an_idle_engine_gets_the_cache_to_itself_and_the_other_comes_back_warm():
    rt = FakeRuntime(n_seq_max=8)
    kv = KvCache(state_cache_mb=8)
    prefix = _parked_sharing_the_prefix(rt, kv)  # store A: its prefix cached, a chat of it parked
    b = rt.tokenize(rt.render_chat(_messages(FIRST, "回答" * 20)[:-1], add_generation_prompt=True))
    kv.add(KvEntry(seq=2, kind="conversation", key="conv:c2", tokens=b, shared=len(prefix)))
    kv.find("conv:c2").shared_with = kv.entries[0].key  # another chat of A, idle in the cache
    rt.seq_copy(0, 2)
    rt.kv[2].update((pos, tok) for pos, tok in enumerate(b) if pos >= len(prefix))

    job = Job(request=GenerationRequest("j2", "c3", _other_store(_messages("茶叶保质期多久？")), 16), sink=print)
    slot = slot_prepare(rt, kv, job, building=set(), active=(), draft_tokens=0, kv_margin=0)

    # Store B's prefix is built in an empty cache: nothing of A stays for its turns to attend over.
    assert slot is not None and slot.prefix_entry is not None and slot.n_past == 0
    assert set(kv.entries) == {slot.entry.seq, slot.prefix_entry.seq}
    assert all(not cells for seq, cells in rt.kv.items() if seq not in kv.entries)
    # A's chat was saved while A's prefix was still cached: its state holds its own turn, not the prefix.
    assert kv._states["conv:c2"].start == len(prefix)
    slot.entry.busy = slot.prefix_entry.busy = False

    # A's idle chat asks again: A's prefix comes back from RAM and the chat over it, only its new turn to go.
    again = slot_prepare(
        rt,
        kv,
        Job(request=GenerationRequest("j3", "c2", _messages(FIRST, "回答" * 20, "追问"), 16), sink=print),
        building=set(),
        active=(),
        draft_tokens=0,
        kv_margin=0,
    )
    assert again is not None and again.n_past == len(b) and again.entry.shared == len(prefix)


def test_nothing_is_parked_for_a_new_store_while_another_answer_runs():
    rt = FakeRuntime(n_seq_max=8)
    kv = KvCache(state_cache_mb=8)
    _parked_sharing_the_prefix(rt, kv)
    running = _prepare(rt, kv, _messages(FIRST, "回答" * 20, "追问"))
    assert running is not None
    job = Job(request=GenerationRequest("j2", "c3", _other_store(_messages("茶叶保质期多久？")), 16), sink=print)

    slot = slot_prepare(rt, kv, job, building=set(), active=[running], draft_tokens=0, kv_margin=0)

    assert slot is not None and kv.find(running.entry.key) is running.entry and 0 in kv.entries  # A stays


def _with_cached_prefix(kv: KvCache) -> tuple[FakeRuntime, KvCache, list[int], str]:
    """A runtime whose sequence 0 holds the store prefix of `_messages`, cached in `kv`."""
    rt = FakeRuntime(n_seq_max=6)
    prefix = rt.tokenize(rt.render_chat(_messages()[:1], add_generation_prompt=False))
    key = f"prefix:{hash(tuple(prefix))}"
    kv.add(KvEntry(seq=0, kind="prefix", key=key, tokens=list(prefix)))
    rt.kv[0] = dict(enumerate(prefix))
    return rt, kv, prefix, key


def test_a_new_chat_shares_the_cells_another_chat_of_the_store_holds_for_how_its_turn_opens():
    rt, kv, prefix, _ = _with_cached_prefix(KvCache(state_cache_mb=8))
    header = "参考资料：<<<\n[1] 问：什么时候发货？\n答：付款后24小时内发货。\n>>>\n顾客问题："
    first = _prepare(rt, kv, _messages(header + "周末下单什么时候发？"))
    assert first is not None and first.n_past == len(prefix)  # nothing to share yet
    rt.kv[first.entry.seq].update((p, t) for p, t in enumerate(first.prompt) if p >= len(prefix))
    first.entry.tokens, first.entry.busy = list(first.prompt), False

    job = Job(request=GenerationRequest("j2", "c2", _messages(header + "今天能发出吗？"), 16), sink=print)
    second = slot_prepare(rt, kv, job, building=set(), active=(), draft_tokens=0, kv_margin=0)

    opening = len(rt.tokenize(rt.render_chat(_messages(header)[:1], add_generation_prompt=False))) + len(
        rt.tokenize("<user>" + header)
    )
    assert second is not None and second.n_past == opening  # the store prefix and the turn's same opening
    cells = rt.kv[second.entry.seq]
    assert [cells[p] for p in range(second.n_past)] == second.prompt[: second.n_past]
    assert second.entry.tokens == second.prompt[: second.n_past] and second.entry.shared == len(prefix)

    # Another store's chat opening the same way shares nothing of it: its cells sit on another prefix.
    asked = _other_store(_messages(header + "今天能发出吗？"))
    other = Job(request=GenerationRequest("j3", "c3", asked, 16), sink=print)
    third = slot_prepare(rt, kv, other, building=set(), active=[second], draft_tokens=0, kv_margin=0)
    assert third is not None and third.n_past == 0


def test_a_new_chat_loads_how_its_turn_opens_from_a_saved_opening_and_leaves_it_saved():
    rt, kv, prefix, key = _with_cached_prefix(KvCache(state_cache_mb=8))
    header = (
        "参考资料：<<<\n[1] 问：什么时候发货？\n答：现货付款后24小时内发货，默认圆通快递，偏远地区顺延一到两天。"
        "\n>>>\n顾客问题："
    )
    # The opening evaluated ahead (engine.openings), then parked: its cells are saved, none are resident.
    opening = rt.tokenize(rt.render_chat(_messages(header)))
    rt.kv[1] = dict(enumerate(opening))
    parked = KvEntry(seq=1, kind="conversation", key="conv:opening-1", tokens=opening, shared=len(prefix))
    parked.shared_with = key
    kv.add(parked)
    assert kv.park_idle(rt, budget=0) == 1 and not rt.kv[1]

    asked = [_messages(header + "周末下单什么时候发？"), _messages(header + "今天能发出吗？")]
    slots = []
    for n, messages in enumerate(asked):
        job = Job(request=GenerationRequest(f"j{n}", f"c{n}", messages, 16), sink=print)
        slot = slot_prepare(rt, kv, job, building=set(), active=slots, draft_tokens=0, kv_margin=0)
        assert slot is not None
        slot.entry.busy = True
        slots.append(slot)

    opened = len(prefix) + len(rt.tokenize("<user>" + header))
    for slot in slots:
        assert slot.n_past == opened  # only the question is left to evaluate
        cells = rt.kv[slot.entry.seq]
        assert sorted(cells) == list(range(slot.n_past))  # nothing of the opening's own end is left over
        assert [cells[p] for p in range(slot.n_past)] == slot.prompt[: slot.n_past]
        assert slot.entry.tokens == slot.prompt[: slot.n_past] and slot.entry.shared == len(prefix)
    assert kv.has_saved("conv:opening-1")  # still there for the next chat

    # A chat of another store opening the same way, its own prefix cached, loads nothing of the saved cells:
    # they sit on the first store's prefix.
    other_messages = _other_store(asked[1])
    other_prefix = rt.tokenize(rt.render_chat(other_messages[:1], add_generation_prompt=False))
    kv.add(KvEntry(seq=5, kind="prefix", key=f"prefix:{hash(tuple(other_prefix))}", tokens=list(other_prefix)))
    rt.kv[5] = dict(enumerate(other_prefix))
    other = Job(request=GenerationRequest("j3", "c3", other_messages, 16), sink=print)
    third = slot_prepare(rt, kv, other, building=set(), active=slots, draft_tokens=0, kv_margin=0)
    assert third is not None and third.n_past == len(other_prefix)


def test_a_saved_opening_that_cannot_be_loaded_is_dropped_and_the_chat_evaluates_its_turn(tmp_path):
    rt, kv, prefix, key = _with_cached_prefix(KvCache(state_cache_mb=8, state_dir=tmp_path))
    header = "参考资料：<<<\n[1] 问：什么时候发货？\n答：现货付款后24小时内发货，默认圆通快递。" * 2
    opening = rt.tokenize(rt.render_chat(_messages(header)))
    rt.kv[1] = dict(enumerate(opening))
    parked = KvEntry(seq=1, kind="conversation", key="conv:opening-1", tokens=opening, shared=len(prefix))
    parked.shared_with = key
    kv.add(parked)
    assert kv.park_idle(rt, budget=0) == 1
    for state in tmp_path.glob("states-*/*.kv"):
        state.unlink()  # the disk lost it

    slot = _prepare(rt, kv, _messages(header + "今天能发出吗？"))

    assert slot is not None and slot.n_past == len(prefix)  # the turn is evaluated, from the store prefix
    assert sorted(rt.kv[slot.entry.seq]) == list(range(len(prefix)))
    assert not kv.has_saved("conv:opening-1")  # not tried again by every new chat
