"""Secrets made on first run and kept in the data dir (mode 0600), compared in constant time.

- The hub token, ``<data_dir>/token``: satellites (and the web page) present it in ``jarvis-auth``.
  ``jarvis serve`` prints it.
- The peer secret, ``<data_dir>/peer-secret``: the hub presents it to the brain in
  ``jarvis-peer-auth`` (jarvis.protocol.peer_auth), so that only the hub may say who is speaking.
  It is never printed; a split deployment copies the file (``--peer-secret-file``).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from jarvis.protocol.paths import data_dir

_LOGGER = logging.getLogger(__name__)

TOKEN_FILENAME = "token"
PEER_SECRET_FILENAME = "peer-secret"
#: Tokens shorter than this (from a file or a flag) are refused as too guessable.
MIN_TOKEN_CHARS = 16


class TokenError(Exception):
    """The token file exists but cannot be used (empty, too short, unreadable)."""


def token_path(directory: str | os.PathLike[str] | None = None) -> Path:
    return data_dir(directory) / TOKEN_FILENAME


def generate_token() -> str:
    """A fresh random token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def load_or_create_token(directory: str | os.PathLike[str] | None = None) -> tuple[str, bool]:
    """Return ``(token, created)``: the stored token, or a new one written with mode 0600.

    The file is created with ``O_EXCL`` so two processes starting at once agree on one token.
    """
    token, created = load_or_create_secret(token_path(directory))
    if created:
        _LOGGER.info("Created a new hub token in %s", token_path(directory))
    return token, created


def peer_secret_path(directory: str | os.PathLike[str] | None = None) -> Path:
    return data_dir(directory) / PEER_SECRET_FILENAME


def load_or_create_peer_secret(
    path: str | os.PathLike[str] | None = None, *, directory: str | os.PathLike[str] | None = None
) -> str:
    """The hub-to-brain peer secret from ``path`` (default ``<data dir>/peer-secret``), made if missing."""
    target = Path(path) if path else peer_secret_path(directory)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret, created = load_or_create_secret(target, nbytes=32)
    if created:
        _LOGGER.info("Created a new hub-to-brain peer secret in %s", target)
    return secret


def load_or_create_secret(path: Path, nbytes: int = 24) -> tuple[str, bool]:
    """Return ``(secret, created)``: the secret stored in ``path``, or a new one written with mode 0600.

    The new file appears whole (written aside, then hard-linked into place), so a process starting at
    the same moment (the hub and the brain on one data volume) never reads it half-written; of two
    creators, one wins and both use its secret.
    """
    if path.exists():
        return read_token(path), False
    secret = secrets.token_urlsafe(nbytes)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(aside, path)
        except FileExistsError:
            return read_token(path), False
        except OSError:  # no hard links on this file system: exclusive create, then write
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return read_token(path), False
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secret + "\n")
        return secret, True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(aside)


def read_token(path: Path) -> str:
    """Read a stored token (or secret); tightens a too-open file mode to 0600."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise TokenError(f"cannot read token file {path}: {err}") from err
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenError(
            f"token file {path} holds a token shorter than {MIN_TOKEN_CHARS} characters; "
            "delete it to generate a new one"
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        _LOGGER.warning("Token file %s had mode %o; setting 0600", path, mode)
        os.chmod(path, 0o600)
    return token


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison; a missing or empty token never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
