"""``jarvis hub``: the voice pipeline hub on its own (STT, TTS and brain run elsewhere).

jarvis hub --stt tcp://gpu:10300 --tts tcp://gpu:10200 --brain tcp://gpu:10500
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from jarvis.protocol.service import stop_signal
from jarvis.protocol.wake import ENGINES as WAKE_ENGINES

from ..config import ConfigError, Settings, load_settings
from ..tokens import TokenError, load_or_create_token
from .hub import DEFAULT_PORT, ZEROCONF_TYPE, Hub, start_hub

_LOGGER = logging.getLogger(__name__)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="TOML", help="settings file (default: <data dir>/jarvis.toml if present)"
    )
    parser.add_argument("--data-dir", help="where the token, memory and certificates live")
    parser.add_argument(
        "--peer-secret-file",
        metavar="PATH",
        help="the secret the hub proves itself to the brain with (default <data dir>/peer-secret, made "
        "if missing); give jarvis hub and jarvis brain the same file when they run apart",
    )
    parser.add_argument(
        "--no-zeroconf", action="store_true", help="do not advertise services on the local network"
    )


def add_hub_arguments(parser: argparse.ArgumentParser, *, with_services: bool = True) -> None:
    """Hub flags (shared with ``jarvis serve``); every flag overrides the config file and env."""
    group = parser.add_argument_group("hub")
    group.add_argument("--hub-port", type=int, help=f"satellite port (default {DEFAULT_PORT}; 0 = any)")
    if with_services:
        for kind, port in (("stt", 10300), ("tts", 10200), ("brain", 10500)):
            group.add_argument(
                f"--{kind}",
                metavar="URIS",
                help=f"{kind} service(s), comma-separated, e.g. tcp://127.0.0.1:{port},tcp://b:{port}; "
                "requests go to the least busy one that is up",
            )
    group.add_argument("--vad", choices=["silero", "micro"], help="VAD model (default silero)")
    group.add_argument(
        "--silence", type=float, dest="silence_s", help="end-of-speech silence in seconds (default 0.6)"
    )
    group.add_argument(
        "--endpoint",
        choices=["semantic", "fixed"],
        help="end of turn: 'semantic' (a complete local command ends after --complete-silence, a "
        "dangling word waits --incomplete-silence) or 'fixed' (always --silence); default semantic",
    )
    group.add_argument(
        "--complete-silence",
        type=float,
        dest="complete_silence_s",
        help="semantic endpoint: silence after a complete local command (default 0.2 s)",
    )
    group.add_argument(
        "--incomplete-silence",
        type=float,
        dest="incomplete_silence_s",
        help="semantic endpoint: silence after a dangling word or a timer without a number (default 1.0 s)",
    )
    group.add_argument(
        "--verdict-wait",
        type=float,
        dest="verdict_wait_s",
        help="semantic endpoint: longest silence waited for the brain's verdict (default 1.0 s)",
    )
    group.add_argument(
        "--max-utterance", type=float, dest="max_utterance_s", help="longest utterance in seconds (15)"
    )
    group.add_argument(
        "--no-speech-timeout", type=float, dest="no_speech_timeout_s", help="give up without speech (8 s)"
    )
    group.add_argument("--wake-word", help="hub-side wake word model for satellites without one (hey_jarvis)")
    group.add_argument(
        "--wake-engine",
        choices=WAKE_ENGINES,
        help="hub-side wake word engine: micro, openwakeword, both, or auto (both where installed)",
    )
    group.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port (0 = any)")
    group.add_argument(
        "--follow-up",
        type=float,
        dest="follow_up_s",
        metavar="S",
        help="after an answer that asks something, listen S seconds for the reply with no wake word "
        "(default 6; 0 = off)",
    )
    group.add_argument(
        "--hub-tls",
        action="store_true",
        default=None,
        help="serve satellites over TLS (tls://; they pin the certificate `jarvis devices pair` prints)",
    )


def hub_overrides(args: argparse.Namespace, *, with_services: bool = True) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "data_dir": getattr(args, "data_dir", None),
        "peer_secret_file": getattr(args, "peer_secret_file", None),
        "hub.port": args.hub_port,
        "hub.vad": args.vad,
        "hub.silence_s": args.silence_s,
        "hub.endpoint": args.endpoint,
        "hub.complete_silence_s": args.complete_silence_s,
        "hub.incomplete_silence_s": args.incomplete_silence_s,
        "hub.verdict_wait_s": args.verdict_wait_s,
        "hub.max_utterance_s": args.max_utterance_s,
        "hub.no_speech_timeout_s": args.no_speech_timeout_s,
        "hub.wake_word": args.wake_word,
        "hub.wake_engine": args.wake_engine,
        "hub.metrics_port": args.metrics_port,
        "hub.tls": args.hub_tls,
        "hub.follow_up_s": args.follow_up_s,
    }
    if with_services:
        overrides.update({"hub.stt": args.stt, "hub.tts": args.tts, "hub.brain": args.brain})
    if getattr(args, "no_zeroconf", False):
        overrides["zeroconf.enabled"] = False
    return overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    add_hub_arguments(parser)


@contextlib.asynccontextmanager
async def advertise(settings: Settings, servers: list[tuple[str, Any, str]]) -> AsyncIterator[None]:
    """Advertise ``(kind, started WyomingServer, service type)`` entries over zeroconf in the block.

    Instance names are ``jarvis-<kind>-<host>``; a failure to advertise is logged, never fatal.
    """
    if not settings.zeroconf.enabled or not servers:
        yield
        return
    from jarvis.protocol.discovery import advertise_wyoming, instance_name

    interfaces = list(settings.zeroconf.interfaces) or None
    async with contextlib.AsyncExitStack() as stack:
        for kind, server, service_type in servers:
            try:
                await stack.enter_async_context(
                    advertise_wyoming(instance_name(kind), server, service_type, interfaces=interfaces)
                )
            except (OSError, ValueError, RuntimeError) as err:
                _LOGGER.warning("Could not advertise %s over zeroconf: %s", kind, err)
        yield


async def run(args: argparse.Namespace) -> int:
    overrides = hub_overrides(args)
    if args.host:
        overrides["hub.host"] = args.host
    try:
        settings = load_settings(args.config, overrides=overrides)
        token, created = load_or_create_token(settings.data_dir)
    except (ConfigError, TokenError) as err:
        _LOGGER.error("%s", err)
        return 2
    hub_settings = settings.hub
    missing = [k for k in ("stt", "tts", "brain") if not getattr(hub_settings, k)]
    if missing:
        _LOGGER.error(
            "jarvis hub needs service URIs: %s (or run jarvis serve)", ", ".join(f"--{m}" for m in missing)
        )
        return 2
    with stop_signal() as stop:
        hub: Hub = await start_hub(settings, token)
        try:
            print(f"Jarvis hub listening on {hub.uri}", flush=True)
            if created:
                print(f"New hub token (stored in the data dir): {token}", flush=True)
            async with advertise(settings, [("hub", hub.server, ZEROCONF_TYPE)]):
                await stop.wait()
        finally:
            await hub.stop()
    return 0
