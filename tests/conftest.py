"""Shared fixtures. Real models, real sockets on 127.0.0.1; no network beyond loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own Jarvis data dir, so tokens and SQLite files never leak between tests."""
    data = tmp_path / "jarvis-data"
    monkeypatch.setenv("JARVIS_DATA_DIR", str(data))
    return data


@pytest.fixture(scope="session", autouse=True)
def _offline() -> None:
    """Nothing may download weights at test time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
