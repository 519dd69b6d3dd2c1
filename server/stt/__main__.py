"""`jarvis stt`: the speech-to-text Wyoming service (faster-whisper), default ``tcp://127.0.0.1:10300``.

Also :func:`start_stt`, which ``jarvis serve`` and the tests use to run the same service in-process.
"""

from __future__ import annotations

import argparse
import functools
import logging
import re

from jarvis.protocol import discovery
from jarvis.protocol.service import WyomingServer, stop_signal

from .engine import DEFAULT_BEAM_SIZE, SttEngine, SttSettings, model_for_languages, parse_languages
from .handler import StreamingSettings, SttHandler, build_info

_LOGGER = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10300"


class SttServer(WyomingServer):
    """A started STT server; :meth:`stop` also closes the engine when the server created it."""

    def __init__(self, uri: str, engine: SttEngine, streaming: StreamingSettings, own_engine: bool) -> None:
        self.engine = engine
        self.info = build_info(engine)
        self.streaming = streaming
        self._own_engine = own_engine
        info_event = self.info.event()
        super().__init__(
            uri, functools.partial(SttHandler, engine=engine, info_event=info_event, streaming=streaming)
        )

    async def stop(self) -> None:
        await super().stop()
        if self._own_engine:
            await self.engine.close()


async def start_stt(
    uri: str = DEFAULT_URI,
    settings: SttSettings | None = None,
    streaming: StreamingSettings | None = None,
    engine: SttEngine | None = None,
) -> SttServer:
    """Start serving at once; the model loads in the background (``describe`` never waits for it).

    Pass ``engine`` to share one loaded model (then ``settings`` is ignored). Returns the started
    server; ``await server.stop()`` (or ``async with``) ends it. Port 0 picks a free port
    (``server.port``/``server.uri``). ``await server.engine.model()`` waits until the model is loaded.
    """
    own = engine is None
    if engine is None:
        engine = SttEngine(settings or SttSettings())
    engine.start_loading()
    server = SttServer(uri, engine, streaming or StreamingSettings(), own_engine=own)
    try:
        await server.start()
    except BaseException:
        if own:
            await engine.close()
        raise
    return server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uri", default=DEFAULT_URI, help=f"where to listen (default {DEFAULT_URI})")
    parser.add_argument(
        "--model",
        default="",
        help="tiny.en or base (embedded), a faster-whisper model name (e.g. small.en, downloaded on "
        "first use) or a path; default: tiny.en for --language en, base for anything else",
    )
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu", help="default cpu")
    parser.add_argument(
        "--compute-type", default="default", help="CTranslate2 compute type (default: int8 on CPU)"
    )
    parser.add_argument(
        "--language",
        default="en",
        help="one language (en, fr, ...), several to detect among (en,fr), or 'auto' for any; "
        "several or auto need a multilingual model such as --model base (default en)",
    )
    parser.add_argument(
        "--hotwords",
        default=None,
        help="words to bias the decoder toward, e.g. 'Hey Jarvis' (default: none)",
    )
    parser.add_argument(
        "--initial-prompt",
        action="append",
        default=[],
        metavar="[LANG=]TEXT",
        help="text the decoder reads as said before the audio, to bias it toward a vocabulary "
        "(faster-whisper initial_prompt); LANG= for one language, repeat for several (default: none)",
    )
    parser.add_argument(
        "--ignore-wake-hint",
        action="store_true",
        help="ignore the hub's wake-phrase hint (language detected on the whole utterance, no decoder "
        "prefix); for comparison only",
    )
    parser.add_argument(
        "--no-alternatives",
        action="store_true",
        help="do not send the beam's runners-up with the transcript (for comparison only)",
    )
    parser.add_argument(
        "--beam-size",
        type=int,
        default=DEFAULT_BEAM_SIZE,
        help=f"decoding beam, 1 = greedy (default {DEFAULT_BEAM_SIZE})",
    )
    parser.add_argument("--workers", type=int, default=2, help="decodes run at once (default 2)")
    parser.add_argument(
        "--cpu-threads", type=int, default=0, help="threads per decode (default: cores, at most 4)"
    )
    parser.add_argument("--download-dir", help="where named models are downloaded (default: HF cache)")
    parser.add_argument(
        "--partial-interval", type=float, default=1.0, help="seconds of new audio between partial decodes"
    )
    parser.add_argument(
        "--max-audio-seconds", type=float, default=300.0, help="longest utterance accepted (default 300)"
    )
    discovery.add_zeroconf_argument(parser, "stt")


def parse_initial_prompts(values: list[str]) -> tuple[tuple[str, str], ...]:
    """``["en=Set a timer.", "Bonjour"]`` -> ``(("en", "Set a timer."), ("*", "Bonjour"))``."""
    prompts: dict[str, str] = {}
    for value in values:
        lang, sep, text = value.partition("=")
        if not sep or not re.fullmatch(r"[a-z]{2,3}|\*", lang.strip()):
            lang, text = "*", value
        if not text.strip():
            raise SystemExit(f"--initial-prompt {value!r}: no text")
        prompts[lang.strip()] = text.strip()
    return tuple(prompts.items())


def settings_from_args(args: argparse.Namespace) -> tuple[SttSettings, StreamingSettings]:
    if args.workers < 1 or args.beam_size < 1 or args.cpu_threads < 0:
        raise SystemExit("--workers and --beam-size must be at least 1, --cpu-threads not negative")
    if args.partial_interval <= 0 or args.max_audio_seconds <= 0:
        raise SystemExit("--partial-interval and --max-audio-seconds must be positive")
    settings = SttSettings(
        model=model_for_languages(args.model, args.language),
        device=args.device,
        compute_type=args.compute_type,
        language=args.language,
        beam_size=args.beam_size,
        workers=args.workers,
        cpu_threads=args.cpu_threads,
        download_dir=args.download_dir,
        hotwords=args.hotwords or None,
        initial_prompts=parse_initial_prompts(args.initial_prompt),
        wake_hint=not args.ignore_wake_hint,
        alternatives=not args.no_alternatives,
    )
    try:
        parse_languages(settings.language)
    except ValueError as err:
        raise SystemExit(f"--language: {err}") from err
    streaming = StreamingSettings(
        partial_interval=args.partial_interval, max_audio_seconds=args.max_audio_seconds
    )
    return settings, streaming


async def run(args: argparse.Namespace) -> int:
    settings, streaming = settings_from_args(args)
    with stop_signal() as stop:
        server = await start_stt(args.uri, settings, streaming)
        await discovery.serve_until_stopped(server, args.zeroconf, stop)
    return 0
