"""``jarvis bench brain``: local-intent answer latency and the brain's own overhead, over real Wyoming TCP.

Starts ``jarvis brain`` as a subprocess (its own data dir, no onboarding) with ScriptedLLM (a test
double that answers instantly: three sentences, no tool call), then measures from the client:

- intent answer: ``transcript`` sent -> ``handled`` received, for local intents (time, date,
  arithmetic in words, timers, EN and FR); the LLM is never asked.
- brain overhead: ``transcript`` sent -> first ``handled-chunk`` received, for a question the intents
  do not know, so it goes through the prefilter, the fast paths, memory, prompt building and the
  agent loop; the model itself costs zero.

Median / p95 / max over ``--runs`` turns each; figures go to the ``brain`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from wyoming.asr import Transcript

from jarvis.protocol.service import Connection

from .procs import free_port, jarvis_argv, run_server
from .report import markdown_table, median, percentile, write_section

_LOGGER = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]

INTENT_PHRASES = [
    ("en", "what time is it"),
    ("en", "what's the date today"),
    ("en", "what is twenty three times four"),
    ("en", "set a timer for five minutes"),
    ("fr", "quelle heure est-il"),
    ("fr", "combien font douze fois trois"),
]
AGENT_PHRASE = ("en", "tell me something interesting about octopuses")
SCRIPT = {
    "loop": True,
    "turns": [
        {
            "text": "Octopuses have three hearts. Two pump blood to the gills. Their blood is blue.",
            "delay": 0.0,
        }
    ],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=100, help="turns per measurement (default 100, min 50)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")


async def _turn(uri: str, language: str, text: str, n: int) -> tuple[float, float, str, str]:
    """(ms to first handled-chunk, ms to handled, handled text, source)."""
    context = {"conversation_id": f"bench-{n}", "user_id": "bench", "satellite_id": "bench-sat"}
    async with await Connection.open(uri) as conn:
        start = time.perf_counter()
        await conn.write_event(Transcript(text=text, language=language, context=context).event())
        first = float("nan")
        while True:
            event = await conn.read_event(timeout=30)
            if event is None:
                raise RuntimeError("brain closed the connection")
            now = (time.perf_counter() - start) * 1000
            if event.type == "handled-chunk" and first != first:
                first = now
            if event.type in ("handled", "not-handled"):
                return first, now, str(event.data.get("text", "")), event.type
            if event.type == "error":
                raise RuntimeError(f"brain error: {event.data}")


async def run(args: argparse.Namespace) -> int:
    if args.runs < 50:
        raise SystemExit("--runs must be at least 50")
    started = time.monotonic()
    logs = REPO_ROOT / ".bench" / "brain"
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-brain-") as tmp:
        plan = Path(tmp) / "script.json"
        plan.write_text(json.dumps(SCRIPT))
        uri = f"tcp://127.0.0.1:{free_port()}"
        argv = jarvis_argv(
            "brain",
            "--uri",
            uri,
            "--llm",
            f"scripted:{plan}",
            "--data-dir",
            str(Path(tmp) / "data"),
            "--no-onboarding",
            "--memory-refresh-turns",
            "0",
        )
        async with run_server("brain", argv, uri, logs / "brain.log", timeout=60) as proc:
            for warm in range(3):  # first turns open SQLite pages, compile regexes...
                await _turn(uri, *INTENT_PHRASES[warm], warm)
                await _turn(uri, *AGENT_PHRASE, warm)
            intent_ms: list[float] = []
            for i in range(args.runs):
                language, text = INTENT_PHRASES[i % len(INTENT_PHRASES)]
                _, done, answer, kind = await _turn(uri, language, text, i)
                if kind != "handled" or not answer:
                    raise RuntimeError(f"intent {text!r} was not answered: {kind} {answer!r}")
                intent_ms.append(done)
            first_ms: list[float] = []
            full_ms: list[float] = []
            for i in range(args.runs):
                first, done, answer, kind = await _turn(uri, *AGENT_PHRASE, 1000 + i)
                if kind != "handled" or not answer.startswith("Octopuses"):
                    raise RuntimeError(f"agent turn not answered by the script: {kind} {answer!r}")
                first_ms.append(first)
                full_ms.append(done)
            rss = proc.peak_rss_mib

    rows = [
        [
            "Local intent answer (transcript → handled)",
            len(intent_ms),
            median(intent_ms),
            percentile(intent_ms, 95),
            max(intent_ms),
        ],
        [
            "Brain overhead (transcript → first handled-chunk), ScriptedLLM",
            len(first_ms),
            median(first_ms),
            percentile(first_ms, 95),
            max(first_ms),
        ],
        [
            "Agent turn, 3 sentences (transcript → handled), ScriptedLLM",
            len(full_ms),
            median(full_ms),
            percentile(full_ms, 95),
            max(full_ms),
        ],
    ]
    table = markdown_table(["measurement", "runs", "median ms", "p95 ms", "max ms"], rows)
    body = (
        "### Brain\n\n"
        f"{table}\n\n"
        f"Intent phrases (round robin): {', '.join(repr(t) for _, t in INTENT_PHRASES)}. "
        "The agent question goes through prefilter, intents (no match), memory (SQLite, WAL, "
        "synchronous=FULL: the turn is stored before `handled`), prompt building and the agent loop; "
        "the ScriptedLLM test double answers instantly, so this is the brain's own cost, not a model's. "
        f"One `jarvis brain` subprocess, one new TCP connection per turn; brain peak RSS {rss:.0f} MiB.\n\n"
        f"Command: `jarvis bench brain --runs {args.runs}` ({time.monotonic() - started:.0f} s, "
        "log in .bench/brain/)."
    )
    print(body)
    if not args.no_write:
        write_section("brain", body)
    return 0
