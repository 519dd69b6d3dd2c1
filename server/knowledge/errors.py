"""The errors of the document store: bad input (:class:`DocumentError`) and storage faults."""

from __future__ import annotations


class DocumentError(ValueError):
    """Bad input: unknown format, unreadable or too large file, bad visibility, unknown document."""


class UnsupportedFormat(DocumentError):
    """The file's extension names no format Jarvis can read."""


class EmbeddingError(RuntimeError):
    """The embedding model could not be loaded or did not answer (Ollama unreachable, no such model)."""


class StorageError(RuntimeError):
    """The index cannot be written or opened (read-only data dir, full disk, I/O error)."""
