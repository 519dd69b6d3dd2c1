"""`jarvis bench tts`: time to first audio of our TTS service against wyoming-piper, side by side.

Both servers run as subprocesses on this machine with the same voice file (the bundled
``en_US-joe-medium``); wyoming-piper comes from PyPI in a separate venv (``.bench/ref-venv``, created
on first use, shared with ``jarvis bench stt``). Requests are interleaved round-robin across the
servers, so a load spike on the machine hits every server alike.

Measured for a three-sentence reply:
- time from the first request byte to the first ``audio-chunk`` (median, p95), single client, in
  streaming mode (``synthesize-start``, word-sized ``synthesize-chunk``s, ``synthesize-stop``,
  sent back to back) and with plain ``synthesize``;
- the same with 4 clients at once (streaming mode);
- real-time factor (synthesis time / audio duration, single client, plain ``synthesize``);
- peak RSS of each server process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from jarvis.protocol.service import Connection

from .procs import ServerProcess, free_port, jarvis_argv, run_server
from .report import markdown_table, median, percentile, write_section

_LOGGER = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
REF_VENV = REPO_ROOT / ".bench" / "ref-venv"
#: What the reference venv holds (shared with the STT bench).
REF_PACKAGES = ("wyoming-piper", "wyoming-faster-whisper")

TEXT = (
    "The weather in Berlin is sunny today, with a high of twenty two degrees. "
    "Tomorrow it will be cloudy, and rain is likely in the evening. "
    "Don't forget to take an umbrella."
)
TIMEOUT = 120.0


# ---------------------------------------------------------------------------------------------
# The reference environment


def ref_python(venv: Path = REF_VENV) -> Path:
    return venv / "bin" / "python"


def ensure_ref_venv(venv: Path = REF_VENV, packages: tuple[str, ...] = REF_PACKAGES) -> Path:
    """Create ``venv`` with the reference servers from PyPI if it is missing; returns its python.

    Guarded by an exclusive file lock next to it, so two benches never install at once; a venv
    that is complete (marker file written after a successful install) is reused as is.
    """
    venv.parent.mkdir(parents=True, exist_ok=True)
    marker = venv / ".jarvis-ref-complete"
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            _LOGGER.info("Creating reference venv %s with %s (one time)", venv, ", ".join(packages))
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            pip = [str(ref_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            subprocess.run([*pip, *packages], check=True)
            marker.write_text(" ".join(packages) + "\n")
    return ref_python(venv)


def prepare_ref_voice(model: Path, data_dir: Path) -> str:
    """Link the voice into a wyoming-piper data dir as ``NAME.onnx`` + ``NAME.onnx.json``; returns NAME."""
    name = model.name.removesuffix(".onnx")
    data_dir.mkdir(parents=True, exist_ok=True)
    for source, target in ((model, f"{name}.onnx"), (Path(f"{model}.json"), f"{name}.onnx.json")):
        link = data_dir / target
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(source.resolve())
    return name


# ---------------------------------------------------------------------------------------------
# Clients


@dataclass
class Timing:
    first_audio_s: float
    total_s: float
    audio_s: float


async def _drain(conn: Connection, sent: float, until: str) -> Timing:
    first: float | None = None
    audio_bytes = 0
    rate = width = channels = 0
    async with asyncio.timeout(TIMEOUT):
        while True:
            event = await conn.read_event()
            if event is None:
                raise ConnectionError("server closed the connection")
            if event.type == "audio-start":
                rate, width = int(event.data["rate"]), int(event.data["width"])
                channels = int(event.data["channels"])
            elif event.type == "audio-chunk":
                if first is None:
                    first = time.monotonic()
                audio_bytes += len(event.payload or b"")
            elif event.type == "error":
                raise RuntimeError(f"server error: {event.data}")
            if event.type == until:
                done = time.monotonic()
                break
    if first is None or not rate:
        raise RuntimeError("no audio received")
    return Timing(first - sent, done - sent, audio_bytes / (rate * width * channels))


async def request_plain(uri: str, text: str = TEXT) -> Timing:
    async with await Connection.open(uri) as conn:
        sent = time.monotonic()
        await conn.write_event(Synthesize(text=text).event())
        return await _drain(conn, sent, "audio-stop")


async def request_streaming(uri: str, text: str = TEXT) -> Timing:
    """``synthesize-start``, one chunk per word (with its leading space), ``synthesize-stop``."""
    words = text.split(" ")
    deltas = [words[0]] + [" " + w for w in words[1:]]
    async with await Connection.open(uri) as conn:
        sent = time.monotonic()
        events: list[Event] = [SynthesizeStart().event()]
        events += [SynthesizeChunk(text=d).event() for d in deltas]
        events.append(SynthesizeStop().event())
        for event in events:
            await conn.write_event(event)
        return await _drain(conn, sent, "synthesize-stopped")


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Series:
    """Timings of one server in one mode."""

    label: str
    timings: list[Timing] = field(default_factory=list)

    def first(self) -> list[float]:
        return [t.first_audio_s for t in self.timings]

    def rtf(self) -> float:
        return median([t.total_s / t.audio_s for t in self.timings if t.audio_s > 0])


@dataclass
class Target:
    name: str
    server: ServerProcess
    streaming: bool
    series: dict[str, Series] = field(default_factory=dict)

    def record(self, mode: str, timings: list[Timing]) -> None:
        self.series.setdefault(mode, Series(mode)).timings.extend(timings)


@contextlib.asynccontextmanager
async def _servers(args: argparse.Namespace, log_dir: Path) -> AsyncIterator[list[Target]]:
    from jarvis.server.tts.engine import default_voice_path

    voice = Path(args.voice) if args.voice else default_voice_path()
    async with contextlib.AsyncExitStack() as stack:
        targets: list[Target] = []
        ours: list[tuple[str, list[str]]] = [("jarvis", [])]
        if args.compare_no_split:
            ours.append(("jarvis, no clause split", ["--no-split-first-clause"]))
        for name, extra in ours:
            uri = f"tcp://127.0.0.1:{free_port()}"
            # --no-cache: each run synthesizes, as wyoming-piper does (a cache hit measures nothing)
            argv = jarvis_argv("tts", "--uri", uri, "--voice", str(voice), "--no-cache", *extra)
            log = log_dir / f"{name.split(',')[0]}{'-nosplit' if extra else ''}.log"
            proc = await stack.enter_async_context(run_server(name, argv, uri, log))
            targets.append(Target(name, proc, streaming=True))
        if not args.no_reference:
            python = await asyncio.to_thread(ensure_ref_venv)
            voice_name = prepare_ref_voice(voice, log_dir / "piper-data")
            uri = f"tcp://127.0.0.1:{free_port()}"
            argv = [
                str(python), "-m", "wyoming_piper", "--uri", uri, "--voice", voice_name,
                "--data-dir", str(log_dir / "piper-data"),
            ]  # fmt: skip
            proc = await stack.enter_async_context(
                run_server("wyoming-piper", argv, uri, log_dir / "wyoming-piper.log")
            )
            targets.append(Target("wyoming-piper", proc, streaming=True))
        yield targets


async def _measure(targets: list[Target], runs: int, clients: int) -> None:
    modes: list[tuple[str, Callable[[str], Awaitable[Timing]], int]] = [
        ("streaming", request_streaming, 1),
        ("synthesize", request_plain, 1),
        (f"streaming x{clients}", request_streaming, clients),
    ]
    for target in targets:  # warm-up: first inference, imports, page cache
        await request_plain(target.server.uri, "Warming up.")
    for run in range(runs):
        for mode, request, n in modes:
            for target in targets:
                timings = await asyncio.gather(*(request(target.server.uri) for _ in range(n)))
                target.record(mode, list(timings))
        _LOGGER.info("run %d/%d done", run + 1, runs)


def _table(targets: list[Target], clients: int) -> str:
    reference = next((t for t in targets if t.name == "wyoming-piper"), None)
    rows: list[list[object]] = []
    for mode in ("streaming", "synthesize", f"streaming x{clients}"):
        ref_median = median(reference.series[mode].first()) if reference else float("nan")
        for target in targets:
            series = target.series[mode]
            first = series.first()
            rows.append(
                [
                    target.name,
                    mode,
                    len(first),
                    median(first) * 1000,
                    percentile(first, 95) * 1000,
                    median(first) / ref_median if reference else "n/a",
                ]
            )
    table = markdown_table(
        ["server", "mode", "n", "first audio median ms", "p95 ms", "ratio vs wyoming-piper"], rows
    )
    extra = markdown_table(
        ["server", "RTF (plain synthesize)", "peak RSS MiB"],
        [[t.name, t.series["synthesize"].rtf(), t.server.peak_rss_mib] for t in targets],
    )
    return table + "\n\n" + extra


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=10, help="rounds per mode (default 10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--voice", help="piper .onnx voice for both servers (default: bundled)")
    parser.add_argument("--no-reference", action="store_true", help="skip wyoming-piper")
    parser.add_argument(
        "--compare-no-split",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run ours with --no-split-first-clause",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")


async def run(args: argparse.Namespace) -> int:
    if args.runs < 1 or args.clients < 1:
        raise SystemExit("--runs and --clients must be at least 1")
    log_dir = REPO_ROOT / ".bench" / "tts"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    async with _servers(args, log_dir) as targets:
        await _measure(targets, args.runs, args.clients)
        table = _table(targets, args.clients)
    body = (
        "## TTS: time to first audio\n\n"
        f"A three-sentence reply ({len(TEXT)} characters, about 11 s of speech), bundled voice "
        f"`en_US-joe-medium` for every server; {args.runs} rounds, requests interleaved across "
        f"servers; x{args.clients} = {args.clients} clients at once (all their first-audio times "
        "pooled). Streaming = `synthesize-start`, one `synthesize-chunk` per word, `synthesize-stop`, "
        "sent back to back; times run from the first byte sent to the first `audio-chunk`. RTF = "
        "time to `audio-stop` / audio duration. Ours splits a reply's first sentence at its first "
        "clause boundary (see docs/tts.md); the 'no clause split' row shows the gain without it.\n\n"
        f"{table}\n\nCommand: `jarvis bench tts --runs {args.runs}` "
        f"({time.monotonic() - started:.0f} s, logs in .bench/tts/); 1-minute load average "
        f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after (other work on the machine "
        "slows every server alike, since requests are interleaved)."
    )
    print(body)
    if not args.no_write:
        write_section("tts", body)
    return 0
