"""Chinese word segmentation: jieba, with its dictionary held in 9 MB instead of 62.

jieba keeps its dictionary as a Python dict of 498,000 words and word prefixes (the prefixes let it
stop extending a fragment early): 62 MB in every process that segments (the server with its embedded
engine, an engine worker, Celery), a sixteenth of what the whole engine may take. `CompactFreq` holds
the same map in sorted arrays of 64-bit keys (a fragment of up to four UTF-16 units is its own key; a
longer one is keyed by a 64-bit BLAKE2 digest) and answers jieba's `in`, `[]` and `get` by binary search:
9 to 15 MB with the lookups it remembers (below), indexing a store's texts 1.3x slower, a question's
retrieval as fast, the same words (tests/engine/test_segment.py holds it to jieba's own on the stores' texts).

The arrays are built once per jieba dictionary, in a child process (the dict jieba builds would leave
its memory fragmented in ours), and kept in the temporary directory beside jieba's own cache.
"""

import array
import bisect
import hashlib
import itertools
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import jieba

logger = logging.getLogger(__name__)

_SHORT_BYTES = 8  # a fragment of up to four UTF-16 code units is a key of its own
# Fragments looked up lately, found or not (a store's texts repeat their words): up to this many, then
# forgotten at once. 50,000 take ~5 MB; indexing 10,000 FAQ entries took 23 s without them, 13 s with them
# (jieba's own dict: 10 s), a question's retrieval p50 1.7 ms without, 1.2 ms with (the same as jieba's own).
RECENT_LOOKUPS = 50_000
_UNSEEN = object()
_lock = threading.Lock()
_ready = False


def _key(word: str) -> tuple[bool, int]:
    raw = word.encode("utf-16-le", "surrogatepass")
    if len(raw) <= _SHORT_BYTES:
        return True, int.from_bytes(raw, "little")
    return False, int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")


class CompactFreq:
    """jieba's word -> frequency map (0: only a prefix of longer words) in sorted arrays.

    Single characters, the first lookup at every position of a sentence, sit in a small dict. A word added
    later (`jieba.add_word`) goes to an overlay dict, as jieba would put it in its own.
    """

    __slots__ = (
        "_added",
        "_chars",
        "_long_freqs",
        "_long_keys",
        "_longest",
        "_recent",
        "_short_freqs",
        "_short_keys",
    )

    def __init__(
        self, short: tuple[array.array, array.array], long: tuple[array.array, array.array], *, longest: int
    ) -> None:
        self._longest = longest  # characters of the longest dictionary word: nothing longer is looked up
        keys, freqs = short
        singles = bisect.bisect_left(keys, 1 << 16)  # sorted: one UTF-16 unit first
        self._chars = {chr(keys[i]): freqs[i] for i in range(singles)}
        self._short_keys, self._short_freqs = keys[singles:], freqs[singles:]
        self._long_keys, self._long_freqs = long
        self._added: dict[str, int] = {}
        self._recent: dict[str, int | None] = {}

    def _find(self, word: str) -> int | None:
        found = self._recent.get(word, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        if self._added and word in self._added:
            return self._added[word]
        if len(word) > self._longest:
            return None  # jieba also asks for whole runs of unknown characters: not remembered either
        if len(word) == 1 and word < "\U00010000":  # one UTF-16 unit
            return self._chars.get(word)
        short, key = _key(word)
        keys, freqs = (self._short_keys, self._short_freqs) if short else (self._long_keys, self._long_freqs)
        at = bisect.bisect_left(keys, key)
        freq = freqs[at] if at < len(keys) and keys[at] == key else None
        if len(self._recent) >= RECENT_LOOKUPS:
            self._recent.clear()
        self._recent[word] = freq
        return freq

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._find(word) is not None

    def __getitem__(self, word: str) -> int:
        freq = self._find(word)
        if freq is None:
            raise KeyError(word)
        return freq

    def get(self, word: str, default: int | None = None) -> int | None:
        freq = self._find(word)
        return default if freq is None else freq

    def __setitem__(self, word: str, freq: int) -> None:
        self._added[word] = freq
        self._recent.pop(word, None)

    def __len__(self) -> int:
        return len(self._chars) + len(self._short_keys) + len(self._long_keys) + len(self._added)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("the compact dictionary cannot list its words")


def _dictionary_file() -> Path:
    return Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME)


FILE_FORMAT = 2  # of the file below: a change to it or to `_key` makes a new file


def _cache_path() -> Path:
    source = _dictionary_file()
    stat = source.stat()
    made = f"{FILE_FORMAT}|{jieba.__version__}|{source}|{stat.st_size}|{stat.st_mtime_ns}"
    tag = hashlib.sha256(made.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"shopdesk-jieba-{tag}.bin"


def build_arrays(out: str) -> None:
    """Write jieba's own dictionary map to `out` as sorted key and frequency arrays (run in a child process)."""
    freq, total = jieba.dt.gen_pfdict(jieba.dt.get_dict_file())
    short: list[tuple[int, int]] = []
    long: list[tuple[int, int]] = []
    for word, f in freq.items():
        is_short, key = _key(word)
        (short if is_short else long).append((key, f))
    short.sort()
    long.sort()
    if any(a[0] == b[0] for a, b in itertools.pairwise(long)):
        raise RuntimeError("two dictionary words share a digest")  # about 1 in 10^11: refuse rather than mix them
    longest = max(len(word) for word in freq)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out) or ".", prefix=".jieba-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(f"{len(short)} {len(long)} {total} {longest}\n".encode())
            for pairs in (short, long):
                array.array("Q", [k for k, _ in pairs]).tofile(f)
                array.array("q", [v for _, v in pairs]).tofile(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(path: Path | None = None) -> tuple[CompactFreq, int]:
    """The compact dictionary and jieba's frequency total, from `path` (built there first when missing or broken)."""
    path = path or _cache_path()
    for attempt in (1, 2):
        if not path.is_file():
            root = Path(__file__).resolve().parents[1]
            # Our own interpreter on our own module: no outside input reaches the command line.
            subprocess.run(  # noqa: S603
                [sys.executable, "-m", "engine.segment", str(path)],
                cwd=root,
                check=True,
                capture_output=True,
                timeout=300,
            )
        try:
            return _read(path)
        except (ValueError, EOFError):
            if attempt == 2:
                raise
            logger.warning("%s is broken: building it again", path)
            path.unlink(missing_ok=True)
    raise AssertionError("unreachable")


def _read(path: Path) -> tuple[CompactFreq, int]:
    with open(path, "rb") as f:
        header = f.readline(200)
        n_short, n_long, total, longest = (int(n) for n in header.split())
        if len(header) + 16 * (n_short + n_long) != path.stat().st_size:
            raise ValueError(f"{path}: not the size its header says")
        parts = []
        for n, code in ((n_short, "Q"), (n_short, "q"), (n_long, "Q"), (n_long, "q")):
            part = array.array(code)
            part.fromfile(f, n)
            parts.append(part)
        if f.read(1):
            raise ValueError(f"{path}: longer than its header says")
    return CompactFreq((parts[0], parts[1]), (parts[2], parts[3]), longest=longest), total


def ensure_ready() -> None:
    """Give jieba's default tokenizer the compact dictionary (once per process); jieba's own where that fails."""
    global _ready
    if _ready:
        return
    with _lock:
        if _ready:
            return
        jieba.setLogLevel(logging.WARNING)  # it writes "Building prefix dict..." to stderr
        try:
            freq, total = load()
        except (OSError, ValueError, EOFError, subprocess.SubprocessError) as exc:
            why = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")[-500:]
            logger.warning("compact jieba dictionary unavailable (%s %s): using jieba's own", exc, why)
            jieba.initialize()
        else:
            with jieba.dt.lock:
                jieba.dt.FREQ, jieba.dt.total = freq, total
                jieba.dt.initialized = True
        _ready = True


def cut(text: str, *, cut_all: bool = False) -> list[str]:
    """jieba's precise mode (or full mode with `cut_all`) words of `text`."""
    ensure_ready()
    return jieba.lcut(text, cut_all=cut_all)


def cut_for_search(text: str) -> list[str]:
    """jieba's search mode: precise-mode words, and the dictionary words inside the longer ones."""
    ensure_ready()
    return jieba.lcut_for_search(text)


if __name__ == "__main__":
    build_arrays(sys.argv[1])
