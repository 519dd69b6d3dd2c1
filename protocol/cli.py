"""The `jarvis` command: a thin dispatcher over subcommands.

Each subcommand lives in the module that owns it and exposes two callables:

    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int | None       (may be ``async def``)

Modules are imported only when their subcommand runs, so a satellite-only install (no
faster-whisper, piper, onnxruntime) can still run ``jarvis satellite``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import sys
from collections.abc import Sequence

from . import __version__

# name -> (module, one-line help). Keep sorted by the order a user meets them.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("jarvis.server.serve", "run STT, TTS, brain, hub and web in one process"),
    "stt": ("jarvis.server.stt.__main__", "speech-to-text Wyoming service (faster-whisper)"),
    "tts": ("jarvis.server.tts.__main__", "text-to-speech Wyoming service (piper)"),
    "brain": ("jarvis.server.brain.__main__", "the brain: a Wyoming handle service (LLM agent)"),
    "hub": ("jarvis.server.hub.__main__", "voice pipeline hub for satellites"),
    "web": ("jarvis.server.web.__main__", "HTTPS web app: the browser satellite"),
    "satellite": ("jarvis.satellite.__main__", "a satellite: microphone, wake word, speaker"),
    "token": ("jarvis.server.token_cli", "show the master token (printed only when it is created)"),
    "devices": ("jarvis.server.devices_cli", "pair, list or revoke satellites' per-device credentials"),
    "announce": ("jarvis.server.announce_cli", "speak a text on satellites (an area, one, or all)"),
    "memory": ("jarvis.server.brain.memory_cli", "show, edit or export what Jarvis remembers"),
    "docs": ("jarvis.server.knowledge.cli", "the household's documents: add, list, search, remove, reindex"),
    "feedback": ("jarvis.server.brain.feedback_cli", "export the rated turns as JSONL, or report per model"),
    "bench": ("jarvis.server.bench", "benchmarks; figures go to docs/benchmarks.md"),
    "probe": ("jarvis.protocol.probe", "health check: ask a Wyoming service to describe itself"),
    "advertise": ("jarvis.protocol.advertise", "advertise services over zeroconf (Docker host network)"),
}

_LOGGER = logging.getLogger(__name__)


def _lazy_parser(sub: argparse._SubParsersAction, name: str, module: str, help_: str) -> None:
    parser = sub.add_parser(name, help=help_, description=help_)
    parser.set_defaults(_command=name, _module=module)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Build the parser; only the chosen subcommand's module is imported."""
    parser = argparse.ArgumentParser(
        prog="jarvis", description="Jarvis, a local and private voice assistant."
    )
    parser.add_argument("--version", action="version", version=f"jarvis {__version__}")
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module, help_) in COMMANDS.items():
        if name != chosen:
            _lazy_parser(sub, name, module, help_)
            continue
        cmd_parser = sub.add_parser(name, help=help_, description=help_)
        cmd_parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
        mod = importlib.import_module(module)
        mod.add_arguments(cmd_parser)
        cmd_parser.set_defaults(_command=name, _module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    mod = importlib.import_module(args._module)
    runner = mod.run
    try:
        if inspect.iscoroutinefunction(runner):
            result = asyncio.run(runner(args))
        else:
            result = runner(args)
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
