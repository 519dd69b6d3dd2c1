"""``jarvis satellite``: microphone, local wake word, speaker; talks to the hub.

Examples::

    jarvis satellite --token TOKEN                          # find the hub over zeroconf
    jarvis satellite --server tcp://192.168.1.10:10600 --token TOKEN --area kitchen --sounds
    jarvis satellite --list-devices
    jarvis satellite --server tcp://127.0.0.1:10600 --token TOKEN \\
        --input-wav question.wav --output-wav answer.wav --once     # headless, one turn
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jarvis.protocol.paths import data_dir
from jarvis.protocol.wake import ENGINES

from .settings import (
    CONFIG_FILENAME,
    IdentitySettings,
    LinkSettings,
    MicSettings,
    RunSettings,
    SatelliteSettings,
    ServerSettings,
    SettingsError,
    SndSettings,
    SoundSettings,
    WakeSettings,
    load_config_file,
)

_LOGGER = logging.getLogger(__name__)

# Settings that may come from the config file: argparse dest -> converter.
_CONFIG_KEYS: dict[str, Any] = {
    "server": str,
    "token": str,
    "hub_fingerprint": str,
    "name": str,
    "area": str,
    "user": str,
    "language": str,
    "satellite_id": str,
    "mic_device": str,
    "snd_device": str,
    "mic_rate": int,
    "mic_channels": int,
    "mic_chunk_ms": int,
    "snd_rate": int,
    "no_wake": bool,
    "wake_word": str,
    "wake_engine": str,
    "preroll": float,
    "refractory": float,
    "sounds": bool,
    "awake_wav": Path,
    "done_wav": Path,
    "timer_wav": Path,
    "turn_timeout": float,
    "ping_interval": float,
    "pong_timeout": float,
    "reconnect_min": float,
    "reconnect_max": float,
    "discovery_timeout": float,
    "hub_name": str,
    "discovery_interfaces": list,
    "connect_timeout": float,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    hub = parser.add_argument_group("hub")
    hub.add_argument(
        "--server", help="hub URI tcp://host:port or tls://host:port (default: find it over zeroconf)"
    )
    hub.add_argument(
        "--hub-fingerprint",
        metavar="SHA256",
        help="the hub certificate's fingerprint from `jarvis devices pair`: connect over TLS to that "
        "certificate only (or hub_fingerprint in the config file)",
    )
    hub.add_argument(
        "--token",
        help="this device's credential from `jarvis devices pair` (or the hub's master token); "
        "or JARVIS_TOKEN, or token in the config file",
    )
    hub.add_argument(
        "--config", type=Path, help=f"TOML config file (default: <data dir>/{CONFIG_FILENAME} if present)"
    )
    hub.add_argument("--hub-name", help="with zeroconf: the hub's advertised instance name")
    hub.add_argument(
        "--discovery-interface",
        action="append",
        dest="discovery_interfaces",
        help="with zeroconf: browse on this interface address only (repeatable)",
    )
    hub.add_argument("--discovery-timeout", type=float, help="seconds one zeroconf search waits [3]")
    hub.add_argument("--connect-timeout", type=float, help="seconds to connect and authenticate [5]")

    who = parser.add_argument_group("identity")
    who.add_argument("--satellite-id", help="stable id of this satellite [hostname]")
    who.add_argument("--name", help="human-readable name, e.g. 'Kitchen'")
    who.add_argument("--area", help="room, e.g. 'kitchen'")
    who.add_argument("--user", help="user this satellite speaks for [the hub's default user]")
    who.add_argument(
        "--language", help="the one language spoken here, e.g. fr [the hub's languages, detected]"
    )

    audio = parser.add_argument_group("audio devices")
    audio.add_argument("--list-devices", action="store_true", help="list audio devices and exit")
    audio.add_argument("--mic-device", help="input device: index or name (see --list-devices)")
    audio.add_argument("--snd-device", help="output device: index or name (see --list-devices)")
    audio.add_argument("--mic-rate", type=int, help="rate to open the microphone at, Hz [16000]")
    audio.add_argument("--mic-channels", type=int, help="microphone channels, mixed to mono [1]")
    audio.add_argument("--mic-chunk-ms", type=int, help="audio chunk length sent to the hub, ms [30]")
    audio.add_argument("--snd-rate", type=int, help="rate to open the speaker at [device default]")

    wake = parser.add_argument_group("wake word")
    wake.add_argument(
        "--no-wake", action="store_true", default=None, help="no local wake word: stream to the hub's"
    )
    wake.add_argument("--wake-word", help="microWakeWord model name or .json path [hey_jarvis]")
    wake.add_argument(
        "--wake-engine",
        choices=ENGINES,
        help="micro (microWakeWord), openwakeword, both (fire on either), or auto: both where "
        "pyopen-wakeword is installed [auto]",
    )
    wake.add_argument(
        "--preroll",
        type=float,
        help="seconds of audio before the detection to send: the whole wake phrase [1.5]",
    )
    wake.add_argument("--refractory", type=float, help="seconds before the wake word can re-trigger [2]")

    sounds = parser.add_argument_group("sounds")
    sounds.add_argument("--sounds", action="store_true", default=None, help="play short awake/done tones")
    sounds.add_argument("--awake-wav", type=Path, help="WAV played when the wake word is heard")
    sounds.add_argument("--done-wav", type=Path, help="WAV played after the answer")
    sounds.add_argument("--timer-wav", type=Path, help="WAV played when a timer finishes [an alarm tone]")

    headless = parser.add_argument_group("headless (tests, benchmarks)")
    headless.add_argument("--input-wav", type=Path, help="use this WAV as the microphone, then silence")
    headless.add_argument("--fast", action="store_true", help="feed --input-wav without real-time pacing")
    headless.add_argument("--output-wav", type=Path, help="write the answers' audio here instead of playing")
    headless.add_argument("--once", action="store_true", help="exit after one complete turn (0) or on error")
    headless.add_argument(
        "--turn-timeout", type=float, help="seconds for one turn (--once: the whole run) [60]"
    )

    link = parser.add_argument_group("link")
    link.add_argument("--ping-interval", type=float, help="seconds between pings [5]")
    link.add_argument("--pong-timeout", type=float, help="reconnect when no pong within this [10]")
    link.add_argument("--reconnect-min", type=float, help="first reconnect delay, doubling [1]")
    link.add_argument("--reconnect-max", type=float, help="longest reconnect delay [30]")


def _merged(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """defaults < config file < environment < flags, as a flat dict of argparse dests."""
    values: dict[str, Any] = {}
    config_path: Path | None = getattr(args, "config", None)
    if config_path is None:
        candidate = data_dir() / CONFIG_FILENAME
        config_path = candidate if candidate.is_file() else None
    if config_path is not None:
        for key, value in load_config_file(config_path).items():
            if key not in _CONFIG_KEYS:
                raise SettingsError(f"{config_path}: unknown setting {key!r}")
            convert = _CONFIG_KEYS[key]
            if convert is bool and not isinstance(value, bool):
                raise SettingsError(f"{config_path}: {key} must be true or false")
            try:
                values[key] = convert(value)
            except (TypeError, ValueError) as err:
                raise SettingsError(f"{config_path}: bad value for {key}: {value!r}") from err
    if env.get("JARVIS_TOKEN"):
        values["token"] = env["JARVIS_TOKEN"]
    if env.get("JARVIS_SERVER"):
        values["server"] = env["JARVIS_SERVER"]
    for key, value in vars(args).items():
        if value is not None and not key.startswith("_"):
            values[key] = value
    return values


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> SatelliteSettings:
    """Build and validate the settings tree; raises :class:`SettingsError`."""
    v = _merged(args, os.environ if env is None else env)

    def pick(key: str, default: Any) -> Any:
        value = v.get(key)
        return default if value is None else value

    identity = IdentitySettings()
    settings = SatelliteSettings(
        server=ServerSettings(
            uri=v.get("server") or None,
            token=str(v.get("token") or ""),
            fingerprint=v.get("hub_fingerprint") or None,
            discovery_timeout_s=pick("discovery_timeout", ServerSettings.discovery_timeout_s),
            hub_name=v.get("hub_name"),
            discovery_interfaces=tuple(v["discovery_interfaces"]) if v.get("discovery_interfaces") else None,
            connect_timeout_s=pick("connect_timeout", ServerSettings.connect_timeout_s),
        ),
        identity=IdentitySettings(
            satellite_id=pick("satellite_id", identity.satellite_id),
            name=v.get("name"),
            area=v.get("area"),
            user_id=v.get("user"),
            language=v.get("language"),
        ),
        mic=MicSettings(
            device=v.get("mic_device"),
            rate=pick("mic_rate", MicSettings.rate),
            channels=pick("mic_channels", MicSettings.channels),
            chunk_ms=pick("mic_chunk_ms", MicSettings.chunk_ms),
            input_wav=v.get("input_wav"),
            fast=bool(v.get("fast")),
        ),
        snd=SndSettings(device=v.get("snd_device"), rate=v.get("snd_rate"), output_wav=v.get("output_wav")),
        wake=WakeSettings(
            local=not v.get("no_wake"),
            model=pick("wake_word", WakeSettings.model),
            engine=pick("wake_engine", WakeSettings.engine),
            preroll_s=pick("preroll", WakeSettings.preroll_s),
            refractory_s=pick("refractory", WakeSettings.refractory_s),
        ),
        sounds=SoundSettings(
            enabled=bool(v.get("sounds")),
            awake_wav=v.get("awake_wav"),
            done_wav=v.get("done_wav"),
            timer_wav=v.get("timer_wav"),
        ),
        link=LinkSettings(
            ping_interval_s=pick("ping_interval", LinkSettings.ping_interval_s),
            pong_timeout_s=pick("pong_timeout", LinkSettings.pong_timeout_s),
            reconnect_min_s=pick("reconnect_min", LinkSettings.reconnect_min_s),
            reconnect_max_s=pick("reconnect_max", LinkSettings.reconnect_max_s),
        ),
        run=RunSettings(
            once=bool(v.get("once")),
            turn_timeout_s=pick("turn_timeout", RunSettings.turn_timeout_s),
        ),
    )
    return settings.validate()


async def run(args: argparse.Namespace) -> int:
    from .audio_io import (
        AudioDeviceError,
        MicrophoneSource,
        SpeakerSink,
        WavFileSink,
        WavSource,
        list_devices,
    )
    from .satellite import ExitCode, Satellite

    if args.list_devices:
        try:
            print(list_devices())
        except AudioDeviceError as err:
            print(f"jarvis satellite: {err}", file=sys.stderr)
            return int(ExitCode.ERROR)
        return 0
    try:
        settings = settings_from_args(args)
        if settings.mic.input_wav is not None:
            source: Any = WavSource(settings.mic.input_wav, settings.mic.chunk_ms, fast=settings.mic.fast)
        else:
            source = MicrophoneSource(
                settings.mic.device, settings.mic.rate, settings.mic.channels, settings.mic.chunk_ms
            )
        if settings.snd.output_wav is not None:
            sink: Any = WavFileSink(settings.snd.output_wav, paced=not settings.mic.fast)
        else:
            sink = SpeakerSink(settings.snd.device, settings.snd.rate)
        satellite = Satellite(settings, source, sink)
    except (SettingsError, ValueError, RuntimeError) as err:
        print(f"jarvis satellite: error: {err}", file=sys.stderr)
        return int(ExitCode.ERROR)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, satellite.stop)
    try:
        code = await satellite.run()
    except AudioDeviceError as err:
        print(f"jarvis satellite: error: {err}", file=sys.stderr)
        return int(ExitCode.ERROR)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    if code != ExitCode.OK:
        print(f"jarvis satellite: {satellite.exit_message}", file=sys.stderr)
    return int(code)
