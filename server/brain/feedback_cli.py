"""``jarvis feedback export|report``: the recorded turns with their 👍/👎, as a dataset and as figures.

    jarvis feedback [--data-dir D] export [--out turns.jsonl] [--rated-only]
    jarvis feedback [--data-dir D] report

``export`` writes one JSON object per turn (JSONL), oldest first: ``prompt`` (what the brain
answered, after the wake phrase was removed), ``answer``, ``user_id``, ``conversation_id``,
``language``, ``source`` (intent, agent, ...), ``rating`` (the latest: 1, -1 or null), every
``ratings`` entry with its time and comment (``voice`` for "that was wrong"), ``created_at``.
``model``, ``arm`` (A/B: ``a`` or ``b``), ``memory`` (the system prompt with the memory injected),
``tools`` (the calls, with their arguments) and ``latency_ms`` come from the agent's trace
(:mod:`.feedback_log`, ``feedback.sqlite3``); they are null for turns the agent did not answer.
Each text field is cut at :data:`MAX_FIELD_CHARS`. The file is created 0600 (it holds what people
said); without ``--out`` the records go to stdout.

``report`` prints, per model (``-`` for turns no model answered) and source, the number of turns,
👍, 👎, the win rate 👍 / (👍 + 👎) and the median latency of the answer.
Nothing of what was said is printed or logged.

The memory store is opened read-only (``mode=ro``): a running brain keeps writing to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from jarvis.protocol.paths import data_dir

from .feedback_log import read_traces
from .memory import DB_NAME

MAX_FIELD_CHARS = 4000
MAX_TRACE_PROMPT = 8000  # feedback_log.MAX_TEXT_CHARS


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


#: A trace belongs to a turn stored at most this long after it (the answer's time included).
TRACE_SLACK_S = 300.0


def _trace_finder(traces: list[dict[str, Any]]) -> Any:
    queues: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for trace in traces:
        queues.setdefault((trace["user_id"], trace["conversation_id"], trace["prompt"]), []).append(trace)

    def find(user_id: str, conversation_id: str, prompt: str, at: float) -> dict[str, Any] | None:
        queue = queues.get((user_id, conversation_id, prompt[:MAX_TRACE_PROMPT]), [])
        while queue and queue[0]["created_at"] < at - TRACE_SLACK_S:
            queue.pop(0)  # a trace whose turn was never stored
        if queue and queue[0]["created_at"] <= at + 1.0:
            return queue.pop(0)
        return None

    return find


def records(
    db: sqlite3.Connection, rated_only: bool = False, traces: list[dict[str, Any]] | None = None
) -> Iterator[dict[str, Any]]:
    """Every turn (or every rated turn), oldest first, with its ratings and its agent trace."""
    find = _trace_finder(traces or [])
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
        trace = None
        if row["source"] == "agent":
            trace = find(row["user_id"], row["conversation_id"], row["user_text"], row["created_at"])
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
            "model": trace["model"] if trace else None,
            "arm": trace["arm"] if trace else None,
            "memory": _cut(trace["memory"]) if trace else None,
            "tools": json.loads(trace["tools"]) if trace else None,
            "latency_ms": round(trace["latency_ms"], 1) if trace else None,
            "rating": own[-1]["rating"] if own else None,
            "ratings": [{"rating": r["rating"], "comment": _cut(r["comment"]), "at": r["at"]} for r in own],
            "created_at": row["created_at"],
        }


def _open_private(path: Path) -> TextIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file is narrowed too
    return os.fdopen(fd, "w", encoding="utf-8")


def export(
    db: sqlite3.Connection,
    out: Path | None,
    rated_only: bool = False,
    traces: list[dict[str, Any]] | None = None,
) -> int:
    """Write the JSONL; returns how many records."""
    count = 0
    stream = _open_private(out) if out is not None else sys.stdout
    try:
        for record in records(db, rated_only, traces):
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if out is not None:
            stream.close()
    return count


def report(db: sqlite3.Connection, traces: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Rows: model, source, turns, up, down, win_rate (None without a rating), latency_ms (median)."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    latencies: dict[tuple[str, str], list[float]] = {}
    for record in records(db, traces=traces):
        key = (record["model"] or "-", record["source"] or "-")
        group = groups.setdefault(key, {"model": key[0], "source": key[1], "turns": 0, "up": 0, "down": 0})
        group["turns"] += 1
        if record["latency_ms"] is not None:
            latencies.setdefault(key, []).append(record["latency_ms"])
        if record["rating"] == 1:
            group["up"] += 1
        elif record["rating"] == -1:
            group["down"] += 1
    for key, row in groups.items():
        rated = row["up"] + row["down"]
        row["win_rate"] = row["up"] / rated if rated else None
        row["latency_ms"] = statistics.median(latencies[key]) if key in latencies else None
    rows = [groups[k] for k in sorted(groups)]
    return rows


def _print_report(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("No turns recorded yet.")
        return
    print(
        f"{'model':<28} {'source':<12} {'turns':>6} {'up':>5} {'down':>5} {'win rate':>9} {'median ms':>10}"
    )
    for r in rows:
        win = f"{r['win_rate']:.0%}" if r["win_rate"] is not None else "-"
        ms = f"{r['latency_ms']:.0f}" if r["latency_ms"] is not None else "-"
        print(
            f"{r['model']:<28} {r['source']:<12} {r['turns']:>6} {r['up']:>5} {r['down']:>5}"
            f" {win:>9} {ms:>10}"
        )


def run(args: argparse.Namespace) -> int:
    try:
        db = _connect(data_dir(args.data_dir))
    except FeedbackError as err:
        print(f"jarvis feedback: {err}", file=sys.stderr)
        return 1
    try:
        traces = read_traces(data_dir(args.data_dir))
        if args.action == "export":
            count = export(db, args.out, args.rated_only, traces)
            if args.out is not None:
                print(f"{count} turns written to {args.out}", file=sys.stderr)
        else:
            _print_report(report(db, traces))
    except (OSError, sqlite3.Error) as err:
        print(f"jarvis feedback: {err}", file=sys.stderr)
        return 1
    finally:
        db.close()
    return 0
