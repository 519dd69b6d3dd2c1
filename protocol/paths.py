"""Where Jarvis keeps its files."""

from __future__ import annotations

import errno
import os
import tempfile
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


def check_writable(path: str | os.PathLike[str]) -> str | None:
    """None when this process can create files in the directory ``path``; else why not, in words.

    It really creates (and removes) a small file: permission bits say nothing about a read-only
    mount, a full disk or root's override, so only a write tells. Used at start-up so that a
    read-only data dir is reported once, clearly, instead of as failed writes later.
    """
    directory = Path(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=".jarvis-write-check-", dir=directory)
    except OSError as err:
        return f"{directory} is not writable: {_why(err)}"
    try:
        os.close(fd)
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass
    return None


def _why(err: OSError) -> str:
    if err.errno == errno.EROFS:
        return "it is on a read-only file system"
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied for uid {os.getuid()} (read-only folder)"
    if err.errno == errno.ENOSPC:
        return "the disk is full"
    if err.errno == errno.ENOENT:
        return "it does not exist"
    return err.strerror or str(err)


def private_file(path: str | os.PathLike[str], *, siblings: tuple[str, ...] = ()) -> None:
    """Create ``path`` (if missing) as 0600 whatever the umask, and narrow it and ``path + suffix``
    for each of ``siblings`` (``-wal``, ``-shm``: SQLite gives those the main file's mode) to 0600.

    Call it before ``sqlite3.connect`` (so the file is never world-readable, not even for a moment)
    and again once WAL is on. Raises ``OSError`` when the file cannot be created.
    """
    file = Path(path)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    for candidate in (file, *(Path(f"{file}{suffix}") for suffix in siblings)):
        make_private(candidate)
