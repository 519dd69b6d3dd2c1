"""The document index: ``<data dir>/documents.sqlite3``, beside ``memory.sqlite3``.

Tables: ``documents`` (owner, visibility, group, path, title, content hash), ``members`` (who is in
which named group), ``chunks`` (section path and text), ``chunks_fts`` (FTS5, BM25) and
``chunks_vec`` (sqlite-vec ``vec0``, cosine, the chunk's ``doc_id`` as a metadata column), both
keyed by the chunk id; ``meta`` names the embedding model the vectors were made with.

**Access control lives in the SQL.** Every read that returns document text takes the user it runs
for and joins ``documents`` with :data:`VISIBLE`: the owner, the household, or a member of the
document's group. The vector search filters inside sqlite-vec's KNN (``doc_id IN (visible
documents)``), so the k nearest are k *visible* chunks. Nothing is filtered afterwards in Python, and nothing
relies on the prompt.

SQLite: this Python's ``sqlite3`` is built without ``enable_load_extension``, so the store uses
``sqlean.py`` (the standard ``sqlite3`` module's API over a recent SQLite with extension loading,
FTS5, and wheels for Linux, macOS and Windows) and loads ``sqlite-vec`` into it. See
docs/knowledge.md for the measurements behind that choice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from jarvis.protocol.paths import data_dir, private_file

from .chunk import Chunk, chunk_blocks
from .embed import Embedder, WordLlamaEmbedder
from .errors import DocumentError, StorageError
from .extract import FORMATS, MAX_FILE_BYTES, extract, format_of, read_bytes

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

DB_NAME = "documents.sqlite3"
VISIBILITIES = ("private", "group", "household")
RRF_K = 60
"""Reciprocal rank fusion constant (Cormack et al. 2009)."""
CANDIDATES = 20
"""How many hits each of BM25 and the vectors contribute before fusion."""
MAX_RESULTS = 20
MAX_QUERY_CHARS = 500
MAX_DOCUMENTS_PER_USER = 1000
MAX_FOLDER_FILES = 1000
EMBED_BATCH = 256

_NAME = re.compile(r"[\w.@-]{1,64}")

VISIBLE = (
    "(d.owner = :user OR d.visibility = 'household' OR (d.visibility = 'group' AND EXISTS "
    "(SELECT 1 FROM members m WHERE m.group_name = d.group_name AND m.user_id = :user)))"
)
"""The one access rule, as SQL over ``documents d``. Every query that returns text includes it."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'group', 'household')),
    group_name TEXT CHECK ((visibility = 'group') = (group_name IS NOT NULL)),
    path TEXT NOT NULL, title TEXT NOT NULL, format TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    added_at REAL NOT NULL, updated_at REAL NOT NULL,
    UNIQUE (owner, path)
);
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'group', 'household')),
    group_name TEXT CHECK ((visibility = 'group') = (group_name IS NOT NULL)),
    path TEXT NOT NULL, added_at REAL NOT NULL,
    UNIQUE (owner, path)
);
CREATE TABLE IF NOT EXISTS members (
    group_name TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (group_name, user_id)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ord INTEGER NOT NULL, section TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, section, text, tokenize = 'unicode61 remove_diacritics 2'
);
"""

_STOPWORDS = frozenset(
    """a an the of to in on at for and or is are was be it its this that what which who how does do did
    say says said about me my i you your can could should would tell with from by as into there here
    le la les un une des du de d l à au aux et ou est sont que qui quoi quel quelle quels quelles
    comment dit dire sur dans pour par avec ce cet cette ces mon ma mes ton ta tes son sa ses il elle
    je tu nous vous on en y ne pas qu c s n est-ce""".split()
)


@dataclass(frozen=True)
class Document:
    id: int
    owner: str
    visibility: str
    group: str | None
    title: str
    path: str
    format: str
    sha256: str
    size: int
    chunks: int
    updated_at: float
    folder_id: int | None = None
    """The watched folder it came from (None: added by hand)."""
    mtime_ns: int | None = None

    @property
    def shared_with(self) -> str:
        return {"private": "private", "household": "household"}.get(self.visibility, f"group {self.group}")


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    doc_id: int
    title: str
    section: str
    text: str
    score: float
    """Reciprocal-rank-fusion score (higher is better)."""
    bm25_rank: int | None
    vector_rank: int | None
    similarity: float | None
    """Cosine similarity of the query and the chunk, when the vectors found it."""

    @property
    def source(self) -> str:
        return f"{self.title}, section {self.section}" if self.section else self.title


@dataclass(frozen=True)
class IndexResult:
    document: Document
    status: str
    """added, updated (new content), unchanged, moved (same content, new visibility or title), missing"""


def fold(text: str) -> str:
    """Lower case, accents stripped: how titles and query words are compared."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def query_words(text: str) -> list[str]:
    words = re.findall(r"\w+", fold(text))
    kept = [w for w in words if w not in _STOPWORDS and len(w) > 1]
    return kept or [w for w in words if len(w) > 1]


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression: every meaningful word, quoted (no FTS syntax from the user), ORed."""
    words = query_words(text)[:32]
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words)) or None


def check_user(user_id: object) -> str:
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 128:
        raise DocumentError("user must be a non-empty string (at most 128 characters)")
    return user_id.strip()


def check_group(group: object) -> str:
    if not isinstance(group, str) or not _NAME.fullmatch(group):
        raise DocumentError("a group name is 1-64 letters, digits, '.', '_', '-' or '@'")
    return group


def _storage_error(err: BaseException, path: Path) -> StorageError | None:
    text = str(err).lower()
    for needle, why in (
        ("readonly", "the data folder is read-only"),
        ("read-only", "the data folder is read-only"),
        ("unable to open", "the index file cannot be opened"),
        ("disk is full", "the disk is full"),
        ("disk i/o error", "the disk reports an input/output error"),
        ("permission denied", "the data folder is read-only"),
    ):
        if needle in text:
            return StorageError(f"cannot write the document index {path}: {why} ({err})")
    if isinstance(err, PermissionError):
        return StorageError(f"cannot write the document index {path}: the data folder is read-only ({err})")
    if isinstance(err, OSError):
        return StorageError(f"cannot write the document index {path}: {err.strerror or err}")
    return None


@dataclass(frozen=True)
class Folder:
    id: int
    owner: str
    visibility: str
    group: str | None
    path: str

    @property
    def shared_with(self) -> str:
        return {"private": "private", "household": "household"}.get(self.visibility, f"group {self.group}")


def _folder(row: Any) -> Folder:
    return Folder(int(row["id"]), row["owner"], row["visibility"], row["group_name"], row["path"])


def _folder_files(folder: Path) -> list[Path] | None:
    """The readable documents under ``folder`` (hidden ones skipped), at most MAX_FOLDER_FILES."""
    if not folder.is_dir():
        return None
    files: list[Path] = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") for p in parts) or path.suffix.lower() not in FORMATS or not path.is_file():
            continue
        files.append(path.resolve())
        if len(files) >= MAX_FOLDER_FILES:
            _LOGGER.warning("%s: more than %d documents, the rest are ignored", folder, MAX_FOLDER_FILES)
            break
    return files


def stored_model(path: str | Path) -> str | None:
    """The embedding model of the index at ``path`` (None: no index yet), read without changing it."""
    import sqlean

    file = Path(path)
    if not file.is_file():
        return None
    try:
        db = sqlean.connect(file.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'embed_model'").fetchone()
        finally:
            db.close()
    except sqlean.DatabaseError:
        return None
    return str(row[0]) if row else None


class DocumentStore:
    """Documents, their chunks and both indexes. Open with :meth:`open` (the constructor blocks)."""

    def __init__(
        self,
        path: str | Path | None = None,
        embedder: Embedder | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.path = Path(path) if path else data_dir() / DB_NAME
        self.embedder: Embedder = embedder or WordLlamaEmbedder()
        self._lock = threading.Lock()
        self._reader_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="documents-knn")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._db = self._connect()
            self._reader = self._connect(schema=False)
        except Exception as err:
            fault = _storage_error(err, self.path)
            if fault is None:
                raise
            raise fault from err
        self._sync_model(progress)

    # -- connection -------------------------------------------------------------------------------

    def _connect(self, schema: bool = True) -> Any:
        """The connection (``schema``: the one that writes; else the reader the vector search uses)."""
        import sqlean
        import sqlite_vec

        private_file(self.path)  # 0600 before SQLite opens it, like memory.sqlite3
        db = sqlean.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
        try:
            db.enable_load_extension(True)
            sqlite_vec.load(db)
            db.enable_load_extension(False)
            db.row_factory = sqlean.Row
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL, not FULL: the index is derived from files that stay where they are; a power
            # cut can lose the last re-index, which the next `reindex` redoes (never corruption).
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            if schema:
                db.executescript(_SCHEMA)
                columns = {r[1] for r in db.execute("PRAGMA table_info(documents)")}
                for column in ("folder_id", "mtime_ns"):  # added with watched folders
                    if column not in columns:
                        db.execute(f"ALTER TABLE documents ADD COLUMN {column} INTEGER")
            private_file(self.path, siblings=("-wal", "-shm", "-journal"))
        except BaseException:
            db.close()
            raise
        return db

    @classmethod
    async def open(
        cls,
        path: str | Path | None = None,
        embedder: Embedder | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> DocumentStore:
        return await asyncio.to_thread(cls, path, embedder, progress)

    async def close(self) -> None:
        def work() -> None:
            self._pool.shutdown(wait=True)
            with self._reader_lock:
                self._reader.close()
            self._db.close()

        await asyncio.to_thread(self._locked, work)

    def _locked(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            return fn(*args)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(self._locked, fn, *args)

    def _write(self, work: Callable[[], T]) -> T:
        """``work`` in ONE committed transaction; a storage fault becomes :class:`StorageError`."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work()
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except DocumentError:
            raise
        except Exception as err:
            fault = _storage_error(err, self.path)
            if fault is None:
                raise
            raise fault from err
        return result

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    # -- the embedding model ----------------------------------------------------------------------

    @property
    def model(self) -> str | None:
        """The model the stored vectors were made with."""
        return self._locked(self._meta, "embed_model")

    def _sync_model(self, progress: Callable[[int, int], None] | None) -> None:
        """Make ``chunks_vec`` match the embedder: create it, or re-embed every chunk if the model changed."""
        with self._lock:
            stored = self._meta("embed_model")
            table = self._db.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks_vec'").fetchone()
        if stored == self.embedder.name and table and "doc_id" in str(table[0]):
            return
        dim = self.embedder.dim
        with self._lock:
            rows = [
                (int(r["id"]), int(r["doc_id"]), Chunk(r["title"], r["section"], r["text"]).indexed_text)
                for r in self._db.execute(
                    "SELECT c.id, c.doc_id, c.section, c.text, d.title FROM chunks c "
                    "JOIN documents d ON d.id = c.doc_id"
                )
            ]
        if stored and rows:
            _LOGGER.info(
                "Embedding model %s -> %s: re-embedding %d chunks", stored, self.embedder.name, len(rows)
            )
        vectors: list[tuple[int, bytes, int]] = []
        for start in range(0, len(rows), EMBED_BATCH):
            part = rows[start : start + EMBED_BATCH]
            matrix = self.embedder.embed([text for _, _, text in part])
            vectors.extend((cid, matrix[i].tobytes(), doc) for i, (cid, doc, _) in enumerate(part))
            if progress:
                progress(min(start + EMBED_BATCH, len(rows)), len(rows))

        def work() -> None:
            self._db.execute("DROP TABLE IF EXISTS chunks_vec")
            self._db.execute(
                "CREATE VIRTUAL TABLE chunks_vec USING vec0("
                f"embedding float[{int(dim)}] distance_metric=cosine, doc_id integer)"
            )
            self._db.executemany(
                "INSERT INTO chunks_vec (rowid, embedding, doc_id) VALUES (?, ?, ?)", vectors
            )
            for key, value in (("embed_model", self.embedder.name), ("embed_dim", str(dim))):
                self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

        with self._lock:
            self._write(work)

    # -- documents --------------------------------------------------------------------------------

    def _document(self, row: Any) -> Document:
        return Document(
            id=int(row["id"]),
            owner=row["owner"],
            visibility=row["visibility"],
            group=row["group_name"],
            title=row["title"],
            path=row["path"],
            format=row["format"],
            sha256=row["sha256"],
            size=int(row["size"]),
            chunks=int(row["n_chunks"]),
            updated_at=float(row["updated_at"]),
            folder_id=row["folder_id"],
            mtime_ns=row["mtime_ns"],
        )

    _DOC_COLUMNS = "d.*, (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id) AS n_chunks"

    def _visible_documents(self, user: str) -> list[Document]:
        rows = self._db.execute(
            f"SELECT {self._DOC_COLUMNS} FROM documents d WHERE {VISIBLE} ORDER BY d.title, d.id",
            {"user": user},
        )
        return [self._document(r) for r in rows]

    async def list_documents(self, user: str) -> list[Document]:
        """The documents ``user`` may read (theirs, their groups', the household's)."""
        return await self._run(self._visible_documents, check_user(user))

    async def get_document(self, user: str, doc_id: int) -> Document | None:
        """Document ``doc_id`` if ``user`` may read it; None otherwise (as if it did not exist)."""
        user = check_user(user)

        def work() -> Document | None:
            row = self._db.execute(
                f"SELECT {self._DOC_COLUMNS} FROM documents d WHERE d.id = :id AND {VISIBLE}",
                {"id": int(doc_id), "user": user},
            ).fetchone()
            return self._document(row) if row else None

        return await self._run(work)

    async def find_documents(self, user: str, words: str) -> list[Document]:
        """Visible documents whose title the words name, best first ("the boiler manual")."""
        wanted = set(query_words(words))
        if not wanted:
            return []
        scored: list[tuple[float, Document]] = []
        for doc in await self.list_documents(user):
            title = set(query_words(doc.title))
            if not title:
                continue
            common = len(wanted & title)
            if common:
                scored.append((common / len(title | wanted), doc))
        scored.sort(key=lambda item: -item[0])
        return [doc for _, doc in scored]

    async def add(
        self,
        user: str,
        path: str | Path,
        visibility: str = "private",
        group: str | None = None,
        title: str | None = None,
        max_bytes: int = MAX_FILE_BYTES,
    ) -> IndexResult:
        """Index the file at ``path`` for ``user``; again after an edit, only if its content changed."""
        user = check_user(user)
        if visibility not in VISIBILITIES:
            raise DocumentError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        if visibility == "group":
            group = check_group(group)
        elif group is not None:
            raise DocumentError("a group is only given with the 'group' visibility")
        return await asyncio.to_thread(self._index, user, Path(path), visibility, group, title, max_bytes)

    def _index(
        self,
        user: str,
        file: Path,
        visibility: str,
        group: str | None,
        title: str | None,
        max_bytes: int,
        folder_id: int | None = None,
        quick: bool = False,
    ) -> IndexResult:
        """Index one file. ``quick`` (watched folders): the same size and mtime as last time means
        unchanged without reading the file; otherwise the content hash decides."""
        file = file.expanduser().resolve()
        format_of(file)  # an unknown format is refused before the file is even read
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._DOC_COLUMNS} FROM documents d WHERE d.owner = ? AND d.path = ?",
                (user, str(file)),
            ).fetchone()
            old = self._document(row) if row else None
            if old is None:
                count = self._db.execute(
                    "SELECT COUNT(*) FROM documents WHERE owner = ?", (user,)
                ).fetchone()[0]
                if count >= MAX_DOCUMENTS_PER_USER:
                    raise DocumentError(f"{user} already has {count} documents (the most allowed)")
        try:
            st = file.stat()
            mtime_ns: int | None = st.st_mtime_ns
        except OSError:
            st, mtime_ns = None, None  # read_bytes says why
        same_place = old is not None and (old.visibility, old.group) == (visibility, group) and not title
        if quick and old is not None and same_place and st is not None:
            if (old.mtime_ns, old.size) == (mtime_ns, st.st_size):
                return IndexResult(old, "unchanged")
        data = read_bytes(file, max_bytes)
        digest = hashlib.sha256(data).hexdigest()
        now = time.time()
        if old is not None and old.sha256 == digest:
            new_title = title or old.title
            if (old.visibility, old.group, old.title) == (visibility, group, new_title):
                if old.mtime_ns != mtime_ns or old.folder_id != (folder_id or old.folder_id):
                    with self._lock:  # touched, not changed: remember the new mtime
                        self._write(
                            lambda: self._db.execute(
                                "UPDATE documents SET mtime_ns = ?, folder_id = ? WHERE id = ?",
                                (mtime_ns, folder_id or old.folder_id, old.id),
                            )
                        )
                return IndexResult(old, "unchanged")

            def move() -> None:
                self._db.execute(
                    "UPDATE documents SET visibility = ?, group_name = ?, title = ?, updated_at = ?, "
                    "mtime_ns = ?, folder_id = ? WHERE id = ?",
                    (visibility, group, new_title, now, mtime_ns, folder_id or old.folder_id, old.id),
                )
                if new_title != old.title:
                    self._db.execute(
                        "UPDATE chunks_fts SET title = ? "
                        "WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)",
                        (new_title, old.id),
                    )

            with self._lock:
                self._write(move)
                return IndexResult(self._by_id(old.id), "moved")
        extracted = extract(file, data)
        doc_title = title or extracted.title
        chunks = chunk_blocks(doc_title, extracted.blocks)
        if not chunks:
            raise DocumentError(f"{file.name}: no text found")
        vectors = self.embedder.embed([c.indexed_text for c in chunks])  # outside the lock: slow

        def write() -> int:
            if old is not None:
                self._delete_chunks(old.id)
                self._db.execute(
                    "UPDATE documents SET visibility = ?, group_name = ?, title = ?, format = ?, sha256 = ?, "
                    "size = ?, updated_at = ?, mtime_ns = ?, folder_id = ? WHERE id = ?",
                    (
                        visibility,
                        group,
                        doc_title,
                        extracted.format,
                        digest,
                        len(data),
                        now,
                        mtime_ns,
                        folder_id or old.folder_id,
                        old.id,
                    ),
                )
                doc_id = old.id
            else:
                doc_id = int(
                    self._db.execute(
                        "INSERT INTO documents (owner, visibility, group_name, path, title, format, sha256, "
                        "size, added_at, updated_at, mtime_ns, folder_id) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            user,
                            visibility,
                            group,
                            str(file),
                            doc_title,
                            extracted.format,
                            digest,
                            len(data),
                            now,
                            now,
                            mtime_ns,
                            folder_id,
                        ),
                    ).lastrowid
                )
            for i, chunk in enumerate(chunks):
                cid = int(
                    self._db.execute(
                        "INSERT INTO chunks (doc_id, ord, section, text) VALUES (?, ?, ?, ?)",
                        (doc_id, i, chunk.section, chunk.text),
                    ).lastrowid
                )
                self._db.execute(
                    "INSERT INTO chunks_fts (rowid, title, section, text) VALUES (?, ?, ?, ?)",
                    (cid, doc_title, chunk.section, chunk.text),
                )
                self._db.execute(
                    "INSERT INTO chunks_vec (rowid, embedding, doc_id) VALUES (?, ?, ?)",
                    (cid, vectors[i].tobytes(), doc_id),
                )
            return doc_id

        with self._lock:
            doc_id = self._write(write)
            return IndexResult(self._by_id(doc_id), "updated" if old else "added")

    def _by_id(self, doc_id: int) -> Document:
        row = self._db.execute(
            f"SELECT {self._DOC_COLUMNS} FROM documents d WHERE d.id = ?", (doc_id,)
        ).fetchone()
        return self._document(row)

    def _delete_chunks(self, doc_id: int) -> None:
        ids = [(int(r[0]),) for r in self._db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))]
        self._db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", ids)
        self._db.executemany("DELETE FROM chunks_vec WHERE rowid = ?", ids)
        self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))

    async def remove(self, user: str, doc_id: int) -> bool:
        """Remove document ``doc_id`` if ``user`` owns it. False when not (whether it exists or not)."""
        user = check_user(user)

        def work() -> bool:
            row = self._db.execute(
                "SELECT id FROM documents WHERE id = ? AND owner = ?", (int(doc_id), user)
            ).fetchone()
            if row is None:
                return False

            def delete() -> None:
                self._delete_chunks(int(doc_id))
                self._db.execute("DELETE FROM documents WHERE id = ? AND owner = ?", (int(doc_id), user))

            self._write(delete)
            return True

        return await self._run(work)

    async def reindex(
        self, user: str | None = None, on_result: Callable[[IndexResult], None] | None = None
    ) -> list[IndexResult]:
        """Re-read every document of ``user`` (everyone's when None) added by hand (the watched folders'
        are :meth:`sync_folders`'s): only changed files are re-indexed."""
        owner = check_user(user) if user is not None else None

        def docs() -> list[Document]:
            sql = f"SELECT {self._DOC_COLUMNS} FROM documents d"
            rows = (
                self._db.execute(sql + " WHERE d.folder_id IS NULL AND d.owner = ? ORDER BY d.id", (owner,))
                if owner
                else (self._db.execute(sql + " WHERE d.folder_id IS NULL ORDER BY d.id"))
            )
            return [self._document(r) for r in rows]

        results: list[IndexResult] = []
        for doc in await self._run(docs):
            if not await asyncio.to_thread(Path(doc.path).is_file):
                result = IndexResult(doc, "missing")
            else:
                try:
                    result = await self.add(doc.owner, doc.path, doc.visibility, doc.group, None)
                except DocumentError as err:
                    _LOGGER.warning("Cannot re-index %s: %s", doc.path, err)
                    result = IndexResult(doc, "error")
            results.append(result)
            if on_result:
                on_result(result)
        return results

    # -- watched folders --------------------------------------------------------------------------

    async def watch(
        self, user: str, path: str | Path, visibility: str = "private", group: str | None = None
    ) -> Folder:
        """Watch the folder ``path`` for ``user``: its files are indexed by :meth:`sync_folders`."""
        user = check_user(user)
        if visibility not in VISIBILITIES:
            raise DocumentError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        group = check_group(group) if visibility == "group" else None
        folder = await asyncio.to_thread(lambda: Path(path).expanduser().resolve())
        if not await asyncio.to_thread(folder.is_dir):
            raise DocumentError(f"{folder}: not a folder")

        def work() -> Folder:
            def upsert() -> None:
                self._db.execute(
                    "INSERT INTO folders (owner, visibility, group_name, path, added_at) "
                    "VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (owner, path) DO UPDATE SET visibility = excluded.visibility, "
                    "group_name = excluded.group_name",
                    (user, visibility, group, str(folder), time.time()),
                )

            self._write(upsert)
            row = self._db.execute(
                "SELECT * FROM folders WHERE owner = ? AND path = ?", (user, str(folder))
            ).fetchone()
            return _folder(row)

        return await self._run(work)

    async def folders(self, user: str | None = None) -> list[Folder]:
        """The folders ``user`` watches (everyone's when None)."""
        owner = check_user(user) if user is not None else None

        def work() -> list[Folder]:
            if owner is None:
                rows = self._db.execute("SELECT * FROM folders ORDER BY id")
            else:
                rows = self._db.execute("SELECT * FROM folders WHERE owner = ? ORDER BY id", (owner,))
            return [_folder(r) for r in rows]

        return await self._run(work)

    async def unwatch(self, user: str, folder_id: int) -> int | None:
        """Stop watching a folder of ``user``'s and remove its documents; their number, or None if
        ``user`` watches no such folder."""
        user = check_user(user)

        def work() -> int | None:
            row = self._db.execute(
                "SELECT id FROM folders WHERE id = ? AND owner = ?", (int(folder_id), user)
            ).fetchone()
            if row is None:
                return None
            ids = [
                int(r[0])
                for r in self._db.execute(
                    "SELECT id FROM documents WHERE folder_id = ? AND owner = ?", (int(folder_id), user)
                )
            ]

            def delete() -> None:
                for doc_id in ids:
                    self._delete_chunks(doc_id)
                    self._db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
                self._db.execute("DELETE FROM folders WHERE id = ?", (int(folder_id),))

            self._write(delete)
            return len(ids)

        return await self._run(work)

    async def sync_folders(
        self, user: str | None = None, on_result: Callable[[IndexResult], None] | None = None
    ) -> list[IndexResult]:
        """Bring the watched folders' documents up to date: new files added, edited ones re-indexed
        (a file whose size and mtime did not change is not even read), deleted ones removed. A folder
        that is missing (an unmounted disk) is left as it is, with a warning."""
        results: list[IndexResult] = []

        def report(result: IndexResult) -> None:
            results.append(result)
            if on_result:
                on_result(result)

        for folder in await self.folders(user):
            files = await asyncio.to_thread(_folder_files, Path(folder.path))
            if files is None:
                _LOGGER.warning("Watched folder %s is missing: its documents are kept", folder.path)
                continue
            for file in files:
                try:
                    report(
                        await asyncio.to_thread(
                            self._index,
                            folder.owner,
                            file,
                            folder.visibility,
                            folder.group,
                            None,
                            MAX_FILE_BYTES,
                            folder.id,
                            True,
                        )
                    )
                except DocumentError as err:
                    _LOGGER.warning("Watched folder %s: %s", folder.path, err)
            present = {str(f) for f in files}

            def gone(folder_id: int = folder.id, present: set[str] = present) -> list[Document]:
                rows = self._db.execute(
                    f"SELECT {self._DOC_COLUMNS} FROM documents d WHERE d.folder_id = ?", (folder_id,)
                )
                return [self._document(r) for r in rows if r["path"] not in present]

            for doc in await self._run(gone):
                if await self.remove(doc.owner, doc.id):
                    report(IndexResult(doc, "removed"))
        return results

    # -- groups -----------------------------------------------------------------------------------

    async def set_members(self, group: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
        """Change a group's members (an administrator's act: the CLI, never the brain). Returns them."""
        group = check_group(group)
        adding = [check_user(u) for u in add]
        removing = [check_user(u) for u in remove]

        def work() -> list[str]:
            def change() -> None:
                self._db.executemany(
                    "INSERT OR IGNORE INTO members (group_name, user_id) VALUES (?, ?)",
                    [(group, u) for u in adding],
                )
                self._db.executemany(
                    "DELETE FROM members WHERE group_name = ? AND user_id = ?", [(group, u) for u in removing]
                )

            if adding or removing:
                self._write(change)
            return [
                r[0]
                for r in self._db.execute(
                    "SELECT user_id FROM members WHERE group_name = ? ORDER BY user_id", (group,)
                )
            ]

        return await self._run(work)

    async def groups(self) -> dict[str, list[str]]:
        def work() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for row in self._db.execute(
                "SELECT group_name, user_id FROM members ORDER BY group_name, user_id"
            ):
                out.setdefault(row[0], []).append(row[1])
            return out

        return await self._run(work)

    # -- search -----------------------------------------------------------------------------------

    async def search(
        self,
        user: str,
        query: str,
        limit: int = 3,
        mode: str = "hybrid",
        doc_id: int | None = None,
    ) -> list[Hit]:
        """The best chunks for ``query`` among those ``user`` may read (``doc_id``: in that one only).

        ``mode``: ``hybrid`` (BM25 and vectors fused by reciprocal rank), ``bm25`` or ``vector``.
        """
        user = check_user(user)
        if mode not in ("hybrid", "bm25", "vector"):
            raise DocumentError("mode must be hybrid, bm25 or vector")
        if not isinstance(query, str) or not query.strip():
            raise DocumentError("the query is empty")
        query = query.strip()[:MAX_QUERY_CHARS]
        limit = max(1, min(int(limit), MAX_RESULTS))
        return await asyncio.to_thread(self._search, user, query, limit, mode, doc_id)

    def _search(self, user: str, query: str, limit: int, mode: str, doc_id: int | None) -> list[Hit]:
        params: dict[str, Any] = {"user": user, "doc": doc_id, "k": max(CANDIDATES, limit)}
        only_doc = " AND d.id = :doc" if doc_id is not None else ""
        nearest: Future[list[tuple[int, float]]] | None = None
        if mode != "bm25":  # the vector KNN runs on the reader connection while BM25 runs here
            vector = np.asarray(self.embedder.embed([query])[0], dtype=np.float32).tobytes()
            nearest = self._pool.submit(self._nearest, {**params, "vector": vector}, only_doc)
        try:
            bm25: list[int] = []
            if mode != "vector" and (match := fts_query(query)):
                with self._lock:
                    bm25 = [
                        int(r[0])
                        for r in self._db.execute(
                            "SELECT f.rowid FROM chunks_fts f JOIN chunks c ON c.id = f.rowid "
                            "JOIN documents d ON d.id = c.doc_id "
                            f"WHERE chunks_fts MATCH :match AND {VISIBLE}{only_doc} "
                            "ORDER BY bm25(chunks_fts, 3.0, 2.0, 1.0) LIMIT :k",
                            {**params, "match": match},
                        )
                    ]
        finally:
            near = nearest.result() if nearest is not None else []
        with self._lock:
            return self._fuse(user, limit, bm25, near)

    def _nearest(self, params: dict[str, Any], only_doc: str) -> list[tuple[int, float]]:
        """The k nearest chunks among the user's visible documents (sqlite-vec KNN, filtered inside)."""
        with self._reader_lock:
            return [
                (int(r[0]), float(r[1]))
                for r in self._reader.execute(
                    "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH :vector AND k = :k "
                    f"AND doc_id IN (SELECT d.id FROM documents d WHERE {VISIBLE}{only_doc}) "
                    "ORDER BY distance",
                    params,
                )
            ]

    def _fuse(self, user: str, limit: int, bm25: list[int], near: list[tuple[int, float]]) -> list[Hit]:
        scores: dict[int, float] = {}
        bm25_rank = {cid: rank for rank, cid in enumerate(bm25, start=1)}
        vector_rank = {cid: rank for rank, (cid, _) in enumerate(near, start=1)}
        similarity = {cid: 1.0 - dist for cid, dist in near}
        for ranks in (bm25_rank, vector_rank):
            for cid, rank in ranks.items():
                scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank)
        best = sorted(scores, key=lambda cid: (-scores[cid], cid))[:limit]
        if not best:
            return []
        marks = ",".join("?" * len(best))
        # The rows are read again WITH the access rule: a hit is text only if the user may see it.
        rows = {
            int(r["id"]): r
            for r in self._db.execute(
                f"SELECT c.id, c.doc_id, c.section, c.text, d.title FROM chunks c JOIN documents d "
                f"ON d.id = c.doc_id WHERE c.id IN ({marks}) AND " + VISIBLE.replace(":user", "?"),
                (*best, user, user),
            )
        }
        return [
            Hit(
                chunk_id=cid,
                doc_id=int(rows[cid]["doc_id"]),
                title=rows[cid]["title"],
                section=rows[cid]["section"],
                text=rows[cid]["text"],
                score=scores[cid],
                bm25_rank=bm25_rank.get(cid),
                vector_rank=vector_rank.get(cid),
                similarity=similarity.get(cid),
            )
            for cid in best
            if cid in rows
        ]

    async def stats(self) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            docs, chunks = self._db.execute(
                "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks)"
            ).fetchone()
            return {"documents": int(docs), "chunks": int(chunks), "model": self._meta("embed_model")}

        return await self._run(work)
