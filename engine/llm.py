"""The llama.cpp wrapper: the only module that imports llama_cpp.

One `LlamaRuntime` owns one model and one context with several sequences in a unified KV cache.
It is not thread-safe: exactly one thread (the scheduler's) calls it.
"""

import ctypes
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

logger = logging.getLogger(__name__)


class LlamaError(RuntimeError):
    pass


def physical_cores() -> int:
    """Physical cores available to this process: llama.cpp runs no faster on hyperthreads."""
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
    cores: set[tuple[str, str]] = set()
    try:
        cpu = physical = core = ""
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "processor":
                    cpu = value
                elif key == "physical id":
                    physical = value
                elif key == "core id":
                    core = value
                elif not key and cpu and int(cpu) in allowed:
                    cores.add((physical, core or cpu))
                    cpu = physical = core = ""
    except (OSError, ValueError):
        pass
    return max(1, min(len(cores) or len(allowed), len(allowed)))


@dataclass(frozen=True)
class RuntimeConfig:
    model_path: str
    n_ctx: int = 8192
    n_batch: int = 512
    n_seq_max: int = 16
    n_threads: int = 0  # 0: physical cores
    # Off where llama.cpp repacks the weights into memory of its own (x86 with AVX2 or AMX): a mapped file would
    # be a second copy.
    use_mmap: bool = True

    @property
    def threads(self) -> int:
        return self.n_threads or physical_cores()


class LlamaRuntime:
    def __init__(self, config: RuntimeConfig) -> None:
        if not Path(config.model_path).is_file():
            raise LlamaError(f"model file not found: {config.model_path} (run `python manage.py fetch_model`)")
        self.config = config
        llama_cpp.llama_backend_init()
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 0
        mparams.use_mmap = config.use_mmap
        self._model = llama_cpp.llama_model_load_from_file(config.model_path.encode(), mparams)
        if not self._model:
            raise LlamaError(f"llama.cpp could not load {config.model_path}")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = config.n_ctx
        cparams.n_batch = config.n_batch
        cparams.n_ubatch = config.n_batch
        cparams.n_seq_max = min(config.n_seq_max, llama_cpp.llama_max_parallel_sequences())
        cparams.n_threads = config.threads
        cparams.n_threads_batch = config.threads
        cparams.kv_unified = True  # sequences share prefix cells (store prompts) in one cache
        cparams.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            raise LlamaError("llama.cpp could not create a context")
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
        self.n_seq_max = llama_cpp.llama_n_seq_max(self._ctx)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._batch_cap = config.n_batch
        self._batch = llama_cpp.llama_batch_init(self._batch_cap, 0, 1)
        self._formatter = self._make_formatter()
        logger.info(
            "loaded %s: n_ctx=%d seqs=%d threads=%d", config.model_path, self.n_ctx, self.n_seq_max, config.threads
        )

    def close(self) -> None:
        if getattr(self, "_batch", None) is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if getattr(self, "_ctx", None):
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
        if getattr(self, "_model", None):
            llama_cpp.llama_model_free(self._model)
            self._model = None

    # --- text <-> tokens -------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = llama_cpp.llama_model_meta_val_str(self._model, key.encode(), buf, ctypes.sizeof(buf))
        if n < 0:
            return None
        if n >= ctypes.sizeof(buf):
            buf = ctypes.create_string_buffer(n + 1)
            llama_cpp.llama_model_meta_val_str(self._model, key.encode(), buf, ctypes.sizeof(buf))
        return buf.value.decode("utf-8", errors="replace")

    def _make_formatter(self) -> Jinja2ChatFormatter:
        template = self._meta("tokenizer.chat_template")
        if not template:
            raise LlamaError("the model has no chat template")
        eos = self.token_text(llama_cpp.llama_vocab_eos(self._vocab))
        bos_id = llama_cpp.llama_vocab_bos(self._vocab)
        bos = self.token_text(bos_id) if bos_id >= 0 else ""
        return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)

    def render_chat(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        """The model's own chat template applied to `messages`."""
        return str(
            self._formatter._environment.render(
                messages=list(messages),
                eos_token=self._formatter.eos_token,
                bos_token=self._formatter.bos_token,
                add_generation_prompt=add_generation_prompt,
                raise_exception=_raise,
            )
        )

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, cap, False, special)
        if n < 0:
            cap = -n
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, cap, False, special)
        return list(buf[:n])

    def token_bytes(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    def token_text(self, token: int) -> str:
        buf = ctypes.create_string_buffer(256)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, 256, 0, True)
        return buf.raw[: max(n, 0)].decode("utf-8", errors="replace")

    def is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    # --- KV cache sequences ----------------------------------------------------------------------

    def seq_remove(self, seq: int, start: int = 0, end: int = -1) -> None:
        llama_cpp.llama_memory_seq_rm(self._mem, seq, start, end)

    def seq_copy(self, src: int, dst: int, start: int = 0, end: int = -1) -> None:
        llama_cpp.llama_memory_seq_cp(self._mem, src, dst, start, end)

    def seq_max_pos(self, seq: int) -> int:
        return int(llama_cpp.llama_memory_seq_pos_max(self._mem, seq))

    def clear(self) -> None:
        llama_cpp.llama_memory_clear(self._mem, True)

    def seq_state_save(self, seq: int) -> bytes:
        size = llama_cpp.llama_state_seq_get_size(self._ctx, seq)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self._ctx, buf, size, seq)
        # string_at copies the bytes at once; slicing the ctypes array would build a list of ints first
        # (a quarter of a second for a 12 MB conversation, in the engine thread, while chats wait).
        return ctypes.string_at(buf, written)

    def seq_state_load(self, seq: int, data: bytes) -> bool:
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        return bool(llama_cpp.llama_state_seq_set_data(self._ctx, buf, len(data), seq))

    # --- decoding --------------------------------------------------------------------------------

    @property
    def batch_capacity(self) -> int:
        return self._batch_cap

    def decode(self, items: Sequence[tuple[int, int, int, bool]]) -> None:
        """Evaluate (token, position, sequence, want_logits) items in one llama_batch."""
        if not items:
            return
        if len(items) > self._batch_cap:
            raise LlamaError(f"batch of {len(items)} tokens exceeds {self._batch_cap}")
        batch = self._batch
        for i, (token, pos, seq, logits) in enumerate(items):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(items)
        rc = llama_cpp.llama_decode(self._ctx, batch)
        if rc != 0:
            raise LlamaError(f"llama_decode failed with {rc} (KV cache full?)")

    def logits(self, index: int) -> Any:
        """The logits of batch item `index` as a numpy view (valid until the next decode)."""
        ptr = llama_cpp.llama_get_logits_ith(self._ctx, index)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))


Q8_SUFFIX = ".q8_0.gguf"
EMBEDDING_TENSOR = "token_embd.weight"
OUTPUT_TENSOR = "output.weight"
# The ggml types llama.cpp repacks into memory of its own for each CPU's kernels (ggml-cpu's AMX and "repack"
# buffer types): a mapped file's pages of these stay resident beside the repacked copy.
REPACKED_TYPES = {
    "amx": frozenset(
        {
            llama_cpp.GGML_TYPE_Q4_0,
            llama_cpp.GGML_TYPE_Q4_1,
            llama_cpp.GGML_TYPE_Q8_0,
            llama_cpp.GGML_TYPE_Q4_K,
            llama_cpp.GGML_TYPE_Q5_K,
            llama_cpp.GGML_TYPE_Q6_K,
            llama_cpp.GGML_TYPE_IQ4_XS,
        }
    ),
    "avx2": frozenset(
        {llama_cpp.GGML_TYPE_Q4_0, llama_cpp.GGML_TYPE_Q2_K, llama_cpp.GGML_TYPE_Q4_K, llama_cpp.GGML_TYPE_IQ4_NL}
    ),
}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return set()
    line = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def q8_kernels(cpuinfo: str | None = None) -> str:
    """The kernels that run q8_0 faster than a q5_0/K-quant file on this CPU: "amx", "avx2", or "" (none known).

    AMX: int8 tiles (Intel Xeon since Sapphire Rapids). AVX2: llama.cpp's int8 matrix code (tinyBLAS) takes
    q8_0 prompts in one pass; q5_0 pays for unpacking its fifth bit.
    """
    flags = cpu_flags(cpuinfo)
    if "amx_int8" in flags:
        return "amx"
    return "avx2" if "avx2" in flags else ""


def q8_copy(path: str) -> str:
    """A Q8_0 copy of the GGUF file at `path`, made beside it once (seconds) and again when the file changes.

    Measured with the 0.5B model's Q4_K_M file (mostly q5_0 layers) against its Q8_0 copy, prompt / generation
    tokens a second on 2 cores: Xeon with AMX (whose kernels cannot run q5_0) 204 / 32 -> 466 / 43; AMD EPYC
    with AVX2 105 / 36 -> 144 / 36. Held-out facts and interception unchanged in `eval_answers`: re-quantizing
    upward loses nothing measurable. Where the file has an output layer of its own, the token embedding keeps
    the file's type, byte for byte: it is then only looked up, never multiplied, so 8 bits would cost memory
    (51 MB for the 0.5B model) and buy no speed.
    """
    from engine.model_files import gguf_tensor_types

    source = Path(path)
    target = source.with_name(source.name.removesuffix(".gguf") + Q8_SUFFIX)
    types = gguf_tensor_types(source)
    # Tied (no output layer of its own): the embedding is the output too, multiplied like the rest.
    embedding = types.get(EMBEDDING_TENSOR, -1) if OUTPUT_TENSOR in types else llama_cpp.GGML_TYPE_Q8_0
    if (
        target.is_file()
        and target.stat().st_mtime >= source.stat().st_mtime
        and gguf_tensor_types(target).get(EMBEDDING_TENSOR, -1) == embedding  # a copy from before it was kept
    ):
        return str(target)
    partial = target.with_name(target.name + ".partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = physical_cores()
    if embedding >= 0:
        params.token_embedding_type = embedding  # the same type: copied as it is, or q8_0 like the rest
    if llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params)) != 0:
        partial.unlink(missing_ok=True)
        raise LlamaError(f"llama.cpp could not make a Q8_0 copy of {source.name}")
    os.replace(partial, target)  # whole or not at all: a crash mid-way leaves only the .partial file
    logger.info("made %s, faster on this CPU", target.name)
    return str(target)


def _raise(message: str) -> None:
    raise LlamaError(message)


@llama_cpp.llama_log_callback
def _quiet_log(level: int, text: bytes, user_data: Any) -> None:
    # llama.cpp prints hundreds of lines per load; keep only errors, through logging.
    if level == 4:  # GGML_LOG_LEVEL_ERROR
        logger.error("llama.cpp: %s", text.decode("utf-8", errors="replace").rstrip())


llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p(0))
