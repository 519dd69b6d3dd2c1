"""`jarvis bench …`: benchmarks. Each writes its figures to docs/benchmarks.md (its own section).

Subcommands live in modules of this package; each exposes ``add_arguments(parser)`` and
``async def run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
from typing import Any

# name -> (module, help)
BENCHES: dict[str, tuple[str, str]] = {
    "stt": ("jarvis.server.bench.stt", "STT latency vs wyoming-faster-whisper"),
    "tts": ("jarvis.server.bench.tts", "TTS first-audio latency vs wyoming-piper"),
    "brain": ("jarvis.server.bench.brain", "intent latency and brain overhead"),
    "times": ("jarvis.server.bench.times", "how often the STT hears the spoken time right"),
    "e2e": ("jarvis.server.bench.e2e", "whole voice turns with 1, 4, 8 headless satellites"),
    "understand": ("jarvis.server.bench.understand", "task success of spoken commands in unfamiliar voices"),
    "soak": ("jarvis.server.bench.soak", "satellites' turns under attack, services killed and restarted"),
    "docs": ("jarvis.server.bench.docs_bench", "document search: recall@3, latency, indexing"),
    "wake": ("jarvis.server.bench.wake", "wake word engines: recall in unfamiliar voices, false wakes, CPU"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, (module, help_) in BENCHES.items():
        bench_parser = sub.add_parser(name, help=help_, description=help_)
        try:
            mod = importlib.import_module(module)
        except ImportError as err:  # a bench whose module is missing is reported, not fatal
            bench_parser.set_defaults(_bench_error=str(err))
            continue
        mod.add_arguments(bench_parser)
        bench_parser.set_defaults(_bench_module=module)


async def run(args: argparse.Namespace) -> int:
    if getattr(args, "_bench_error", None):
        raise SystemExit(f"bench {args.bench} unavailable: {args._bench_error}")
    mod: Any = importlib.import_module(args._bench_module)
    result = mod.run(args)
    if inspect.isawaitable(result):
        result = await result
    return int(result or 0)
