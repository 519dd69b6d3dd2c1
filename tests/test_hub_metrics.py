"""Prometheus text rendering of server/metrics.py."""

from __future__ import annotations

import pytest

from jarvis.server.metrics import Registry


def test_counter_gauge_histogram_render() -> None:
    registry = Registry()
    turns = registry.counter("jarvis_turns_total", "Voice turns", ("result",))
    turns.inc(result="ok")
    turns.inc(2, result="ok")
    turns.inc(result='we"ird\n')
    registry.gauge("jarvis_hub_sessions", "Satellites").set(3)
    hist = registry.histogram("jarvis_stage_seconds", "Stage times", ("stage",), buckets=(0.1, 0.5, 1.0))
    for value in (0.05, 0.3, 0.3, 2.0):
        hist.observe(value, stage="stt")
    text = registry.render()
    assert "# TYPE jarvis_turns_total counter" in text
    assert 'jarvis_turns_total{result="ok"} 3' in text
    assert 'jarvis_turns_total{result="we\\"ird\\n"} 1' in text
    assert "# TYPE jarvis_hub_sessions gauge\njarvis_hub_sessions 3\n" in text
    assert 'jarvis_stage_seconds_bucket{stage="stt",le="0.1"} 1' in text
    assert 'jarvis_stage_seconds_bucket{stage="stt",le="0.5"} 3' in text
    assert 'jarvis_stage_seconds_bucket{stage="stt",le="1"} 3' in text
    assert 'jarvis_stage_seconds_bucket{stage="stt",le="+Inf"} 4' in text
    assert 'jarvis_stage_seconds_sum{stage="stt"} 2.65' in text
    assert 'jarvis_stage_seconds_count{stage="stt"} 4' in text
    assert text.endswith("\n")


def test_same_name_returns_same_metric_and_misuse_is_refused() -> None:
    registry = Registry()
    a = registry.counter("c_total", "c", ("x",))
    assert registry.counter("c_total", "c", ("x",)) is a
    with pytest.raises(ValueError):
        registry.gauge("c_total", "c", ("x",))
    with pytest.raises(ValueError):
        a.inc(y="1")
    with pytest.raises(ValueError):
        a.inc(-1, x="1")
