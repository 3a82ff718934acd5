"""llama.cpp's sequence state saved without the store prefix it shares, through the real model."""

from pathlib import Path

import pytest
from django.conf import settings

from engine import llm, model_files
from engine.kv_cache import KvCache, KvEntry

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def rt():
    path = Path(settings.ENGINE_MODEL_DIR) / model_files.DEFAULT_MODEL.filename
    if not path.is_file():
        pytest.skip("the fast model is not here (make model)")
    runtime = llm.LlamaRuntime(llm.RuntimeConfig(model_path=str(path), n_ctx=2048, n_seq_max=4))
    yield runtime
    runtime.close()


def _answer(rt: llm.LlamaRuntime, seq: int, tokens: list[int], start: int, n: int = 12) -> list[int]:
    """Greedy tokens after evaluating tokens[start:] on `seq` (the rest already in its cells)."""
    rt.decode([(tok, start + i, seq, start + i == len(tokens) - 1) for i, tok in enumerate(tokens[start:])])
    out: list[int] = []
    pos = len(tokens)
    for _ in range(n):
        token = int(rt.logits(0 if out else len(tokens) - start - 1).argmax())
        if rt.is_end(token):
            break
        out.append(token)
        rt.decode([(token, pos, seq, True)])
        pos += 1
    return out


def _admit(rt: llm.LlamaRuntime, kv: KvCache, messages: list[dict[str, str]], conversation: str):
    """Admit a chat as the scheduler would, evaluate what its start left, answer greedily; (slot, answer)."""
    from engine.admission import Job, slot_prepare
    from engine.generate import GenerationRequest

    job = Job(request=GenerationRequest(conversation, conversation, messages, 12), sink=print)
    slot = slot_prepare(rt, kv, job, building=set(), active=(), draft_tokens=0, kv_margin=0)
    assert slot is not None
    if slot.prefix_entry is not None:  # the first chat builds the store prefix
        prefix = slot.prompt[: slot.prefix_len]
        rt.decode([(tok, pos, slot.prefix_entry.seq, False) for pos, tok in enumerate(prefix)])
        slot.prefix_entry.tokens, slot.prefix_entry.busy = list(prefix), False
        rt.seq_copy(slot.prefix_entry.seq, slot.entry.seq)
        slot.entry.tokens, slot.entry.shared, slot.n_past = list(prefix), len(prefix), len(prefix)
        slot.entry.shared_with = slot.prefix_entry.key
    answer = _answer(rt, slot.entry.seq, slot.prompt, slot.n_past)
    slot.entry.tokens, slot.entry.busy = list(slot.prompt), False
    return slot, answer


@pytest.mark.parametrize("in_files", [False, True], ids=["in RAM", "in files"])
def test_a_conversation_saved_without_its_shared_prefix_answers_as_it_would_have(rt, tmp_path, in_files):
    system = [{"role": "system", "content": "你是青山茶食小铺的客服。回答简短，只根据参考资料。" * 16}]
    prefix = rt.tokenize(rt.render_chat(system, add_generation_prompt=False))
    others = (("白茶", 168), ("普洱", 128), ("红茶", 98))
    reference = "参考资料：\n龙井：198元，有货30件，付款后48小时内发货，默认圆通快递。\n" + "".join(
        f"{name}：{price}元，有货，浙江产，100g纸罐装。\n" for name, price in others
    )
    turn = [*system, {"role": "user", "content": reference + "龙井多少钱？"}]
    first = rt.tokenize(rt.render_chat(turn))
    rt.clear()
    rt.decode([(tok, pos, 0, False) for pos, tok in enumerate(prefix)])
    rt.seq_copy(0, 1)
    rt.decode([(tok, len(prefix) + i, 1, False) for i, tok in enumerate(first[len(prefix) :])])
    follow = [*turn, {"role": "assistant", "content": "龙井198元。"}, {"role": "user", "content": "什么时候发货？"}]
    tokens = rt.tokenize(rt.render_chat(follow))
    assert tokens[: len(first)] == first

    whole_state = len(rt.seq_state_save(1))  # the first turn with its own copy of the prefix
    kv = KvCache(state_cache_mb=64, state_dir=tmp_path if in_files else "")
    kv.add(KvEntry(seq=0, kind="prefix", key="prefix:tea", tokens=list(prefix)))
    entry = KvEntry(seq=1, kind="conversation", key="conv:c", tokens=list(first), shared=len(prefix))
    entry.shared_with = "prefix:tea"
    kv.add(entry)
    assert kv.park_idle(rt, budget=0) == 1
    files = list(tmp_path.glob("states-*/*.kv"))
    assert len(files) == (1 if in_files else 0)
    saved = kv.take_saved("conv:c")
    assert not any(f.exists() for f in files)  # read back and removed
    assert saved is not None and saved.start == len(prefix)
    assert rt.seq_max_pos(1) < 0 and rt.seq_max_pos(0) == len(prefix) - 1  # gone; the prefix stayed whole

    # Back into another sequence over the cached prefix, then on with the follow-up ...
    assert rt.seq_state_load(2, saved.data)
    rt.seq_copy(0, 2, 0, len(prefix))
    assert rt.seq_max_pos(2) == len(first) - 1
    resumed = _answer(rt, 2, tokens, len(first))
    # ... against the same conversation evaluated whole in one sequence.
    rt.decode([(tok, pos, 3, False) for pos, tok in enumerate(first)])
    whole = _answer(rt, 3, tokens, len(first))

    text = b"".join(map(rt.token_bytes, resumed)).decode("utf-8", errors="replace")
    assert resumed == whole, text
    assert "48" in text  # and it reads its reference
    assert len(saved.data) * 3 < whole_state  # the saved state is the turn's cells, not the prompt's


def test_a_chat_sharing_another_chats_opening_answers_as_it_would_have(rt):
    system = {"role": "system", "content": "你是青山茶食小铺的客服。回答简短，只根据参考资料。" * 8}
    reference = "参考资料：<<<\n[1] 问：什么时候发货？\n答：现货付款后48小时内发货，默认圆通快递。\n>>>\n顾客问题："
    rt.clear()
    kv = KvCache(state_cache_mb=64)

    def admit(conversation: str, question: str):
        return _admit(rt, kv, [system, {"role": "user", "content": reference + question}], conversation)

    first, _ = admit("c1", "周末下单什么时候发？")
    second, shared = admit("c2", "今天下单什么时候能发？")
    assert second.n_past > first.prefix_len + 20  # the turn's opening came from the first chat's cells

    fresh_seq = 3
    rt.seq_remove(fresh_seq)
    fresh = _answer(rt, fresh_seq, second.prompt, 0)
    text = b"".join(map(rt.token_bytes, shared)).decode("utf-8", errors="replace")
    assert shared == fresh, text
    assert "48" in text  # it reads the reference it did not evaluate itself


@pytest.mark.parametrize("in_files", [False, True], ids=["in RAM", "in files"])
def test_a_chat_opening_like_a_saved_opening_answers_as_it_would_have(rt, tmp_path, in_files):
    system = {"role": "system", "content": "你是青山茶食小铺的客服。回答简短，只根据参考资料。" * 8}
    reference = (
        "参考资料：<<<\n[1] 问：什么时候发货？\n答：现货付款后48小时内发货，默认圆通快递。发货后订单页会显示快递单号，"
        "可以随时查看物流；节假日顺延，新疆、西藏等偏远地区另加一到两天，预售商品以商品页写的时间为准。\n>>>\n顾客问题："
    )
    rt.clear()
    kv = KvCache(state_cache_mb=64, state_dir=tmp_path if in_files else "")

    def admit(conversation: str, question: str):
        return _admit(rt, kv, [system, {"role": "user", "content": reference + question}], conversation)

    ahead, _ = admit("opening-1", "")  # the opening evaluated ahead (engine.openings) ...
    assert kv.park_idle(rt, budget=0) == 1  # ... and parked: none of its cells stay
    assert rt.seq_max_pos(ahead.entry.seq) < 0
    asked, loaded = admit("c1", "付款后多少小时内发货？")
    assert asked.n_past > ahead.prefix_len + 20  # the turn's opening came from the saved state

    fresh_seq = 3
    rt.seq_remove(fresh_seq)
    fresh = _answer(rt, fresh_seq, asked.prompt, 0)
    text = b"".join(map(rt.token_bytes, loaded)).decode("utf-8", errors="replace")
    assert loaded == fresh, text
    assert "48" in text  # it reads the reference it did not evaluate itself
