"""What Jarvis remembers, per user: SQLite in WAL mode at ``<data_dir>/memory.sqlite3``.

Tables: ``users`` (static profile + onboarding state), ``summaries`` (dynamic memory, every version
kept), ``facts`` (remember/forget), ``turns`` (conversation history keyed by conversation AND user),
``pending`` (sensitive tool calls awaiting a spoken yes/no), ``feedback`` (thumbs up/down on a turn).
A forgotten fact is only marked (``facts.deleted_at``): ``forgotten_facts`` lists them and
``restore_fact`` brings one back, as past summary versions are kept.

Every query filters by ``user_id``: one user's memory never reaches another user's prompt.

Durability: every write is one committed transaction, with ``journal_mode=WAL`` and
``synchronous=FULL``. In WAL mode NORMAL is already safe against a *process* crash (``kill -9``),
but may lose the last commits on power loss; FULL fsyncs the WAL at each commit so an acknowledged
write survives both. Memory writes are a handful per turn and off the event loop, so the extra fsync
costs nothing audible. All public methods are ``async`` and run SQLite in a worker thread
(``asyncio.to_thread``); one connection, guarded by a lock.

Privacy: the file (and its ``-wal``/``-shm``) is created 0600 whatever the umask.

Faults: a write that fails because the data dir is read-only, the disk is full or reports an I/O
error raises :class:`MemoryWriteError`, which names the cause (the web API answers 503, a spoken
"remember that" apologizes with the cause). Book-keeping writes of a turn (history, onboarding
state, clearing a pending call) only log a warning, once per cause: the answer is still delivered.
A store that cannot be opened for writing at all is opened read-only: answers and recall work.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from jarvis.protocol.paths import check_writable, data_dir, private_file

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

DB_NAME = "memory.sqlite3"
#: Editable static-profile fields, in the order they are shown.
PROFILE_FIELDS = ("name", "age", "interests", "what_matters", "notes")
ONBOARDING_STATES = ("new", "asked", "done")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    name TEXT, age TEXT, interests TEXT, what_matters TEXT, notes TEXT,
    onboarding TEXT NOT NULL DEFAULT 'new',
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS summaries (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL, version INTEGER NOT NULL, summary TEXT NOT NULL, created_at REAL NOT NULL,
    UNIQUE (user_id, version)
);
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, fact TEXT NOT NULL, created_at REAL NOT NULL,
    deleted_at REAL
);
CREATE INDEX IF NOT EXISTS facts_user ON facts (user_id);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
    user_text TEXT NOT NULL, assistant_text TEXT NOT NULL,
    language TEXT, source TEXT, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_conv ON turns (user_id, conversation_id, id);
CREATE TABLE IF NOT EXISTS pending (
    conversation_id TEXT NOT NULL, user_id TEXT NOT NULL,
    tool TEXT NOT NULL, arguments TEXT NOT NULL, action TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL, turn_id INTEGER NOT NULL, rating INTEGER NOT NULL, comment TEXT,
    created_at REAL NOT NULL
);
"""


class MemoryError_(ValueError):
    """Bad input to the store (unknown field, unknown turn...). Nothing was written."""


_REASONS = {
    "read-only": ("the data folder is read-only", "le dossier de données est en lecture seule"),
    "disk-full": ("the disk is full", "le disque est plein"),
    "io-error": ("the disk reports an input/output error", "le disque signale une erreur d'entrée-sortie"),
    "cannot-open": ("the memory file cannot be opened", "le fichier de mémoire ne peut pas être ouvert"),
}


class MemoryWriteError(RuntimeError):
    """The store could not write (read-only data dir, full disk, I/O error). Nothing was written.

    ``cause`` is one of ``read-only``, ``disk-full``, ``io-error``, ``cannot-open``; ``detail`` is
    SQLite's or the OS's own words. Not bad input (that is :class:`MemoryError_`): retrying the same
    request later, once the disk is fixed, works.
    """

    def __init__(self, cause: str, detail: str = "") -> None:
        self.cause = cause if cause in _REASONS else "io-error"
        self.detail = detail
        super().__init__(f"cannot save to memory: {self.reason('en')}" + (f" ({detail})" if detail else ""))

    def reason(self, language: str = "en") -> str:
        en, fr = _REASONS[self.cause]
        return fr if language.lower().startswith("fr") else en

    def apology(self, language: str = "en") -> str:
        """What a voice turn says instead of "Okay, I'll remember that"."""
        if language.lower().startswith("fr"):
            return f"Je ne peux pas enregistrer dans ma mémoire pour le moment : {self.reason('fr')}."
        return f"I can't save to my memory right now: {self.reason('en')}."


_SQLITE_CAUSES = {3: "read-only", 8: "read-only", 10: "io-error", 13: "disk-full", 14: "cannot-open"}
"""SQLite primary result codes: PERM, READONLY, IOERR, FULL, CANTOPEN."""
_OS_CAUSES = {
    errno.EROFS: "read-only",
    errno.EACCES: "read-only",
    errno.EPERM: "read-only",
    errno.ENOSPC: "disk-full",
    errno.EDQUOT: "disk-full",
    errno.EIO: "io-error",
}


def write_fault(err: BaseException) -> MemoryWriteError | None:
    """The :class:`MemoryWriteError` that ``err`` means, or None when it is not a storage fault."""
    if isinstance(err, MemoryWriteError):
        return err
    if isinstance(err, sqlite3.OperationalError):
        code = getattr(err, "sqlite_errorcode", None)
        cause = _SQLITE_CAUSES.get(code & 0xFF) if isinstance(code, int) else None
        if cause is None:
            text = str(err).lower()
            for needle, guess in (
                ("readonly", "read-only"),
                ("read-only", "read-only"),
                ("disk is full", "disk-full"),
                ("disk i/o error", "io-error"),
                ("unable to open", "cannot-open"),
            ):
                if needle in text:
                    cause = guess
                    break
        return MemoryWriteError(cause, str(err)) if cause else None
    if isinstance(err, OSError) and err.errno in _OS_CAUSES:
        return MemoryWriteError(_OS_CAUSES[err.errno], str(err))
    return None


_WARNED_DIRS: set[str] = set()


@dataclass
class Profile:
    user_id: str
    name: str | None = None
    age: str | None = None
    interests: str | None = None
    what_matters: str | None = None
    notes: str | None = None
    onboarding: str = "new"

    def is_empty(self) -> bool:
        return not any(getattr(self, f) for f in PROFILE_FIELDS)


@dataclass
class Fact:
    id: int
    fact: str
    created_at: float


@dataclass
class ForgetResult:
    """What :meth:`MemoryStore.forget_fact` did: ``removed`` (at most one fact) or, when the words
    match several facts equally well, nothing removed and the ``candidates`` to choose from."""

    removed: list[Fact] = field(default_factory=list)
    candidates: list[Fact] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return not self.removed and len(self.candidates) > 1


#: Words that say nothing about WHICH fact is meant (English and French).
_STOPWORDS = frozenset(
    """a an the i i'm im me my mine you your is are am was be been it its this that these those to of
    in on at for with and or but about do does did have has had so just please what which
    je j moi me m mon ma mes tu te t ton ta tes il elle le la les l un une des de du d que qu qui est
    suis es sont et ou mais pour avec dans sur au aux ce cet cette ces ça ca s se sa son ses""".split()
)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold().replace("’", "'"))
    return "".join(c for c in text if not unicodedata.combining(c))


def fact_words(text: str) -> set[str]:
    """The words of ``text`` that can tell one fact from another: folded, stopwords dropped,
    a plural ``s`` removed ("bikes" is "bike")."""
    words = set()
    for word in re.findall(r"\w+", text.casefold().replace("’", "'")):
        if word in _STOPWORDS or len(word) < 2 and not word.isdigit():
            continue  # before folding accents: the French "thé" is not the English "the"
        word = _fold(word)
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return words


def match_facts(text: str, facts: list[Fact]) -> list[Fact]:
    """The facts that ``text`` designates clearly, best first.

    Clear means: the same text (case, accents and punctuation aside), else every distinguishing
    word of ``text`` is in the fact ("bike" -> "my bike is blue"). A query made only of common words
    ("i", "my", "that") designates nothing. A substring is not a match: "i" is in almost every fact.
    """
    wanted = " ".join(re.findall(r"\w+", _fold(text)))
    exact = [f for f in facts if " ".join(re.findall(r"\w+", _fold(f.fact))) == wanted]
    if exact and wanted:
        return exact
    words = fact_words(text)
    if not words:
        return []
    hits = []
    for fact in facts:
        have = fact_words(fact.fact)
        if words <= have:
            hits.append((len(words) / max(len(have), 1), fact))
    hits.sort(key=lambda h: -h[0])
    return [f for _, f in hits]


@dataclass
class Turn:
    id: int
    conversation_id: str
    user_text: str
    assistant_text: str
    language: str | None
    source: str | None
    created_at: float


@dataclass
class Pending:
    """A sensitive tool call waiting for the user's spoken yes/no."""

    conversation_id: str
    user_id: str
    tool: str
    arguments: dict[str, Any]
    action: str
    created_at: float


@dataclass
class UserSnapshot:
    """Everything one turn's prompt needs, read in one go (all of it the same user's)."""

    profile: Profile
    summary: str | None
    facts: list[Fact]
    history: list[Turn]
    user_turns: int
    pending: Pending | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class MemoryStore:
    """Per-user memory. Open with :meth:`open` (or the constructor, which does blocking I/O)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else data_dir() / DB_NAME
        self._lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()
        self.read_only: MemoryWriteError | None = None
        """Set when the store could only be opened for reading: every write raises it."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            _LOGGER.warning("Cannot create the data dir %s: %s", self.path.parent, err)
        self._warn_if_not_writable()
        try:
            self._db = self._connect()
        except (sqlite3.OperationalError, OSError) as err:
            fault = write_fault(err)
            if fault is None:
                raise
            self.read_only = fault
            self._db = self._connect_read_only()
            _LOGGER.warning(
                "%s cannot be written (%s): answers and recall work, but nothing new is remembered "
                "until the data dir is writable again",
                self.path,
                fault,
            )
        self._live = " AND deleted_at IS NULL" if self._has_deleted_at() else ""

    def _warn_if_not_writable(self) -> None:
        folder = str(self.path.parent)
        problem = check_writable(self.path.parent)
        if problem and folder not in _WARNED_DIRS:
            _WARNED_DIRS.add(folder)
            _LOGGER.warning(
                "Data dir problem: %s. Jarvis cannot save memory, feedback or settings there.", problem
            )

    def _connect(self) -> sqlite3.Connection:
        private_file(self.path)  # 0600 before SQLite opens it: never readable by others
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        try:
            db.row_factory = sqlite3.Row
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                _LOGGER.warning("%s: could not enable WAL (journal_mode=%s)", self.path, mode)
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(_SCHEMA)
            columns = {r["name"] for r in db.execute("PRAGMA table_info(facts)")}
            if "deleted_at" not in columns:  # a store made before forgotten facts were kept
                db.execute("ALTER TABLE facts ADD COLUMN deleted_at REAL")
            db.execute("CREATE INDEX IF NOT EXISTS facts_live ON facts (user_id, deleted_at)")
            private_file(self.path, siblings=("-wal", "-shm", "-journal"))
        except BaseException:
            db.close()
            raise
        return db

    def _connect_read_only(self) -> sqlite3.Connection:
        """What can still be read: the file, immutable (a read-only folder cannot hold the WAL's
        shared-memory file, and nobody can write it there either), else an empty in-memory store."""
        if self.path.is_file():
            try:
                db = sqlite3.connect(
                    self.path.resolve().as_uri() + "?mode=ro&immutable=1",
                    uri=True,
                    check_same_thread=False,
                    isolation_level=None,
                )
                db.row_factory = sqlite3.Row
                db.execute("SELECT COUNT(*) FROM facts").fetchone()
                return db
            except sqlite3.DatabaseError as err:
                _LOGGER.warning(
                    "%s cannot be read either (%s): starting with an empty memory", self.path, err
                )
        db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.executescript(_SCHEMA)
        return db

    def _has_deleted_at(self) -> bool:
        return any(r[1] == "deleted_at" for r in self._db.execute("PRAGMA table_info(facts)"))

    def _warn_once(self, what: str, err: MemoryWriteError) -> None:
        if (what, err.cause) not in self._warned:  # once per kind of write and cause, not per turn
            self._warned.add((what, err.cause))
            _LOGGER.warning("Could not save %s: %s (later failures of this kind are not logged)", what, err)

    @classmethod
    async def open(cls, path: str | Path | None = None) -> MemoryStore:
        return await asyncio.to_thread(cls, path)

    async def close(self) -> None:
        await self._run(self._db.close)

    # -- plumbing ---------------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(self._locked, fn, *args)

    def _locked(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            return fn(*args)

    def _write(self, sql_and_params: list[tuple[str, tuple[Any, ...]]]) -> list[int]:
        """Run statements in ONE committed transaction; returns each statement's lastrowid.

        Raises :class:`MemoryWriteError` when the storage refuses the write (nothing is written).
        """
        if self.read_only is not None:
            raise MemoryWriteError(self.read_only.cause, self.read_only.detail)
        ids: list[int] = []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in sql_and_params:
                    ids.append(int(self._db.execute(sql, params).lastrowid or 0))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as err:
            fault = write_fault(err)
            if fault is None:
                raise
            raise fault from err
        return ids

    def _ensure_user(self, user_id: str) -> tuple[str, tuple[Any, ...]]:
        now = time.time()
        return (
            "INSERT OR IGNORE INTO users (user_id, created_at, updated_at) VALUES (?, ?, ?)",
            (user_id, now, now),
        )

    @staticmethod
    def _check_user(user_id: str) -> None:
        if not isinstance(user_id, str) or not user_id.strip():
            raise MemoryError_("user_id must be a non-empty string")

    # -- profile ----------------------------------------------------------------------------------

    def _profile(self, user_id: str) -> Profile:
        row = self._db.execute("SELECT * FROM users WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            return Profile(user_id=user_id)
        return Profile(user_id=user_id, onboarding=row["onboarding"], **{f: row[f] for f in PROFILE_FIELDS})

    async def get_profile(self, user_id: str) -> Profile:
        return await self._run(self._profile, user_id)

    async def update_profile(self, user_id: str, **fields: str | None) -> Profile:
        """Set static-profile fields (``name``, ``age``, ``interests``, ``what_matters``, ``notes``)."""
        self._check_user(user_id)
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown:
            raise MemoryError_(
                f"unknown profile field(s) {sorted(unknown)}; editable: {', '.join(PROFILE_FIELDS)}"
            )
        if not fields:
            return await self.get_profile(user_id)
        cols = ", ".join(f"{k} = ?" for k in fields)
        values = tuple((str(v).strip() or None) if v is not None else None for v in fields.values())

        def work() -> Profile:
            self._write(
                [
                    self._ensure_user(user_id),
                    (
                        f"UPDATE users SET {cols}, updated_at = ? WHERE user_id = ?",
                        (*values, time.time(), user_id),
                    ),
                ]
            )
            return self._profile(user_id)

        return await self._run(work)

    async def set_onboarding(self, user_id: str, state: str) -> None:
        """Where the user is in onboarding. A storage fault is logged (once), not raised."""
        if state not in ONBOARDING_STATES:
            raise MemoryError_(f"onboarding state must be one of {ONBOARDING_STATES}")
        self._check_user(user_id)
        try:
            await self._run(
                self._write,
                [
                    self._ensure_user(user_id),
                    (
                        "UPDATE users SET onboarding = ?, updated_at = ? WHERE user_id = ?",
                        (state, time.time(), user_id),
                    ),
                ],
            )
        except MemoryWriteError as err:  # book-keeping of a turn: the turn goes on
            self._warn_once("the onboarding state", err)

    async def list_users(self) -> list[str]:
        def work() -> list[str]:
            rows = self._db.execute(
                "SELECT user_id FROM users UNION SELECT user_id FROM turns UNION SELECT user_id FROM facts "
                "ORDER BY 1"
            ).fetchall()
            return [r[0] for r in rows]

        return await self._run(work)

    # -- facts ------------------------------------------------------------------------------------

    async def add_fact(self, user_id: str, fact: str) -> int:
        self._check_user(user_id)
        fact = (fact or "").strip()
        if not fact:
            raise MemoryError_("a fact needs some text")
        ids = await self._run(
            self._write,
            [
                self._ensure_user(user_id),
                (
                    "INSERT INTO facts (user_id, fact, created_at) VALUES (?, ?, ?)",
                    (user_id, fact, time.time()),
                ),
            ],
        )
        return ids[-1]

    def _facts(self, user_id: str) -> list[Fact]:
        rows = self._db.execute(
            f"SELECT id, fact, created_at FROM facts WHERE user_id = ?{self._live} ORDER BY id", (user_id,)
        ).fetchall()
        return [Fact(r["id"], r["fact"], r["created_at"]) for r in rows]

    async def list_facts(self, user_id: str) -> list[Fact]:
        return await self._run(self._facts, user_id)

    async def forget_fact(self, user_id: str, text: str) -> ForgetResult:
        """Forget the ONE fact of this user that ``text`` designates clearly (:func:`match_facts`).

        Several equally good candidates: nothing is forgotten, they are returned as ``candidates``
        so that the caller asks which one (then :meth:`forget_fact_id`). A forgotten fact is kept,
        marked, and can be restored (:meth:`restore_fact`).
        """
        if not (text or "").strip():
            raise MemoryError_("say what to forget")

        def work() -> ForgetResult:
            hits = match_facts(text, self._facts(user_id))
            if len(hits) != 1:
                return ForgetResult(candidates=hits)
            self._mark_forgotten(user_id, hits[0].id)
            return ForgetResult(removed=hits, candidates=hits)

        return await self._run(work)

    def _mark_forgotten(self, user_id: str, fact_id: int) -> None:
        if not self._live:  # an old read-only store: there is no column to mark (and no write)
            raise MemoryWriteError("read-only", "this store predates forgotten facts and is read-only")
        self._write(
            [
                (
                    "UPDATE facts SET deleted_at = ? WHERE user_id = ? AND id = ? AND deleted_at IS NULL",
                    (time.time(), user_id, fact_id),
                )
            ]
        )

    async def forget_fact_id(self, user_id: str, fact_id: int) -> bool:
        """Forget one fact of this user by id (web page, confirmed choice); False if it was not there."""

        def work() -> bool:
            found = self._db.execute(
                f"SELECT 1 FROM facts WHERE user_id = ? AND id = ?{self._live}", (user_id, int(fact_id))
            ).fetchone()
            if found:
                self._mark_forgotten(user_id, int(fact_id))
            return bool(found)

        return await self._run(work)

    async def forgotten_facts(self, user_id: str) -> list[Fact]:
        """This user's forgotten facts, most recently forgotten first (``created_at`` is when it was said)."""

        def work() -> list[Fact]:
            if not self._live:
                return []
            rows = self._db.execute(
                "SELECT id, fact, created_at FROM facts WHERE user_id = ? AND deleted_at IS NOT NULL"
                " ORDER BY deleted_at DESC, id DESC",
                (user_id,),
            ).fetchall()
            return [Fact(r["id"], r["fact"], r["created_at"]) for r in rows]

        return await self._run(work)

    async def restore_fact(self, user_id: str, fact_id: int) -> bool:
        """Bring back one forgotten fact of this user; False if there is no such forgotten fact."""

        def work() -> bool:
            if not self._live:
                return False
            found = self._db.execute(
                "SELECT 1 FROM facts WHERE user_id = ? AND id = ? AND deleted_at IS NOT NULL",
                (user_id, int(fact_id)),
            ).fetchone()
            if found:
                self._write(
                    [
                        (
                            "UPDATE facts SET deleted_at = NULL WHERE user_id = ? AND id = ?",
                            (user_id, int(fact_id)),
                        )
                    ]
                )
            return bool(found)

        return await self._run(work)

    async def purge_forgotten(self, user_id: str) -> int:
        """Delete this user's forgotten facts for good; returns how many."""

        def work() -> int:
            if not self._live:
                return 0
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM facts WHERE user_id = ? AND deleted_at IS NOT NULL", (user_id,)
            ).fetchone()
            if count:
                self._write([("DELETE FROM facts WHERE user_id = ? AND deleted_at IS NOT NULL", (user_id,))])
            return int(count)

        return await self._run(work)

    # -- dynamic memory ---------------------------------------------------------------------------

    async def add_summary(self, user_id: str, summary: str) -> int:
        """Store a new version of the user's dynamic memory; returns its version number."""
        self._check_user(user_id)

        def work() -> int:
            row = self._db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM summaries WHERE user_id = ?", (user_id,)
            ).fetchone()
            version = int(row[0]) + 1
            self._write(
                [
                    self._ensure_user(user_id),
                    (
                        "INSERT INTO summaries (user_id, version, summary, created_at) VALUES (?, ?, ?, ?)",
                        (user_id, version, summary.strip(), time.time()),
                    ),
                ]
            )
            return version

        return await self._run(work)

    def _summary(self, user_id: str) -> str | None:
        row = self._db.execute(
            "SELECT summary FROM summaries WHERE user_id = ? ORDER BY version DESC LIMIT 1", (user_id,)
        ).fetchone()
        return row[0] if row else None

    async def latest_summary(self, user_id: str) -> str | None:
        return await self._run(self._summary, user_id)

    async def summaries(self, user_id: str) -> list[dict[str, Any]]:
        def work() -> list[dict[str, Any]]:
            rows = self._db.execute(
                "SELECT version, summary, created_at FROM summaries WHERE user_id = ? ORDER BY version",
                (user_id,),
            ).fetchall()
            return [dict(r) for r in rows]

        return await self._run(work)

    # -- conversation turns -----------------------------------------------------------------------

    async def add_turn(
        self,
        user_id: str,
        conversation_id: str,
        user_text: str,
        assistant_text: str,
        language: str | None = None,
        source: str | None = None,
    ) -> int:
        """Log one turn; returns its id, or 0 when the storage refused it (logged once per cause:
        the turn's answer must still reach the user)."""
        self._check_user(user_id)
        try:
            ids = await self._run(
                self._write,
                [
                    self._ensure_user(user_id),
                    (
                        "INSERT INTO turns (user_id, conversation_id, user_text, assistant_text, language,"
                        " source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (user_id, conversation_id, user_text, assistant_text, language, source, time.time()),
                    ),
                ],
            )
        except MemoryWriteError as err:
            self._warn_once("the conversation history", err)
            return 0
        return ids[-1]

    def _turns(self, user_id: str, conversation_id: str | None, limit: int) -> list[Turn]:
        if conversation_id is None:
            rows = self._db.execute(
                "SELECT * FROM turns WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM turns WHERE user_id = ? AND conversation_id = ? ORDER BY id DESC LIMIT ?",
                (user_id, conversation_id, limit),
            ).fetchall()
        return [
            Turn(
                r["id"],
                r["conversation_id"],
                r["user_text"],
                r["assistant_text"],
                r["language"],
                r["source"],
                r["created_at"],
            )
            for r in reversed(rows)
        ]

    async def recent_turns(
        self, user_id: str, conversation_id: str | None = None, limit: int = 10
    ) -> list[Turn]:
        """The user's last turns (of one conversation, or all), oldest first."""
        return await self._run(self._turns, user_id, conversation_id, limit)

    def _count_turns(self, user_id: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM turns WHERE user_id = ?", (user_id,)).fetchone()[0])

    async def count_turns(self, user_id: str) -> int:
        return await self._run(self._count_turns, user_id)

    # -- pending confirmations --------------------------------------------------------------------

    async def set_pending(self, pending: Pending) -> None:
        await self._run(
            self._write,
            [
                (
                    "INSERT OR REPLACE INTO pending (conversation_id, user_id, tool, arguments, action,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        pending.conversation_id,
                        pending.user_id,
                        pending.tool,
                        json.dumps(pending.arguments),
                        pending.action,
                        pending.created_at,
                    ),
                )
            ],
        )

    def _pending(self, conversation_id: str, user_id: str) -> Pending | None:
        row = self._db.execute(
            "SELECT * FROM pending WHERE conversation_id = ? AND user_id = ?", (conversation_id, user_id)
        ).fetchone()
        if row is None:
            return None
        return Pending(
            row["conversation_id"],
            row["user_id"],
            row["tool"],
            json.loads(row["arguments"]),
            row["action"],
            row["created_at"],
        )

    async def get_pending(self, conversation_id: str, user_id: str) -> Pending | None:
        """The pending call of THIS conversation and user only."""
        return await self._run(self._pending, conversation_id, user_id)

    async def clear_pending(self, conversation_id: str, user_id: str) -> None:
        """Drop the pending call. A storage fault is logged (once), not raised."""
        try:
            await self._run(
                self._write,
                [
                    (
                        "DELETE FROM pending WHERE conversation_id = ? AND user_id = ?",
                        (conversation_id, user_id),
                    )
                ],
            )
        except MemoryWriteError as err:
            self._warn_once("the end of a confirmation", err)

    # -- feedback ---------------------------------------------------------------------------------

    async def record_feedback(
        self, user_id: str, turn_id: int, rating: int, comment: str | None = None
    ) -> int:
        """Thumbs up (+1) or down (-1) on one of this user's turns; returns the feedback id."""
        if rating not in (-1, 1):
            raise MemoryError_("rating must be +1 or -1")

        def work() -> int:
            row = self._db.execute(
                "SELECT 1 FROM turns WHERE id = ? AND user_id = ?", (int(turn_id), user_id)
            ).fetchone()
            if row is None:
                raise MemoryError_(f"user {user_id!r} has no turn {turn_id}")
            return self._write(
                [
                    (
                        "INSERT INTO feedback (user_id, turn_id, rating, comment, created_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (user_id, int(turn_id), rating, comment, time.time()),
                    )
                ]
            )[-1]

        return await self._run(work)

    async def feedback(self, user_id: str) -> list[dict[str, Any]]:
        def work() -> list[dict[str, Any]]:
            rows = self._db.execute(
                "SELECT id, turn_id, rating, comment, created_at FROM feedback WHERE user_id = ? ORDER BY id",
                (user_id,),
            ).fetchall()
            return [dict(r) for r in rows]

        return await self._run(work)

    # -- whole-user views -------------------------------------------------------------------------

    async def snapshot(self, user_id: str, conversation_id: str, history_turns: int = 10) -> UserSnapshot:
        """Profile, latest summary, facts, this conversation's last turns and the pending call."""

        def work() -> UserSnapshot:
            return UserSnapshot(
                profile=self._profile(user_id),
                summary=self._summary(user_id),
                facts=self._facts(user_id),
                history=self._turns(user_id, conversation_id, history_turns),
                user_turns=self._count_turns(user_id),
                pending=self._pending(conversation_id, user_id),
            )

        return await self._run(work)

    async def export(self, user_id: str | None = None) -> dict[str, Any]:
        """Everything stored about one user (or every user), JSON-serializable."""
        users = [user_id] if user_id else await self.list_users()
        out: dict[str, Any] = {}
        for uid in users:
            profile = await self.get_profile(uid)
            out[uid] = {
                "profile": asdict(profile),
                "summaries": await self.summaries(uid),
                "facts": [asdict(f) for f in await self.list_facts(uid)],
                "forgotten_facts": [asdict(f) for f in await self.forgotten_facts(uid)],
                "turns": [asdict(t) for t in await self.recent_turns(uid, None, limit=1_000_000)],
                "feedback": await self.feedback(uid),
            }
        return {"users": out}

    async def integrity_check(self) -> str:
        return await self._run(lambda: str(self._db.execute("PRAGMA integrity_check").fetchone()[0]))
