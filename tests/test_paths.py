"""The data directory holds every user's memory: it is private to the user who runs Jarvis."""

from __future__ import annotations

import stat
from pathlib import Path

from jarvis.protocol.paths import data_dir, make_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_data_dir_is_0700(tmp_path: Path) -> None:
    path = data_dir(tmp_path / "new" / "jarvis")
    assert path.is_dir() and _mode(path) == 0o700


def test_existing_open_data_dir_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "open"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    assert _mode(data_dir(path)) == 0o700


def test_make_private_file_and_already_private(tmp_path: Path) -> None:
    shared = tmp_path / "memory.sqlite3"
    shared.write_bytes(b"x")
    shared.chmod(0o644)
    make_private(shared)
    assert _mode(shared) == 0o600
    strict = tmp_path / "token"
    strict.write_bytes(b"x")
    strict.chmod(0o400)
    make_private(strict)  # already private: left as it is, not widened to 0600
    assert _mode(strict) == 0o400
    make_private(tmp_path / "missing")  # nothing to do, no error
