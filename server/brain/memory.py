"""What Jarvis remembers, per user: SQLite in WAL mode at ``<data_dir>/memory.sqlite3``.

Tables: ``users`` (static profile + onboarding state), ``summaries`` (dynamic memory, every version
kept), ``facts`` (remember/forget), ``turns`` (conversation history keyed by conversation AND user),
``pending`` (sensitive tool calls awaiting a spoken yes/no), ``feedback`` (thumbs up/down on a turn).

Every query filters by ``user_id``: one user's memory never reaches another user's prompt.

Durability: every write is one committed transaction, with ``journal_mode=WAL`` and
``synchronous=FULL``. In WAL mode NORMAL is already safe against a *process* crash (``kill -9``),
but may lose the last commits on power loss; FULL fsyncs the WAL at each commit so an acknowledged
write survives both. Memory writes are a handful per turn and off the event loop, so the extra fsync
costs nothing audible. All public methods are ``async`` and run SQLite in a worker thread
(``asyncio.to_thread``); one connection, guarded by a lock.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from jarvis.protocol.paths import data_dir

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
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, fact TEXT NOT NULL, created_at REAL NOT NULL
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            _LOGGER.warning("%s: could not enable WAL (journal_mode=%s)", self.path, mode)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

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
        """Run statements in ONE committed transaction; returns each statement's lastrowid."""
        ids: list[int] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in sql_and_params:
                ids.append(int(self._db.execute(sql, params).lastrowid or 0))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
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
        if state not in ONBOARDING_STATES:
            raise MemoryError_(f"onboarding state must be one of {ONBOARDING_STATES}")
        self._check_user(user_id)
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
            "SELECT id, fact, created_at FROM facts WHERE user_id = ? ORDER BY id", (user_id,)
        ).fetchall()
        return [Fact(r["id"], r["fact"], r["created_at"]) for r in rows]

    async def list_facts(self, user_id: str) -> list[Fact]:
        return await self._run(self._facts, user_id)

    async def forget_fact(self, user_id: str, text: str) -> list[Fact]:
        """Delete this user's facts that match ``text`` (substring, else the closest one); returns them."""
        needle = (text or "").strip().lower()
        if not needle:
            raise MemoryError_("say what to forget")

        def work() -> list[Fact]:
            facts = self._facts(user_id)
            hits = [f for f in facts if needle in f.fact.lower() or f.fact.lower() in needle]
            if not hits:
                scored = [(difflib.SequenceMatcher(None, needle, f.fact.lower()).ratio(), f) for f in facts]
                scored = [s for s in scored if s[0] >= 0.6]
                hits = [max(scored, key=lambda s: s[0])[1]] if scored else []
            if hits:
                self._write(
                    [("DELETE FROM facts WHERE user_id = ? AND id = ?", (user_id, f.id)) for f in hits]
                )
            return hits

        return await self._run(work)

    async def forget_fact_id(self, user_id: str, fact_id: int) -> bool:
        """Delete one fact of this user by id (the web page's memory editor); False if it was not there."""

        def work() -> bool:
            found = self._db.execute(
                "SELECT 1 FROM facts WHERE user_id = ? AND id = ?", (user_id, fact_id)
            ).fetchone()
            if found:
                self._write([("DELETE FROM facts WHERE user_id = ? AND id = ?", (user_id, fact_id))])
            return bool(found)

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
        self._check_user(user_id)
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
        await self._run(
            self._write,
            [("DELETE FROM pending WHERE conversation_id = ? AND user_id = ?", (conversation_id, user_id))],
        )

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
                "turns": [asdict(t) for t in await self.recent_turns(uid, None, limit=1_000_000)],
                "feedback": await self.feedback(uid),
            }
        return {"users": out}

    async def integrity_check(self) -> str:
        return await self._run(lambda: str(self._db.execute("PRAGMA integrity_check").fetchone()[0]))
