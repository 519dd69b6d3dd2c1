"""`jarvis tts`: the text-to-speech Wyoming service (piper), default ``tcp://127.0.0.1:10200``.

Also :func:`start_tts`, which ``jarvis serve`` and the tests use to run the same service in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
from pathlib import Path

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker

from jarvis.protocol import __version__, discovery
from jarvis.protocol.service import WyomingServer, stop_signal

from .engine import PiperEngine, VoiceSettings, default_voice_path
from .handler import HandlerSettings, TtsHandler

_LOGGER = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10200"
PROGRAM_NAME = "jarvis-piper"


def build_info(engine: PiperEngine) -> Info:
    """The ``info`` answered to ``describe``: one program with the loaded voice."""
    voice = engine.info
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
                ],
            )
        ]
    )


class TtsServer(WyomingServer):
    """A started TTS server; :meth:`stop` also releases the engine if the server loaded it."""

    def __init__(self, uri: str, engine: PiperEngine, settings: HandlerSettings, own_engine: bool) -> None:
        self.engine = engine
        self.info = build_info(engine)
        self.settings = settings
        self._own_engine = own_engine
        super().__init__(uri, functools.partial(TtsHandler, engine=engine, info=self.info, settings=settings))

    @property
    def connections(self) -> int:
        """Connections being served right now."""
        return len(self._tasks)

    async def stop(self) -> None:
        await super().stop()
        if self._own_engine:
            self.engine.close()


async def start_tts(
    uri: str = DEFAULT_URI,
    voice: VoiceSettings | None = None,
    settings: HandlerSettings | None = None,
    engine: PiperEngine | None = None,
) -> TtsServer:
    """Load the voice (unless ``engine`` is given; then ``voice`` is ignored) and start serving.

    Returns the started server; ``await server.stop()`` (or ``async with``) ends it. Use port 0 for
    any free port and read ``server.port``/``server.uri``.
    """
    own = engine is None
    if engine is None:
        engine = await asyncio.to_thread(PiperEngine.load, voice or VoiceSettings())
    server = TtsServer(uri, engine, settings or HandlerSettings(), own_engine=own)
    try:
        await server.start()
    except BaseException:
        if own:
            engine.close()
        raise
    return server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uri", default=DEFAULT_URI, help=f"where to listen (default {DEFAULT_URI})")
    parser.add_argument(
        "--voice",
        type=Path,
        default=None,
        help="piper voice .onnx (its .onnx.json beside it); default: the bundled en_US-joe-medium",
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
        "--split-first-clause",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="speak a reply's first clause as soon as it is synthesized (lower first-audio latency)",
    )
    discovery.add_zeroconf_argument(parser, "tts")


def settings_from_args(args: argparse.Namespace) -> tuple[VoiceSettings, HandlerSettings]:
    if args.samples_per_chunk < 1:
        raise SystemExit("--samples-per-chunk must be at least 1")
    if args.workers < 0 or args.threads < 0:
        raise SystemExit("--workers and --threads must not be negative")
    voice = VoiceSettings(
        model=args.voice or default_voice_path(),
        length_scale=args.length_scale,
        noise_scale=args.noise_scale,
        noise_w=args.noise_w,
        speaker=args.speaker,
        use_cuda=args.use_cuda,
        workers=args.workers,
        threads=args.threads,
    )
    handler = HandlerSettings(
        samples_per_chunk=args.samples_per_chunk,
        max_text_chars=args.max_text_chars,
        split_first_clause=args.split_first_clause,
    )
    return voice, handler


async def run(args: argparse.Namespace) -> int:
    voice, handler = settings_from_args(args)
    with stop_signal() as stop:
        server = await start_tts(args.uri, voice, handler)
        await discovery.serve_until_stopped(server, args.zeroconf, stop)
    return 0
