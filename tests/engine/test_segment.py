"""The compact jieba dictionary: the same words as jieba's own, in a fraction of the memory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jieba
import pytest

from engine import segment

ROOT = Path(__file__).resolve().parents[2]
STORE_FILES = [ROOT / "kb" / "demo" / "demo_store.json", *sorted((ROOT / "tests" / "eval").glob("store_*.json"))]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _texts() -> list[str]:
    """Every text of the stores' knowledge and every question of the evaluation, as retrieval segments them."""
    texts = [s for path in STORE_FILES for s in _strings(json.loads(path.read_text(encoding="utf-8")))]
    for line in (ROOT / "tests" / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            texts += _strings(json.loads(line))
    return [t.upper() for t in texts if t.strip()]


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory) -> tuple[jieba.Tokenizer, jieba.Tokenizer]:
    """jieba with its own dictionary, and jieba with the compact one built afresh."""
    own = jieba.Tokenizer()
    own.initialize()
    compact = jieba.Tokenizer()
    compact.FREQ, compact.total = segment.load(tmp_path_factory.mktemp("jieba") / "dict.bin")
    compact.initialized = True
    return own, compact


def test_the_compact_dictionary_gives_jiebas_own_words(tokenizers):
    own, compact = tokenizers
    texts = _texts()
    assert len(texts) > 1000

    for text in texts:
        assert compact.lcut(text) == own.lcut(text), text
        assert compact.lcut_for_search(text) == own.lcut_for_search(text), text
        assert compact.lcut(text, cut_all=True) == own.lcut(text, cut_all=True), text
    assert compact.total == own.total
    assert isinstance(compact.FREQ, segment.CompactFreq)


def test_lookups_answer_as_jiebas_dict(tokenizers):
    own, compact = tokenizers
    for word in ("的", "T恤", "连衣裙", "七天无理由", "中华人民共和国", "中华人民共和", "不是一个词的片段", "😀", "A"):
        assert (word in compact.FREQ) == (word in own.FREQ), word
        assert compact.FREQ.get(word) == own.FREQ.get(word), word
    assert compact.FREQ["中华人民共"] == 0  # a prefix of longer words only (中华人民共和国), not a word
    with pytest.raises(KeyError):
        compact.FREQ["不是一个词的片段"]


def test_a_word_added_later_is_found(tokenizers):
    _, compact = tokenizers
    assert compact.lcut("茉莉银毫很香") != ["茉莉银毫", "很香"]
    compact.add_word("茉莉银毫", freq=50_000)

    assert compact.lcut("茉莉银毫很香") == ["茉莉银毫", "很香"]


def test_remembered_lookups_stay_bounded_and_right(tokenizers, monkeypatch):
    own, compact = tokenizers
    monkeypatch.setattr(segment, "RECENT_LOOKUPS", 50)
    compact.FREQ._recent.clear()
    for text in _texts()[:200]:
        assert compact.lcut(text) == own.lcut(text), text
        assert len(compact.FREQ._recent) <= 50


def test_text_longer_than_any_word_is_not_remembered(tokenizers):
    _, compact = tokenizers
    compact.FREQ._recent.clear()
    run = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000))  # no word in it, one long run

    compact.lcut(run)

    assert max(map(len, compact.FREQ._recent)) <= compact.FREQ._longest < 30


def test_a_broken_dictionary_file_is_built_again(tmp_path, caplog):
    path = tmp_path / "dict.bin"
    path.write_bytes(b"12 3 4\nnot arrays")

    freq, total = segment.load(path)

    assert freq.get("连衣裙") == jieba.Tokenizer().gen_pfdict(jieba.dt.get_dict_file())[0]["连衣裙"]
    assert total > 0
    assert "building it again" in caplog.text


def test_a_process_that_segments_holds_a_fraction_of_jiebas_memory(tmp_path):
    # Fresh interpreters, both dictionaries already built (jieba's own cache, ours), RSS before and after loading.
    probe = (
        "import jieba, sys\n"
        "from engine import segment\n"
        "def rss():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS'))\n"
        "before = rss()\n"
        "segment.ensure_ready() if sys.argv[1] == 'compact' else jieba.initialize()\n"
        "grown = (rss() - before) // 1024\n"
        "print(jieba.lcut('这件T恤有哪些尺码') == ['这件', 'T恤', '有', '哪些', '尺码'], grown)\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    grown = {}
    for kind in ("own", "compact", "own", "compact"):  # the second pass: both caches are on disk
        done = subprocess.run(
            [sys.executable, "-c", probe, kind], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        same, mb = done.stdout.split()
        assert same == "True"
        grown[kind] = int(mb)

    assert grown["own"] >= 40
    assert grown["compact"] <= grown["own"] / 4
