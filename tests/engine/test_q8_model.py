"""The `fast` model's Q8_0 copy on CPUs that run q8_0 faster: when it is used, and that llama.cpp makes and runs it."""

from pathlib import Path

import pytest
from django.conf import settings

from engine import llm, model_files, service

XEON_FLAGS = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile amx_int8\n"
EPYC_FLAGS = "processor\t: 0\nflags\t\t: fpu sse avx avx2 fma\n"
ARM_FLAGS = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp i8mm\n"


def test_the_q8_kernels_are_read_from_the_cpu_flags():
    assert llm.q8_kernels(XEON_FLAGS) == "amx"
    assert llm.q8_kernels(EPYC_FLAGS) == "avx2"
    assert llm.q8_kernels(ARM_FLAGS) == ""  # not measured there: the file as it is
    assert llm.q8_kernels("flags\t: amx_int8x avx2x\n") == ""  # whole flags, not prefixes of others


def test_only_a_tier_marked_for_it_gets_the_copy_mapped_except_on_amx(tmp_path, monkeypatch, settings):
    made: list[str] = []
    kernels = ["amx"]
    monkeypatch.setattr(llm, "q8_copy", lambda path: made.append(path) or path + ".q8")
    monkeypatch.setattr(llm, "q8_kernels", lambda cpuinfo=None: kernels[0])
    fast = tmp_path / model_files.DEFAULT_MODEL.filename
    quality = tmp_path / model_files.QUALITY_MODEL.filename
    other = tmp_path / "my-own-model.gguf"
    for path in (fast, quality, other):
        path.write_bytes(b"GGUF")

    assert service.model_for_this_cpu(str(fast)) == (str(fast) + ".q8", False)  # not mapped: repacked in memory
    assert service.model_for_this_cpu(str(quality)) == (str(quality), True)  # its layers already run fast
    assert service.model_for_this_cpu(str(other)) == (str(other), True)  # a file we know nothing of
    kernels[0] = "avx2"
    assert service.model_for_this_cpu(str(fast)) == (str(fast) + ".q8", True)  # mapped: used as it is
    settings.ENGINE_Q8_COPY = False
    assert service.model_for_this_cpu(str(fast)) == (str(fast), True)
    settings.ENGINE_Q8_COPY = True
    kernels[0] = ""
    assert service.model_for_this_cpu(str(fast)) == (str(fast), True)
    assert made == [str(fast), str(fast)]


@pytest.mark.model
def test_llama_cpp_makes_a_q8_copy_once_and_it_answers(tmp_path):
    source = Path(settings.ENGINE_MODEL_DIR) / model_files.DEFAULT_MODEL.filename
    if not source.is_file():
        pytest.skip("the fast model is not here (make model)")
    local = tmp_path / source.name
    local.symlink_to(source)
    copy = Path(llm.q8_copy(str(local)))
    assert copy.name.endswith(llm.Q8_SUFFIX) and copy.stat().st_size > source.stat().st_size  # 8 bits a weight
    made_at = copy.stat().st_mtime_ns
    assert llm.q8_copy(str(local)) == str(copy) and copy.stat().st_mtime_ns == made_at  # made once
    assert not list(tmp_path.glob("*.partial"))

    rt = llm.LlamaRuntime(llm.RuntimeConfig(model_path=str(copy), n_ctx=1024, n_seq_max=2, use_mmap=False))
    try:
        prompt = rt.tokenize(rt.render_chat([{"role": "user", "content": "1+1等于几？只回答数字。"}]))
        rt.decode([(token, pos, 0, pos == len(prompt) - 1) for pos, token in enumerate(prompt)])
        first = rt.token_bytes(int(rt.logits(len(prompt) - 1).argmax())).decode("utf-8", errors="replace")
    finally:
        rt.close()
    assert "2" in first  # the copy still knows its sums
