"""``jarvis feedback export|report``: the recorded turns with their 👍/👎, as a dataset and as figures.

    jarvis feedback [--data-dir D] export [--out turns.jsonl] [--rated-only]
    jarvis feedback [--data-dir D] report

``export`` writes one JSON object per turn (JSONL), oldest first: ``prompt`` (what the brain
answered, after the wake phrase was removed), ``answer``, ``user_id``, ``conversation_id``,
``language``, ``source`` (intent, agent, ...), ``rating`` (the latest: 1, -1 or null), every
``ratings`` entry with its time and comment (``voice`` for "that was wrong"), ``created_at``.
``model``, ``memory`` and ``tools`` are in every record but null: the brain does not record them
per turn yet (see docs/feedback.md). Each text field is cut at :data:`MAX_FIELD_CHARS`. The file
is created 0600 (it holds what people said); without ``--out`` the records go to stdout.

``report`` prints, per model (``unknown`` until it is recorded) and source, the number of turns,
👍, 👎 and the win rate 👍 / (👍 + 👎). Nothing of what was said is printed or logged.

The memory store is opened read-only (``mode=ro``): a running brain keeps writing to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from jarvis.protocol.paths import data_dir

from .memory import DB_NAME

MAX_FIELD_CHARS = 4000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where memory.sqlite3 lives (default: Jarvis data dir)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = sub.add_parser("export", help="the turns with their feedback, as JSONL")
    export.add_argument("--out", "-o", type=Path, help="file to write, created 0600 (default: stdout)")
    export.add_argument("--rated-only", action="store_true", help="only the turns that have a rating")
    sub.add_parser("report", help="per-model counts, 👍/👎 and win rate")


class FeedbackError(RuntimeError):
    """The store cannot be read (missing, not a Jarvis store)."""


def _connect(directory: Path) -> sqlite3.Connection:
    path = directory / DB_NAME
    if not path.is_file():
        raise FeedbackError(f"no {DB_NAME} in {directory}: nothing recorded yet (or the wrong --data-dir)")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        db.execute("SELECT 1 FROM turns LIMIT 1")
        db.execute("SELECT 1 FROM feedback LIMIT 1")
    except sqlite3.Error as err:
        raise FeedbackError(f"{path} cannot be read as a Jarvis memory store: {err}") from err
    return db


def _cut(text: str | None) -> str | None:
    return None if text is None else text[:MAX_FIELD_CHARS]


def records(db: sqlite3.Connection, rated_only: bool = False) -> Iterator[dict[str, Any]]:
    """Every turn (or every rated turn), oldest first, with its ratings."""
    ratings: dict[int, list[dict[str, Any]]] = {}
    for row in db.execute("SELECT turn_id, user_id, rating, comment, created_at FROM feedback ORDER BY id"):
        ratings.setdefault(int(row["turn_id"]), []).append(
            {
                "user_id": row["user_id"],
                "rating": row["rating"],
                "comment": row["comment"],
                "at": row["created_at"],
            }
        )
    for row in db.execute("SELECT * FROM turns ORDER BY id"):
        # a rating counts only when it was given by the turn's own user
        own = [r for r in ratings.get(int(row["id"]), []) if r["user_id"] == row["user_id"]]
        if rated_only and not own:
            continue
        yield {
            "turn_id": row["id"],
            "user_id": row["user_id"],
            "conversation_id": row["conversation_id"],
            "language": row["language"],
            "source": row["source"],
            "prompt": _cut(row["user_text"]),
            "answer": _cut(row["assistant_text"]),
            "model": None,
            "memory": None,
            "tools": None,
            "rating": own[-1]["rating"] if own else None,
            "ratings": [{"rating": r["rating"], "comment": _cut(r["comment"]), "at": r["at"]} for r in own],
            "created_at": row["created_at"],
        }


def _open_private(path: Path) -> TextIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file is narrowed too
    return os.fdopen(fd, "w", encoding="utf-8")


def export(db: sqlite3.Connection, out: Path | None, rated_only: bool = False) -> int:
    """Write the JSONL; returns how many records."""
    count = 0
    stream = _open_private(out) if out is not None else sys.stdout
    try:
        for record in records(db, rated_only):
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if out is not None:
            stream.close()
    return count


def report(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Rows of the report: model, source, turns, up, down, win_rate (None without a rating)."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records(db):
        key = (record["model"] or "unknown", record["source"] or "-")
        group = groups.setdefault(key, {"model": key[0], "source": key[1], "turns": 0, "up": 0, "down": 0})
        group["turns"] += 1
        if record["rating"] == 1:
            group["up"] += 1
        elif record["rating"] == -1:
            group["down"] += 1
    rows = [groups[k] for k in sorted(groups)]
    for row in rows:
        rated = row["up"] + row["down"]
        row["win_rate"] = row["up"] / rated if rated else None
    return rows


def _print_report(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("No turns recorded yet.")
        return
    print(f"{'model':<24} {'source':<12} {'turns':>6} {'👍':>5} {'👎':>5} {'win rate':>9}  latency")
    for r in rows:
        win = f"{r['win_rate']:.0%}" if r["win_rate"] is not None else "-"
        print(f"{r['model']:<24} {r['source']:<12} {r['turns']:>6} {r['up']:>5} {r['down']:>5} {win:>9}  -")
    print("latency: not recorded per turn yet")


def run(args: argparse.Namespace) -> int:
    try:
        db = _connect(data_dir(args.data_dir))
    except FeedbackError as err:
        print(f"jarvis feedback: {err}", file=sys.stderr)
        return 1
    try:
        if args.action == "export":
            count = export(db, args.out, args.rated_only)
            if args.out is not None:
                print(f"{count} turns written to {args.out}", file=sys.stderr)
        else:
            _print_report(report(db))
    except OSError as err:
        print(f"jarvis feedback: {err}", file=sys.stderr)
        return 1
    finally:
        db.close()
    return 0
