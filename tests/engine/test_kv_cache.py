"""The KV-cache bookkeeping on the fake runtime: who is evicted first, and what is saved."""

import gc
import os
import shutil
import time

from engine.kv_cache import KvCache, KvEntry
from tests.engine.fake_runtime import FakeRuntime


def _fill(rt: FakeRuntime, entry: KvEntry) -> KvEntry:
    for pos, token in enumerate(entry.tokens):
        rt.kv.setdefault(entry.seq, {})[pos] = token
    return entry


def test_a_free_sequence_is_used_before_anything_is_evicted():
    rt = FakeRuntime(n_seq_max=3)
    kv = KvCache(state_cache_mb=1)
    kv.add(_fill(rt, KvEntry(seq=0, kind="conversation", key="conv:a", tokens=[1, 2])))
    assert kv.free_seq(rt) == 1
    assert kv.free_seq(rt, avoid={1}) == 2
    assert kv.find("conv:a") is not None


def test_idle_conversations_go_before_store_prefixes_and_busy_ones_never():
    rt = FakeRuntime(n_seq_max=3)
    kv = KvCache(state_cache_mb=1)
    kv.add(_fill(rt, KvEntry(seq=0, kind="prefix", key="prefix:1", tokens=[1, 2, 3], last_used=1.0)))
    kv.add(_fill(rt, KvEntry(seq=1, kind="conversation", key="conv:busy", tokens=[1, 2, 3, 4], busy=True)))
    kv.add(_fill(rt, KvEntry(seq=2, kind="conversation", key="conv:idle", tokens=[1, 2, 3, 5], last_used=2.0)))

    assert kv.free_seq(rt) == 2  # the idle conversation, although the prefix was used longer ago
    assert kv.find("conv:idle") is None and not rt.kv.get(2)  # its cells are gone too
    assert kv.free_seq(rt, avoid={2}) == 0  # then the prefix; the busy conversation stays
    assert kv.find("conv:busy") is not None


def test_an_evicted_conversation_is_saved_and_taken_back_once():
    rt = FakeRuntime(n_seq_max=1)
    kv = KvCache(state_cache_mb=1)
    kv.add(_fill(rt, KvEntry(seq=0, kind="conversation", key="conv:a", tokens=[7, 8, 9])))

    assert kv.free_seq(rt) == 0
    saved = kv.take_saved("conv:a")
    assert saved is not None and saved.tokens == [7, 8, 9] and saved.data and saved.start == 0
    assert kv.take_saved("conv:a") is None


def test_nothing_is_saved_without_a_state_cache():
    rt = FakeRuntime(n_seq_max=1)
    kv = KvCache(state_cache_mb=0)
    kv.add(_fill(rt, KvEntry(seq=0, kind="conversation", key="conv:a", tokens=[7, 8, 9])))
    assert kv.free_seq(rt) == 0
    assert kv.take_saved("conv:a") is None


def test_a_shared_prefix_counts_once_and_room_is_made_from_idle_entries_only():
    rt = FakeRuntime(n_seq_max=4)
    kv = KvCache(state_cache_mb=1)
    prefix = [1, 2, 3, 4]
    kv.add(_fill(rt, KvEntry(seq=0, kind="prefix", key="prefix:1", tokens=prefix)))
    for seq, key in ((1, "conv:a"), (2, "conv:b")):
        entry = KvEntry(seq=seq, kind="conversation", key=key, tokens=[*prefix, 10 + seq], last_used=seq)
        entry.shared, entry.shared_with = len(prefix), "prefix:1"
        kv.add(_fill(rt, entry))
    assert kv.cells_used() == 4 + 1 + 1

    assert kv.make_room(rt, 2, limit=8, keep=set())  # 6 + 2 fits
    assert len(kv.entries) == 3
    assert kv.make_room(rt, 3, limit=8, keep={"conv:a", "prefix:1"})  # 6 + 3 does not: conv:b goes
    assert kv.find("conv:b") is None and kv.cells_used() == 5
    assert not kv.make_room(rt, 8, limit=8, keep={"conv:a", "prefix:1"})  # nothing else may go


def test_idle_conversations_past_the_budget_are_parked_oldest_first():
    rt = FakeRuntime(n_seq_max=4)
    kv = KvCache(state_cache_mb=1)
    kv.add(_fill(rt, KvEntry(seq=0, kind="prefix", key="prefix:1", tokens=list(range(100)), last_used=0.0)))
    for seq, last_used in ((1, 3.0), (2, 1.0), (3, 2.0)):
        tokens = list(range(100)) + [seq] * 80  # the store prefix (shared) and 80 cells of its own
        entry = KvEntry(seq=seq, kind="conversation", key=f"conv:{seq}", tokens=tokens, last_used=last_used)
        entry.shared, entry.shared_with = 100, "prefix:1"
        kv.add(_fill(rt, entry))
    kv.find("conv:1").busy = True  # type: ignore[union-attr]  # answering now: never parked

    assert kv.park_idle(rt, budget=100) == 1
    assert kv.find("conv:2") is None and not rt.kv.get(2)  # the oldest idle one went, cells and all
    assert kv.find("conv:3") is not None and kv.find("conv:1") is not None
    assert kv.find("prefix:1") is not None  # the only store prefix, and chats sit on it: it stays
    saved = kv.take_saved("conv:2")  # and its state waits in RAM: its own 80 cells, not the shared prefix
    assert saved is not None and saved.tokens[-1] == 2 and (saved.start, saved.prefix_key) == (100, "prefix:1")
    assert sorted(dict(eval(saved.data.decode()))) == list(range(100, 180))  # noqa: S307 - the fake's own repr
    assert len(rt.kv[0]) == 100  # the prefix keeps its cells
    assert kv.park_idle(rt, budget=0) == 1 and kv.find("conv:3") is None


def test_a_conversation_whose_prefix_left_the_cache_is_saved_whole():
    rt = FakeRuntime(n_seq_max=1)
    kv = KvCache(state_cache_mb=1)
    entry = KvEntry(seq=0, kind="conversation", key="conv:a", tokens=[*range(10), 42], shared=10)
    entry.shared_with = "prefix:gone"
    kv.add(_fill(rt, entry))
    assert kv.free_seq(rt) == 0
    saved = kv.take_saved("conv:a")
    assert saved is not None and saved.start == 0 and len(dict(eval(saved.data.decode()))) == 11  # noqa: S307


def test_a_warm_up_stub_is_not_parked():
    rt = FakeRuntime(n_seq_max=2)
    kv = KvCache(state_cache_mb=1)
    kv.add(_fill(rt, KvEntry(seq=0, kind="prefix", key="prefix:1", tokens=list(range(500)))))
    stub = KvEntry(seq=1, kind="conversation", key="conv:warm", tokens=[*range(500), 1, 2, 3])
    stub.shared, stub.shared_with = 500, "prefix:1"
    kv.add(_fill(rt, stub))
    assert kv.park_idle(rt, budget=0) == 0  # saving 503 tokens of state to free 3 cells is no saving
    assert kv.find("conv:warm") is not None


def test_another_stores_idle_prefix_is_parked_and_the_latest_stays():
    rt = FakeRuntime(n_seq_max=6)
    kv = KvCache(state_cache_mb=1)
    tea, shoes, books = list(range(300)), list(range(1000, 1300)), list(range(2000, 2300))
    kv.add(_fill(rt, KvEntry(seq=0, kind="prefix", key="prefix:tea", tokens=tea, last_used=1.0)))
    kv.add(_fill(rt, KvEntry(seq=1, kind="prefix", key="prefix:shoes", tokens=shoes, last_used=2.0)))
    kv.add(_fill(rt, KvEntry(seq=2, kind="prefix", key="prefix:books", tokens=books, last_used=3.0)))
    stub = KvEntry(seq=3, kind="conversation", key="conv:warm-tea", tokens=[*tea, 1], shared=300)
    stub.shared_with = "prefix:tea"
    kv.add(_fill(rt, stub))
    chat = KvEntry(seq=4, kind="conversation", key="conv:shoes", tokens=[*shoes, *[7] * 100], shared=300)
    chat.shared_with = "prefix:shoes"
    kv.add(_fill(rt, chat))

    assert kv.park_idle(rt, budget=200) == 1
    assert kv.find("prefix:tea") is None and kv.find("conv:warm-tea") is None and not rt.kv.get(0)
    assert kv.find("prefix:shoes") is not None  # a chat of its store still sits on it
    assert kv.find("prefix:books") is not None  # the latest store served stays
    saved = kv.take_saved("prefix:tea")
    assert saved is not None and saved.tokens == tea and saved.start == 0


def test_no_prefix_is_parked_within_the_budget_or_without_a_state_cache():
    for budget, mb in ((1000, 1), (0, 0)):
        rt = FakeRuntime(n_seq_max=4)
        kv = KvCache(state_cache_mb=mb)
        kv.add(_fill(rt, KvEntry(seq=0, kind="prefix", key="prefix:tea", tokens=list(range(300)), last_used=1.0)))
        kv.add(_fill(rt, KvEntry(seq=1, kind="prefix", key="prefix:shoes", tokens=list(range(300)), last_used=2.0)))
        assert kv.park_idle(rt, budget=budget) == 0 and len(kv.entries) == 2


def test_a_conversation_left_holding_an_evicted_prefix_counts_those_cells_as_its_own():
    rt = FakeRuntime(n_seq_max=2)
    kv = KvCache(state_cache_mb=1)
    prefix = list(range(100))
    kv.add(_fill(rt, KvEntry(seq=0, kind="prefix", key="prefix:1", tokens=prefix, last_used=1.0)))
    chat = KvEntry(seq=1, kind="conversation", key="conv:a", tokens=[*prefix, 5, 6], shared=100, busy=True)
    chat.shared_with = "prefix:1"
    kv.add(_fill(rt, chat))
    assert kv.cells_used() == 102

    assert kv.free_seq(rt) == 0  # the prefix goes (the chat is answering)
    # The prefix coming back (rebuilt, or loaded from RAM) is 100 more cells: the chat's copy still counts.
    kv.add(_fill(rt, KvEntry(seq=0, kind="prefix", key="prefix:1", tokens=prefix)))
    assert (chat.shared, chat.shared_with) == (0, "") and kv.cells_used() == 202


def test_parking_everything_keeps_the_jobs_own_states_and_stays_within_half_the_budget():
    rt = FakeRuntime(n_seq_max=4)
    kv = KvCache(state_cache_mb=1)
    # The job's store prefix and another chat, parked earlier: together most of the 1 MB budget.
    for seq, key in ((0, "prefix:job"), (1, "conv:old")):
        kv.add(_fill(rt, KvEntry(seq=seq, kind="prefix" if seq == 0 else "conversation", key=key, tokens=[7] * 32_000)))
        kv.free_seq(rt, avoid={s for s in range(4) if s != seq})
    assert kv.has_saved("prefix:job") and kv.has_saved("conv:old")
    kv.add(_fill(rt, KvEntry(seq=2, kind="conversation", key="conv:idle", tokens=[8] * 32_000)))

    assert kv.park_all(rt, keep=("prefix:job",)) == 1
    # Its state pushed the oldest one out, and that was not the prefix the job is about to load.
    assert kv.has_saved("conv:idle") and kv.has_saved("prefix:job") and not kv.has_saved("conv:old")

    # A cache whose states would take more than half the budget stays as it is: parking would throw away more
    # than it saves.
    kv.add(_fill(rt, KvEntry(seq=3, kind="conversation", key="conv:long", tokens=[9] * 50_000)))
    assert kv.park_all(rt, keep=("prefix:job",)) == 0 and kv.find("conv:long") is not None and rt.kv[3]


def test_parking_everything_drops_warm_up_stubs_and_waits_for_busy_sequences():
    rt = FakeRuntime(n_seq_max=4)
    kv = KvCache(state_cache_mb=1)
    kv.add(_fill(rt, KvEntry(seq=0, kind="prefix", key="prefix:a", tokens=list(range(100)))))
    stub = KvEntry(seq=1, kind="conversation", key="conv:warm", tokens=list(range(102)), shared=100)
    stub.shared_with = "prefix:a"
    kv.add(_fill(rt, stub))
    busy = _fill(rt, KvEntry(seq=2, kind="conversation", key="conv:busy", tokens=list(range(300)), busy=True))
    kv.add(busy)
    assert kv.park_all(rt) == 0 and len(kv.entries) == 3  # an answer is running: nothing moves

    busy.busy = False
    assert kv.park_all(rt) == 3 and not kv.entries and not any(rt.kv.values())
    assert kv.has_saved("prefix:a") and kv.has_saved("conv:busy") and not kv.has_saved("conv:warm")


def _parked(kv: KvCache, rt: FakeRuntime, key: str, tokens: list[int]) -> None:
    seq = kv.free_seq(rt)
    assert seq is not None
    kv.add(_fill(rt, KvEntry(seq=seq, kind="conversation", key=key, tokens=tokens)))
    assert kv.park_idle(rt, budget=0) == 1


def test_saved_states_are_files_of_the_process_own_not_its_memory(tmp_path):
    rt = FakeRuntime(n_seq_max=2)
    kv = KvCache(state_cache_mb=1, state_dir=tmp_path)
    _parked(kv, rt, "conv:a", list(range(100)))

    (own,) = tmp_path.glob("states-*")
    (file,) = own.glob("*.kv")
    assert file.read_bytes() == repr(sorted(enumerate(range(100)))).encode()
    assert kv.has_saved("conv:a")

    saved = kv.take_saved("conv:a")
    assert saved is not None and saved.tokens == list(range(100))
    assert rt.seq_state_load(1, saved.data) and rt.kv[1][99] == 99  # the same bytes come back
    assert not file.exists() and kv.take_saved("conv:a") is None


def test_states_past_the_budget_leave_the_disk_too(tmp_path):
    rt = FakeRuntime(n_seq_max=2)
    kv = KvCache(state_cache_mb=1, state_dir=tmp_path)
    size = len(repr(sorted(enumerate([10**6] * 25_000))).encode())
    assert 1024 * 1024 / 3 < size <= 1024 * 1024 / 2  # two states fit in the MB, three do not
    for i in range(3):
        _parked(kv, rt, f"conv:{i}", [10**6 + i] * 25_000)

    assert not kv.has_saved("conv:0") and kv.has_saved("conv:1") and kv.has_saved("conv:2")
    assert len(list(tmp_path.glob("states-*/*.kv"))) == 2


def test_a_state_the_disk_cannot_take_is_lost_and_nothing_else(tmp_path, caplog):
    rt = FakeRuntime(n_seq_max=1)
    kv = KvCache(state_cache_mb=1, state_dir=tmp_path)
    for own in tmp_path.glob("states-*"):
        shutil.rmtree(own)  # as a full or vanished disk would refuse the write
    _parked(kv, rt, "conv:a", [1] * 100)

    assert kv.find("conv:a") is None and not rt.kv.get(0)  # evicted all the same
    assert kv.take_saved("conv:a") is None  # its next turn evaluates its tokens again
    assert "a saved conversation state was lost" in caplog.text


def test_only_directories_no_live_process_holds_are_removed_and_ours_goes_with_the_cache(tmp_path):
    gone = tmp_path / "states-gone"  # its process died: its lock file is there, nobody holds it
    gone.mkdir()
    (gone / "in-use.lock").touch()
    (gone / "0.kv").write_bytes(b"old")
    unlocked_old = tmp_path / "states-old"
    unlocked_old.mkdir()
    os.utime(unlocked_old, (time.time() - 120, time.time() - 120))
    being_made = tmp_path / "states-new"  # another process between making it and locking it
    being_made.mkdir()
    live = KvCache(state_cache_mb=1, state_dir=tmp_path)  # another engine, in its own container say
    (live_dir,) = (d for d in tmp_path.glob("states-*") if (d / "in-use.lock").exists() and d != gone)

    kv = KvCache(state_cache_mb=1, state_dir=tmp_path)

    assert not gone.exists() and not unlocked_old.exists()
    assert being_made.exists() and live_dir.exists()
    (own,) = set(tmp_path.glob("states-*")) - {being_made, live_dir}
    del kv
    gc.collect()
    assert not own.exists() and live_dir.exists()
    del live
    gc.collect()
    assert not live_dir.exists()


def test_without_a_directory_states_stay_in_ram(tmp_path):
    rt = FakeRuntime(n_seq_max=1)
    kv = KvCache(state_cache_mb=1)
    _parked(kv, rt, "conv:a", [1] * 100)
    assert kv.take_saved("conv:a") is not None
    assert not list(tmp_path.iterdir())


def test_a_state_directory_that_cannot_be_made_keeps_states_in_ram(tmp_path, caplog):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory would go")
    rt = FakeRuntime(n_seq_max=1)
    kv = KvCache(state_cache_mb=1, state_dir=blocked)
    _parked(kv, rt, "conv:a", [1] * 100)

    saved = kv.take_saved("conv:a")
    assert saved is not None and saved.data
    assert "saved states stay in RAM" in caplog.text
