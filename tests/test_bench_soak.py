"""``jarvis bench soak`` for 20 s with 2 satellites (no docs written): the report has every figure, some
turns complete under the attack and across the kills, and no acknowledged write is lost."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from jarvis.server.bench import soak

pytestmark = pytest.mark.slow


async def test_short_soak_reports_turns_and_loses_no_write(_isolated_data_dir: Path) -> None:
    results = await soak.run_soak(minutes=20 / 60, sats=2, down_s=1.0, grace_s=2.0, baseline_turns=1)
    summary = results.summary()

    for key in ("baseline", "outside_kill_windows", "inside_kill_windows", "all"):
        counts = summary[key]
        assert set(counts) >= {"attempted", "completed", "completed_pct", "latency_p50_ms", "latency_p95_ms"}
        assert 0 <= counts["completed"] <= counts["attempted"]
    assert summary["all"]["attempted"] == (
        summary["outside_kill_windows"]["attempted"] + summary["inside_kill_windows"]["attempted"]
    )
    assert summary["all"]["completed"] > 0
    assert not math.isnan(summary["all"]["latency_p95_ms"])
    assert [w["service"] for w in summary["kill_windows"]] == ["stt", "tts", "brain"]
    assert all(w["restarted_at"] > w["killed_at"] for w in summary["kill_windows"])
    assert summary["rss_start_mb"] > 0 and summary["rss_end_mb"] > 0
    assert summary["acknowledged_writes_lost"] == 0
    assert summary["stored_facts"] >= summary["acknowledged_writes"]
    # The attack ran on every port and was answered within the bounds.
    attack = summary["attack"]
    assert set(attack["connections"]) == {"hub", "stt", "tts", "brain"}
    assert any(code.endswith(":bad-header") for code in attack["errors"])
    assert any(code.endswith(":too-many-connections") for code in attack["errors"])

    body = soak.render(results, "jarvis bench soak")
    assert body.startswith("## Soak")
    assert "acknowledged writes lost 0" in body
    # The run used its own data dir, not the caller's.
    assert not (_isolated_data_dir / "memory.sqlite3").exists()


def test_cli_registers_soak() -> None:
    from jarvis.server import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["soak", "--minutes", "0.5", "--sats", "2", "--no-write"])
    assert args._bench_module == "jarvis.server.bench.soak"
    assert args.minutes == 0.5 and args.sats == 2 and args.no_write
