"""`jarvis tts`: the text-to-speech Wyoming service (piper), default ``tcp://127.0.0.1:10200``.

Also :func:`start_tts`, which ``jarvis serve`` and the tests use to run the same service in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
from collections.abc import Mapping
from dataclasses import replace

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker

from jarvis.protocol import __version__, discovery
from jarvis.protocol.service import WyomingServer, stop_signal

from .engine import PiperEngine, VoiceSettings, default_voice_path
from .handler import HandlerSettings, TtsHandler
from .voices import VoiceBook, parse_voice_options

_LOGGER = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10200"
PROGRAM_NAME = "jarvis-piper"


def build_info(engine: PiperEngine, voices: VoiceBook | None = None) -> Info:
    """The ``info`` answered to ``describe``: one program with every loaded voice, the default first."""
    engines = voices.engines if voices is not None else [engine]
    piper = Attribution(name="rhasspy", url="https://github.com/OHF-Voice/piper1-gpl")
    return Info(
        tts=[
            TtsProgram(
                name=PROGRAM_NAME,
                description="Jarvis text to speech (piper), streaming sentence by sentence",
                attribution=piper,
                installed=True,
                version=__version__,
                supports_synthesize_streaming=True,
                voices=[
                    TtsVoice(
                        name=voice.name,
                        description=voice.description,
                        attribution=piper,
                        installed=True,
                        version=None,
                        languages=list(voice.languages),
                        speakers=[TtsVoiceSpeaker(name=s) for s in voice.speakers] or None,
                    )
                    for voice in (e.info for e in engines)
                ],
            )
        ]
    )


class TtsServer(WyomingServer):
    """A started TTS server; :meth:`stop` also releases the engine if the server loaded it."""

    def __init__(
        self,
        uri: str,
        engine: PiperEngine,
        settings: HandlerSettings,
        own_engine: bool,
        voices: VoiceBook | None = None,
    ) -> None:
        self.engine = engine
        self.voices = voices or VoiceBook(engine)
        self.info = build_info(engine, self.voices)
        self.settings = settings
        self._own_engine = own_engine
        super().__init__(
            uri,
            functools.partial(
                TtsHandler, engine=engine, info=self.info, settings=settings, voices=self.voices
            ),
        )

    @property
    def connections(self) -> int:
        """Connections being served right now."""
        return len(self._tasks)

    async def stop(self) -> None:
        await super().stop()
        if self._own_engine:
            self.voices.close()


async def start_tts(
    uri: str = DEFAULT_URI,
    voice: VoiceSettings | None = None,
    settings: HandlerSettings | None = None,
    engine: PiperEngine | None = None,
    language_voices: Mapping[str, VoiceSettings] | None = None,
    voices: VoiceBook | None = None,
) -> TtsServer:
    """Load the voice (unless ``engine`` or ``voices`` is given; then ``voice`` is ignored) and the
    voice of each language in ``language_voices`` (``{"fr": ...}``), and start serving.

    Returns the started server; ``await server.stop()`` (or ``async with``) ends it. Use port 0 for
    any free port and read ``server.port``/``server.uri``.
    """
    own = engine is None and voices is None
    if voices is not None:
        engine = voices.default
    if engine is None:
        engine = await asyncio.to_thread(PiperEngine.load, voice or VoiceSettings())
        loaded = {}
        try:
            for code, settings_for_language in (language_voices or {}).items():
                loaded[code] = await asyncio.to_thread(PiperEngine.load, settings_for_language)
        except BaseException:
            for extra in loaded.values():
                extra.close()
            engine.close()
            raise
        voices = VoiceBook(engine, loaded)
    if voices is None:
        voices = VoiceBook(engine)
    for code in voices.missing(["en", "fr"]):
        _LOGGER.warning(
            "No %s voice: %s answers are spoken with %s. Add a piper voice: --voice %s=PATH (docs/tts.md)",
            code,
            code,
            engine.info.name,
            code,
        )
    server = TtsServer(uri, engine, settings or HandlerSettings(), own_engine=own, voices=voices)
    try:
        await server.start()
    except BaseException:
        if own:
            voices.close()
        raise
    return server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uri", default=DEFAULT_URI, help=f"where to listen (default {DEFAULT_URI})")
    parser.add_argument(
        "--voice",
        action="append",
        default=[],
        metavar="[LANG=]PATH",
        help="piper voice .onnx (its .onnx.json beside it): PATH for the default voice (default: the "
        "bundled en_US-joe-medium), LANG=PATH for answers in LANG, e.g. fr=fr_FR-siwis-medium.onnx "
        "(repeatable)",
    )
    parser.add_argument("--length-scale", type=float, help="phoneme length: < 1 faster, > 1 slower")
    parser.add_argument("--noise-scale", type=float, help="generator noise (voice default if unset)")
    parser.add_argument("--noise-w", type=float, help="phoneme width noise (voice default if unset)")
    parser.add_argument("--speaker", help="default speaker name or id of a multi-speaker voice")
    parser.add_argument("--use-cuda", action="store_true", help="run the voice on a CUDA GPU")
    parser.add_argument(
        "--workers", type=int, default=0, help="sentences synthesized at once (default: CPU cores)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="ONNX threads per sentence (default: CPU cores)"
    )
    parser.add_argument(
        "--samples-per-chunk", type=int, default=1024, help="audio samples per audio-chunk event"
    )
    parser.add_argument("--max-text-chars", type=int, default=5000, help="longest text spoken per request")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="synthesize every sentence, even one said before (benchmarks; default: short ones are kept)",
    )
    parser.add_argument(
        "--split-first-clause",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="speak a reply's first clause as soon as it is synthesized (lower first-audio latency)",
    )
    discovery.add_zeroconf_argument(parser, "tts")


def settings_from_args(
    args: argparse.Namespace,
) -> tuple[VoiceSettings, HandlerSettings, dict[str, VoiceSettings]]:
    """The default voice, the handler's settings, and the voice of each ``--voice LANG=PATH``."""
    if args.samples_per_chunk < 1:
        raise SystemExit("--samples-per-chunk must be at least 1")
    if args.workers < 0 or args.threads < 0:
        raise SystemExit("--workers and --threads must not be negative")
    try:
        paths = parse_voice_options(args.voice or [])
    except ValueError as err:
        raise SystemExit(str(err)) from err
    voice = VoiceSettings(
        model=paths.get(None) or default_voice_path(),
        length_scale=args.length_scale,
        noise_scale=args.noise_scale,
        noise_w=args.noise_w,
        speaker=args.speaker,
        use_cuda=args.use_cuda,
        workers=args.workers,
        threads=args.threads,
        cache=not args.no_cache,
    )
    handler = HandlerSettings(
        samples_per_chunk=args.samples_per_chunk,
        max_text_chars=args.max_text_chars,
        split_first_clause=args.split_first_clause,
    )
    by_language = {code: replace(voice, model=path) for code, path in paths.items() if code is not None}
    return voice, handler, by_language


async def run(args: argparse.Namespace) -> int:
    voice, handler, by_language = settings_from_args(args)
    with stop_signal() as stop:
        server = await start_tts(args.uri, voice, handler, language_voices=by_language)
        await discovery.serve_until_stopped(server, args.zeroconf, stop)
    return 0
