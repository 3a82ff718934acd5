"""The process's one engine: a scheduler thread owning the llama.cpp runtime, built from settings."""

import threading
from pathlib import Path

from django.conf import settings

from engine import model_files
from engine.scheduler import Runtime, Scheduler, SchedulerConfig

_lock = threading.Lock()
_scheduler: Scheduler | None = None


def _runtime() -> Runtime:
    from engine.llm import LlamaRuntime, RuntimeConfig

    path, use_mmap = model_for_this_cpu(str(settings.ENGINE_MODEL_PATH))
    return LlamaRuntime(
        RuntimeConfig(
            model_path=path,
            n_ctx=settings.ENGINE_N_CTX,
            n_seq_max=min(64, settings.ENGINE_PARALLEL * 4),
            n_threads=settings.ENGINE_THREADS,
            use_mmap=use_mmap,
        )
    )


def model_for_this_cpu(path: str) -> tuple[str, bool]:
    """The file the engine loads for the model at `path`, and whether to map it into memory.

    A tier marked for this CPU's kernels runs as its Q8_0 copy (ENGINE_Q8_COPY). A file holding layers llama.cpp
    repacks for this CPU's kernels (`engine.llm.REPACKED_TYPES`) is read into memory rather than mapped: the
    mapped pages would stay resident beside the repacked copy (the `quality` model on AMX: 2.1 GB mapped, 1.35
    GB read). Any other file is mapped, and processes on one machine share its pages.
    """
    from engine.llm import REPACKED_TYPES, q8_copy, q8_kernels

    kernels = q8_kernels()
    spec = next((s for s in model_files.TIERS.values() if s.filename == Path(path).name), None)
    if settings.ENGINE_Q8_COPY and spec is not None and kernels in spec.q8_copy and Path(path).is_file():
        path = q8_copy(path)
    repacked = REPACKED_TYPES.get(kernels, frozenset())
    if repacked and Path(path).is_file():
        try:
            return path, not repacked.intersection(model_files.gguf_tensor_types(Path(path)).values())
        except (OSError, model_files.ModelFileError):
            return path, True  # llama.cpp says what is wrong with it when it loads
    return path, True


def scheduler_config() -> SchedulerConfig:
    return SchedulerConfig(
        parallel=settings.ENGINE_PARALLEL,
        queue_size=settings.ENGINE_QUEUE_SIZE,
        draft_tokens=settings.ENGINE_DRAFT_TOKENS,
        state_cache_mb=settings.ENGINE_STATE_CACHE_MB,
        state_dir=str(settings.ENGINE_STATE_DIR),
        idle_kv_cells=settings.ENGINE_IDLE_KV_CELLS,
    )


def get_scheduler() -> Scheduler:
    global _scheduler
    with _lock:
        if _scheduler is None:
            _scheduler = Scheduler(_runtime, scheduler_config())
        _scheduler.start()  # also restarts a dead engine thread
        return _scheduler


def reset_scheduler() -> None:
    """Stop the engine (tests, and settings changes that need a new runtime)."""
    global _scheduler
    with _lock:
        if _scheduler is not None:
            _scheduler.stop()
        _scheduler = None
