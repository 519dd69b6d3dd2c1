"""Where Jarvis keeps its files."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data directory (tokens, certificates, SQLite memory); created if missing.

    Order: explicit ``override``, ``$JARVIS_DATA_DIR``, ``$XDG_DATA_HOME/jarvis``,
    ``~/.local/share/jarvis``.
    """
    if override:
        path = Path(override)
    elif os.environ.get("JARVIS_DATA_DIR"):
        path = Path(os.environ["JARVIS_DATA_DIR"])
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        path = Path(base) / "jarvis"
    path.mkdir(parents=True, exist_ok=True)
    return path
