"""`jarvis bench wake`: the engines on a real bench voice, and the report it writes."""

from __future__ import annotations

import pytest

from jarvis.protocol.wake import open_models
from jarvis.server.bench import voices as vo
from jarvis.server.bench import wake as wb

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not open_models(), reason="pyopen-wakeword is x86_64-only"),
]


def test_bench_counts_recall_false_wakes_and_renders_every_table() -> None:
    voice = vo.VOICES_BY_NAME["espeak-us-150"]
    if not voice.available:
        pytest.skip("espeak-ng is not installed")
    engines = ["micro", "both"]
    tallies = wb.run_bench([voice], ["clean"], engines, per_cell=2, seed=1)
    micro = tallies[("micro", voice.name, "clean")]
    both = tallies[("both", voice.name, "clean")]
    # espeak-ng's "hey jarvis" never wakes microWakeWord; the fused detector hears it.
    assert micro.hits == [False, False]
    assert both.hits == [True, True]
    assert len(both.lags) == 2 and all(-0.3 < lag < 0.6 for lag in both.lags)
    # The commands without the phrase were fed to both engines and woke neither.
    assert micro.audio_s > 2 and both.audio_s == micro.audio_s
    assert (micro.false, both.false) == (0, 0)
    assert both.cpu_s > micro.cpu_s > 0
    report = wb.render(tallies, engines, [voice], ["clean"])
    assert "| micro | en | 0% (0/2) |" in report
    assert "| both | en | 100% (2/2) |" in report
    assert "| espeak-us-150 | 0% (0/2) | 0 (0.0/h) | 100% (2/2) | 0 (0.0/h) |" in report
    assert "| clean | 0% (0/2) | 100% (2/2) |" in report
