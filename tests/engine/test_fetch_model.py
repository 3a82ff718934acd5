import hashlib
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from engine import model_files
from engine.model_files import ModelFileError, ModelSpec


@pytest.fixture
def fake_parts(tmp_path: Path) -> tuple[list[Path], ModelSpec]:
    """Three small part files standing in for the registry parts, and the spec they satisfy."""
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 2000, b"c" * 500]
    parts = []
    for n, chunk in enumerate(chunks, start=1):
        part = tmp_path / "parts" / f"part{n:02d}.bin"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(chunk)
        parts.append(part)
    whole = b"".join(chunks)
    spec = ModelSpec(filename="fake.gguf", distributions=(), size=len(whole), sha256=hashlib.sha256(whole).hexdigest())
    return parts, spec


def test_assemble_joins_parts_in_order_and_verifies(fake_parts, tmp_path):
    parts, spec = fake_parts
    target = tmp_path / "models" / "fake.gguf"
    seen: list[int] = []
    model_files.model_assemble(parts=parts, target=target, spec=spec, progress=seen.append)
    assert target.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert sum(seen) == spec.size
    assert model_files.model_is_verified(path=target, spec=spec)


def test_assemble_refuses_a_wrong_hash_and_leaves_no_file(fake_parts, tmp_path):
    parts, spec = fake_parts
    wrong = ModelSpec(filename=spec.filename, distributions=(), size=spec.size, sha256="0" * 64)
    target = tmp_path / "models" / "fake.gguf"
    with pytest.raises(ModelFileError, match="sha256"):
        model_files.model_assemble(parts=parts, target=target, spec=wrong)
    assert list(target.parent.iterdir()) == []


def test_assemble_refuses_parts_of_the_wrong_size(fake_parts, tmp_path):
    parts, spec = fake_parts
    with pytest.raises(ModelFileError, match="expected"):
        model_files.model_assemble(parts=parts[:2], target=tmp_path / "m.gguf", spec=spec)


def test_a_changed_file_is_no_longer_trusted(fake_parts, tmp_path):
    parts, spec = fake_parts
    target = model_files.model_assemble(parts=parts, target=tmp_path / "m.gguf", spec=spec)
    target.write_bytes(b"GGUF" + b"x" * (spec.size - 4))
    assert not model_files.model_is_verified(path=target, spec=spec)
    with pytest.raises(ModelFileError, match="sha256"):
        model_files.model_verify(path=target, spec=spec)


def test_fetch_model_command_refuses_a_mismatch_with_a_clear_message(fake_parts, tmp_path, settings, monkeypatch):
    parts, spec = fake_parts
    bad_spec = ModelSpec(filename="fake.gguf", distributions=(), size=spec.size, sha256="f" * 64)
    monkeypatch.setitem(model_files.TIERS, "fast", bad_spec)
    monkeypatch.setattr(model_files, "model_part_paths", lambda *, spec, where=None: parts)
    settings.ENGINE_MODEL_DIR = tmp_path / "models"
    with pytest.raises(CommandError, match=r"expected f{64}: refusing it"):
        call_command("fetch_model")
    assert not (tmp_path / "models" / "fake.gguf").exists()


def test_fetch_model_command_prints_the_path(fake_parts, tmp_path, settings, monkeypatch, capsys):
    parts, spec = fake_parts
    monkeypatch.setitem(model_files.TIERS, "fast", spec)
    monkeypatch.setattr(model_files, "model_part_paths", lambda *, spec, where=None: parts)
    settings.ENGINE_MODEL_DIR = tmp_path / "models"
    call_command("fetch_model", tier="fast")
    out = capsys.readouterr().out.strip()
    assert out == str(tmp_path / "models" / "fake.gguf")
    assert Path(out).stat().st_size == spec.size


def test_fetch_model_path_checks_an_existing_gguf(tmp_path, capsys):
    good = tmp_path / "mine.gguf"
    good.write_bytes(b"GGUF" + b"\0" * 64)
    call_command("fetch_model", "--path", str(good))
    assert capsys.readouterr().out.strip() == str(good.resolve())

    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_bytes(b"hello world")
    with pytest.raises(CommandError, match="not a GGUF file"):
        call_command("fetch_model", "--path", str(not_gguf))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("fetch_model", "--path", str(tmp_path / "missing.gguf"))
    with pytest.raises(CommandError, match="refusing it"):
        call_command("fetch_model", "--path", str(good), "--sha256", "0" * 64)


def test_missing_registry_part_is_named():
    spec = ModelSpec(filename="x.gguf", distributions=("no-such-model-part-xyz",), size=1, sha256="0" * 64)
    with pytest.raises(ModelFileError, match="no-such-model-part-xyz is not installed"):
        model_files.model_part_paths(spec=spec)


def test_model_tiers_name_the_files_the_settings_expect(settings):
    """`ENGINE_MODEL_TIER` picks a file name in settings; `fetch_model --tier` writes the same name."""
    assert set(model_files.TIERS) == set(settings.ENGINE_MODEL_FILES)
    for tier, spec in model_files.TIERS.items():
        assert settings.ENGINE_MODEL_FILES[tier] == spec.filename
        requirements = Path(settings.BASE_DIR) / spec.requirements
        pinned = [line.split("==")[0] for line in requirements.read_text().splitlines() if "==" in line]
        assert pinned == list(spec.distributions)
