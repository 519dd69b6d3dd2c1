"""The pieces of `jarvis bench tts` that run without the reference venv: clients and voice linking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jarvis.server.bench.tts import TEXT, _table, prepare_ref_voice, request_plain, request_streaming
from jarvis.server.tts.__main__ import start_tts
from jarvis.server.tts.engine import default_voice_path

pytestmark = pytest.mark.slow


async def test_bench_clients_time_first_audio_and_the_whole_reply() -> None:
    async with await start_tts("tcp://127.0.0.1:0") as server:
        for request in (request_plain, request_streaming):
            timing = await request(server.uri, TEXT)
            assert 0 < timing.first_audio_s < timing.total_s
            # About 11 s of speech for the three sentences (piper's duration noise is a few percent).
            assert 8.0 < timing.audio_s < 14.0


def test_reference_voice_dir_links_the_same_voice_files(tmp_path: Path) -> None:
    model = default_voice_path()
    name = prepare_ref_voice(model, tmp_path / "piper-data")
    assert name == "en_US-joe-medium"
    onnx = tmp_path / "piper-data" / f"{name}.onnx"
    config = tmp_path / "piper-data" / f"{name}.onnx.json"
    assert onnx.resolve() == model.resolve()
    assert json.loads(config.read_text())["audio"]["sample_rate"] == 22050
    # Linking again (a second bench run) replaces the links instead of failing.
    assert prepare_ref_voice(model, tmp_path / "piper-data") == name


def test_table_without_reference_has_no_ratio() -> None:
    from jarvis.server.bench.procs import ServerProcess
    from jarvis.server.bench.tts import Target, Timing

    target = Target("jarvis", ServerProcess("jarvis", "tcp://127.0.0.1:1", None), streaming=True)  # type: ignore[arg-type]
    for mode in ("streaming", "synthesize", "streaming x4"):
        target.record(mode, [Timing(0.2, 1.0, 10.0), Timing(0.4, 1.2, 10.0)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ServerProcess, "peak_rss_mib", property(lambda self: 123.0))
        table = _table([target], 4)
    assert "| jarvis | streaming | 2 | 300.0 |" in table and "n/a" in table
    assert "| jarvis | 0.110 | 123.0 |" in table
