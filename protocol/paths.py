"""Where Jarvis keeps its files."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data directory (tokens, certificates, SQLite memory); created if missing, private (0700).

    Order: explicit ``override``, ``$JARVIS_DATA_DIR``, ``$XDG_DATA_HOME/jarvis``,
    ``~/.local/share/jarvis``. It holds every user's memory, so other local users must not read it:
    a directory we own that is open to the group or others is narrowed to 0700.
    """
    if override:
        path = Path(override)
    elif os.environ.get("JARVIS_DATA_DIR"):
        path = Path(os.environ["JARVIS_DATA_DIR"])
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        path = Path(base) / "jarvis"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    make_private(path)
    return path


def make_private(path: Path) -> None:
    """Narrow ``path`` (a directory: 0700, a file: 0600) when we own it and others may read it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_uid != os.getuid() or not st.st_mode & 0o077:
        return
    path.chmod(0o700 if path.is_dir() else 0o600)
