"""The process's one engine: a scheduler thread owning the llama.cpp runtime, built from settings."""

import threading

from django.conf import settings

from engine.scheduler import Runtime, Scheduler, SchedulerConfig

_lock = threading.Lock()
_scheduler: Scheduler | None = None


def _runtime() -> Runtime:
    from engine.llm import LlamaRuntime, RuntimeConfig

    return LlamaRuntime(
        RuntimeConfig(
            model_path=str(settings.ENGINE_MODEL_PATH),
            n_ctx=settings.ENGINE_N_CTX,
            n_seq_max=min(64, settings.ENGINE_PARALLEL * 4),
            n_threads=settings.ENGINE_THREADS,
        )
    )


def scheduler_config() -> SchedulerConfig:
    return SchedulerConfig(
        parallel=settings.ENGINE_PARALLEL,
        queue_size=settings.ENGINE_QUEUE_SIZE,
        draft_tokens=settings.ENGINE_DRAFT_TOKENS,
        state_cache_mb=settings.ENGINE_STATE_CACHE_MB,
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
