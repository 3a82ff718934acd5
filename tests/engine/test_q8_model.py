"""The Q8_0 copy on CPUs that run q8_0 faster: when it is used, and that llama.cpp makes and runs it."""

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


def test_only_a_tier_marked_for_the_cpu_gets_the_copy_and_a_file_is_read_where_its_layers_are_repacked(
    tmp_path, monkeypatch, settings
):
    made: list[str] = []
    kernels = ["amx"]
    monkeypatch.setattr(llm, "q8_copy", lambda path: made.append(path) or path + ".q8")
    monkeypatch.setattr(llm, "q8_kernels", lambda cpuinfo=None: kernels[0])
    q5_0, q8_0, q4_k, q6_k = 6, 8, 12, 14
    fast = tmp_path / model_files.DEFAULT_MODEL.filename
    quality = tmp_path / model_files.QUALITY_MODEL.filename
    other = tmp_path / "my-own-model.gguf"
    types = {
        str(fast): {"blk.0.ffn_up.weight": q5_0, "blk.0.ffn_down.weight": q4_k, "output.weight": q8_0},
        str(fast) + ".q8": {"token_embd.weight": q5_0, "blk.0.ffn_up.weight": q8_0},
        str(quality): {"blk.0.ffn_up.weight": q4_k, "output.weight": q6_k},
        str(quality) + ".q8": {"blk.0.ffn_up.weight": q8_0},
        str(other): {"blk.0.ffn_up.weight": q5_0},
    }
    for path in types:
        Path(path).write_bytes(b"GGUF")
    monkeypatch.setattr(model_files, "gguf_tensor_types", lambda path: types[str(path)])

    # AMX repacks q8_0 and the K-quants into memory of its own: a mapped file would stay resident beside them.
    assert service.model_for_this_cpu(str(fast)) == (str(fast) + ".q8", False)
    assert service.model_for_this_cpu(str(quality)) == (str(quality) + ".q8", False)
    assert service.model_for_this_cpu(str(other)) == (str(other), True)  # q5_0 is not repacked: mapped
    kernels[0] = "avx2"
    assert service.model_for_this_cpu(str(fast)) == (str(fast) + ".q8", True)  # AVX2 runs q8_0 as it is
    assert service.model_for_this_cpu(str(quality)) == (str(quality), False)  # K-quants repacked, fast already
    settings.ENGINE_Q8_COPY = False
    assert service.model_for_this_cpu(str(fast)) == (str(fast), False)  # its q4_K layers are repacked
    settings.ENGINE_Q8_COPY = True
    kernels[0] = ""  # no kernels we measured (ARM, say): the file as it is, mapped
    assert service.model_for_this_cpu(str(fast)) == (str(fast), True)
    assert service.model_for_this_cpu(str(quality)) == (str(quality), True)
    assert made == [str(fast), str(quality), str(fast)]


def test_the_tensor_types_are_read_from_a_gguf_header(tmp_path):
    import struct

    def text(value: str) -> bytes:
        raw = value.encode()
        return struct.pack("<Q", len(raw)) + raw

    header = b"GGUF" + struct.pack("<IQQ", 3, 2, 3)
    header += text("general.name") + struct.pack("<I", 8) + text("tiny")
    header += text("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + text("你") + text("好")
    header += text("tokenizer.scores") + struct.pack("<IIQ", 9, 6, 2) + struct.pack("<ff", 0.5, 0.25)
    header += text("token_embd.weight") + struct.pack("<IQQ", 2, 8, 4) + struct.pack("<IQ", 6, 0)
    header += text("output.weight") + struct.pack("<IQQ", 2, 8, 4) + struct.pack("<IQ", 8, 64)
    path = tmp_path / "tiny.gguf"
    path.write_bytes(header)
    assert model_files.gguf_tensor_types(path) == {"token_embd.weight": 6, "output.weight": 8}

    path.write_bytes(header[:40])
    with pytest.raises(model_files.ModelFileError, match="ends inside its GGUF header"):
        model_files.gguf_tensor_types(path)
    path.write_bytes(b"PK\x03\x04" + header[4:])
    with pytest.raises(model_files.ModelFileError, match="not a GGUF file"):
        model_files.gguf_tensor_types(path)


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
    types, source_types = model_files.gguf_tensor_types(copy), model_files.gguf_tensor_types(source)
    q8_0 = 8
    assert types["blk.0.ffn_down.weight"] == q8_0 != source_types["blk.0.ffn_down.weight"]
    assert types[llm.EMBEDDING_TENSOR] == source_types[llm.EMBEDDING_TENSOR] != q8_0  # looked up: kept as it was

    rt = llm.LlamaRuntime(llm.RuntimeConfig(model_path=str(copy), n_ctx=1024, n_seq_max=2, use_mmap=False))
    try:
        prompt = rt.tokenize(rt.render_chat([{"role": "user", "content": "1+1等于几？只回答数字。"}]))
        rt.decode([(token, pos, 0, pos == len(prompt) - 1) for pos, token in enumerate(prompt)])
        first = rt.token_bytes(int(rt.logits(len(prompt) - 1).argmax())).decode("utf-8", errors="replace")
    finally:
        rt.close()
    assert "2" in first  # the copy still knows its sums


def test_a_copy_whose_embedding_differs_from_the_file_is_made_again(tmp_path, monkeypatch):
    source = tmp_path / "model.gguf"
    source.write_bytes(b"GGUF source")
    target = tmp_path / ("model" + llm.Q8_SUFFIX)
    target.write_bytes(b"GGUF an older copy")
    types = {str(source): {llm.EMBEDDING_TENSOR: 6, llm.OUTPUT_TENSOR: 8}, str(target): {llm.EMBEDDING_TENSOR: 8}}
    monkeypatch.setattr(model_files, "gguf_tensor_types", lambda path: types[str(path)])
    asked: list[int] = []

    def quantize(src: bytes, dst: bytes, params) -> int:
        asked.append(params._obj.token_embedding_type)
        Path(dst.decode()).write_bytes(b"GGUF the new copy")
        types[str(target)] = {llm.EMBEDDING_TENSOR: params._obj.token_embedding_type}
        return 0

    monkeypatch.setattr(llm.llama_cpp, "llama_model_quantize", quantize)
    assert llm.q8_copy(str(source)) == str(target)
    assert asked == [6] and target.read_bytes() == b"GGUF the new copy"  # the older copy is replaced
    assert llm.q8_copy(str(source)) == str(target) and asked == [6]  # and then kept

    # A model whose embedding is its output layer too (no output tensor of its own): multiplied, so q8_0.
    del types[str(source)][llm.OUTPUT_TENSOR]
    assert llm.q8_copy(str(source)) == str(target) and asked == [6, 8]
