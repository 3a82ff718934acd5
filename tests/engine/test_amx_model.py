"""The `fast` model's Q8_0 copy on CPUs with AMX: when it is used, and that llama.cpp makes and runs it."""

from pathlib import Path

import pytest
from django.conf import settings

from engine import llm, model_files, service

XEON_FLAGS = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile amx_int8\n"
EPYC_FLAGS = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n"


def test_amx_is_read_from_the_cpu_flags():
    assert llm.cpu_has_amx(XEON_FLAGS)
    assert not llm.cpu_has_amx(EPYC_FLAGS)
    assert not llm.cpu_has_amx("flags\t: amx_int8x\n")  # a whole flag, not a prefix of another


def test_only_a_tier_marked_for_it_gets_the_copy_and_only_on_amx(tmp_path, monkeypatch, settings):
    made: list[str] = []
    monkeypatch.setattr(llm, "amx_copy", lambda path: made.append(path) or path + ".q8")
    monkeypatch.setattr(llm, "cpu_has_amx", lambda cpuinfo=None: True)
    fast = tmp_path / model_files.DEFAULT_MODEL.filename
    quality = tmp_path / model_files.QUALITY_MODEL.filename
    other = tmp_path / "my-own-model.gguf"
    for path in (fast, quality, other):
        path.write_bytes(b"GGUF")

    assert service.model_for_this_cpu(str(fast)) == (str(fast) + ".q8", False)  # not mapped: repacked in memory
    assert service.model_for_this_cpu(str(quality)) == (str(quality), True)  # its layers already run on AMX
    assert service.model_for_this_cpu(str(other)) == (str(other), True)  # a file we know nothing of
    settings.ENGINE_AMX_Q8 = False
    assert service.model_for_this_cpu(str(fast)) == (str(fast), True)
    monkeypatch.setattr(llm, "cpu_has_amx", lambda cpuinfo=None: False)
    settings.ENGINE_AMX_Q8 = True
    assert service.model_for_this_cpu(str(fast)) == (str(fast), True)
    assert made == [str(fast)]


@pytest.mark.model
def test_llama_cpp_makes_a_q8_copy_once_and_it_answers(tmp_path):
    source = Path(settings.ENGINE_MODEL_DIR) / model_files.DEFAULT_MODEL.filename
    if not source.is_file():
        pytest.skip("the fast model is not here (make model)")
    local = tmp_path / source.name
    local.symlink_to(source)
    copy = Path(llm.amx_copy(str(local)))
    assert copy.name.endswith(llm.AMX_SUFFIX) and copy.stat().st_size > source.stat().st_size  # 8 bits a weight
    made_at = copy.stat().st_mtime_ns
    assert llm.amx_copy(str(local)) == str(copy) and copy.stat().st_mtime_ns == made_at  # made once
    assert not list(tmp_path.glob("*.partial"))

    rt = llm.LlamaRuntime(llm.RuntimeConfig(model_path=str(copy), n_ctx=1024, n_seq_max=2, use_mmap=False))
    try:
        prompt = rt.tokenize(rt.render_chat([{"role": "user", "content": "1+1等于几？只回答数字。"}]))
        rt.decode([(token, pos, 0, pos == len(prompt) - 1) for pos, token in enumerate(prompt)])
        first = rt.token_bytes(int(rt.logits(len(prompt) - 1).argmax())).decode("utf-8", errors="replace")
    finally:
        rt.close()
    assert "2" in first  # the copy still knows its sums
