"""Satellite settings: a tree of frozen dataclasses (argparse lives only in ``__main__``).

Sources, later wins: defaults < TOML config file < environment (``JARVIS_TOKEN``,
``JARVIS_SERVER``) < command-line flags. The config file is ``--config PATH``, else
``<data_dir>/satellite.toml`` if present; its keys are the flag names with ``_`` instead of ``-``::

    server = "tcp://192.168.1.10:10600"
    token = "..."
    name = "Kitchen"
    area = "kitchen"
    mic_device = "hw:CARD=seeed2micvoicec,DEV=0"
    sounds = true
"""

from __future__ import annotations

import logging
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jarvis.protocol.discovery import HUB_TYPE
from jarvis.protocol.language import LANGUAGE_CODE
from jarvis.protocol.wake import ENGINES as WAKE_ENGINES

_LOGGER = logging.getLogger(__name__)

CONFIG_FILENAME = "satellite.toml"
SERVICE_TYPE = HUB_TYPE
"""The hub's DNS-SD type, which the satellite browses (:data:`jarvis.protocol.discovery.HUB_TYPE`)."""


class SettingsError(ValueError):
    """A setting is missing or invalid; the message says which and where it came from."""


@dataclass(frozen=True)
class ServerSettings:
    """How to reach the hub."""

    uri: str | None = None
    """``tcp://host:port`` or ``tls://host:port``; None = find the hub over zeroconf."""
    token: str = ""
    """The hub's token (``jarvis serve`` prints it)."""
    fingerprint: str | None = None
    """The hub certificate's SHA-256 (``jarvis devices pair`` prints it): the link is then TLS only,
    to that certificate only, zeroconf or not (:mod:`jarvis.protocol.tls`)."""
    discovery_timeout_s: float = 3.0
    """How long one zeroconf browse waits for the hub."""
    hub_name: str | None = None
    """With zeroconf: connect only to the hub advertised under this instance name."""
    discovery_interfaces: tuple[str, ...] | None = None
    """With zeroconf: interface addresses to browse on (None = all)."""
    connect_timeout_s: float = 5.0
    """TCP connect and auth reply timeout."""


@dataclass(frozen=True)
class IdentitySettings:
    """Who this satellite is (sent in ``jarvis-auth``)."""

    satellite_id: str = field(default_factory=socket.gethostname)
    name: str | None = None
    area: str | None = None
    user_id: str | None = None
    language: str | None = None
    """The language spoken here (``fr``), sent in ``run-pipeline``: STT decodes only it and the brain
    answers in it. None = the hub's languages (e.g. ``en,fr``, detected per utterance)."""


@dataclass(frozen=True)
class MicSettings:
    """Where audio comes from: a sounddevice input, or a WAV file (headless)."""

    device: str | int | None = None
    """sounddevice input device (index or name substring); None = system default."""
    rate: int = 16000
    """Rate the device is opened at (Hz); converted to 16 kHz if different."""
    channels: int = 1
    """Channels the device is opened with; mixed down to mono."""
    chunk_ms: int = 30
    """Length of each audio chunk sent to the hub (ms)."""
    input_wav: Path | None = None
    """Headless: play this WAV as the microphone, then silence."""
    fast: bool = False
    """Headless: feed ``input_wav`` as fast as possible instead of at real time."""


@dataclass(frozen=True)
class SndSettings:
    """Where the answer goes: a sounddevice output, or a WAV file (headless)."""

    device: str | int | None = None
    """sounddevice output device (index or name substring); None = system default."""
    rate: int | None = None
    """Rate the speaker is opened at (Hz); None = the device's default. Answers are converted."""
    output_wav: Path | None = None
    """Headless: write the TTS audio of every turn to this WAV instead of playing it."""


@dataclass(frozen=True)
class WakeSettings:
    """Wake word detection."""

    local: bool = True
    """True: detect the wake word here and stream only after it. False: stream to the hub's."""
    model: str = "hey_jarvis"
    """Built-in microWakeWord model name or path to a model .json."""
    preroll_s: float = 1.5
    """Audio from before the detection that is sent with the turn: the whole wake phrase, so STT
    hears the words around the command's start (the brain removes "Hey Jarvis" from the text).
    "hey jarvis" ends 0.73-1.04 s before the detection on the voices measured (docs/satellite.md)."""
    refractory_s: float = 2.0
    """Seconds of audio after a detection during which the wake word cannot trigger again."""
    engine: str = "auto"
    """``micro``, ``openwakeword``, ``both`` or ``auto`` (see :mod:`jarvis.protocol.wake`)."""


@dataclass(frozen=True)
class SoundSettings:
    """Short feedback sounds (16-bit WAV files, or generated tones)."""

    enabled: bool = False
    """Play awake/done sounds (generated tones unless a WAV is given)."""
    awake_wav: Path | None = None
    done_wav: Path | None = None
    timer_wav: Path | None = None
    """Alarm for a finished timer; a generated alarm if None (always played)."""


@dataclass(frozen=True)
class LinkSettings:
    """Liveness and reconnects."""

    ping_interval_s: float = 5.0
    pong_timeout_s: float = 10.0
    """Reconnect when a ping goes unanswered this long."""
    reconnect_min_s: float = 1.0
    """First reconnect delay; doubles per failure."""
    reconnect_max_s: float = 30.0


@dataclass(frozen=True)
class RunSettings:
    """Process behaviour."""

    once: bool = False
    """Exit after one complete turn (headless tests and benchmarks)."""
    turn_timeout_s: float = 60.0
    """A turn (wake word to ``played``) taking longer is abandoned; with ``once`` the whole run."""


@dataclass(frozen=True)
class SatelliteSettings:
    server: ServerSettings = field(default_factory=ServerSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    mic: MicSettings = field(default_factory=MicSettings)
    snd: SndSettings = field(default_factory=SndSettings)
    wake: WakeSettings = field(default_factory=WakeSettings)
    sounds: SoundSettings = field(default_factory=SoundSettings)
    link: LinkSettings = field(default_factory=LinkSettings)
    run: RunSettings = field(default_factory=RunSettings)

    def validate(self) -> SatelliteSettings:
        """Raise :class:`SettingsError` for anything that cannot work; returns self."""
        if not self.server.token:
            raise SettingsError(
                'no hub token: pass --token, set JARVIS_TOKEN, or put token = "..." in the config file '
                "(jarvis serve prints the token)"
            )
        if self.server.fingerprint is not None:
            from jarvis.protocol.tls import normalize_fingerprint

            try:
                normalize_fingerprint(self.server.fingerprint)
            except ValueError as err:
                raise SettingsError(f"--hub-fingerprint: {err}") from err
        if self.server.uri is not None:
            from jarvis.protocol.service import Endpoint

            try:
                endpoint = Endpoint.parse(self.server.uri)
            except ValueError as err:
                raise SettingsError(f"--server: {err}") from err
            if endpoint.scheme == "unix":
                raise SettingsError("--server: the hub is reached over tcp:// or tls://")
            if endpoint.tls and self.server.fingerprint is None:
                raise SettingsError(
                    f"--server {self.server.uri} is tls:// but --hub-fingerprint is not given "
                    "(`jarvis devices pair` prints it; without it any certificate would be believed)"
                )
            if self.server.fingerprint is not None and not endpoint.tls:
                raise SettingsError(
                    f"--hub-fingerprint is given but --server {self.server.uri} is not tls:// "
                    "(the token would travel in plain text)"
                )
        if not self.identity.satellite_id:
            raise SettingsError("--satellite-id must not be empty")
        for name, value in (
            ("--turn-timeout", self.run.turn_timeout_s),
            ("--ping-interval", self.link.ping_interval_s),
            ("--pong-timeout", self.link.pong_timeout_s),
            ("--reconnect-min", self.link.reconnect_min_s),
        ):
            if value <= 0:
                raise SettingsError(f"{name} must be positive, got {value}")
        if self.link.reconnect_max_s < self.link.reconnect_min_s:
            raise SettingsError("--reconnect-max must be >= --reconnect-min")
        language = self.identity.language
        if language is not None and not LANGUAGE_CODE.match(language):
            raise SettingsError(f"--language must be one code like en, fr or fr-FR, got {language!r}")
        if self.wake.engine not in WAKE_ENGINES:
            raise SettingsError(
                f"--wake-engine must be one of {', '.join(WAKE_ENGINES)}, got {self.wake.engine!r}"
            )
        if not 0 <= self.wake.preroll_s <= 5:
            raise SettingsError(f"--preroll must be between 0 and 5 s, got {self.wake.preroll_s}")
        if not 5 <= self.mic.chunk_ms <= 500:
            raise SettingsError(f"--mic-chunk-ms must be between 5 and 500, got {self.mic.chunk_ms}")
        for label, path in (
            ("--input-wav", self.mic.input_wav),
            ("--awake-wav", self.sounds.awake_wav),
            ("--done-wav", self.sounds.done_wav),
            ("--timer-wav", self.sounds.timer_wav),
        ):
            if path is not None and not path.is_file():
                raise SettingsError(f"{label}: no such file: {path}")
        if self.mic.fast and self.mic.input_wav is None:
            raise SettingsError("--fast only applies with --input-wav")
        return self


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a satellite TOML config; keys are flag names with ``_`` (see module docstring)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as err:
        raise SettingsError(f"cannot read config file {path}: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"config file {path} is not valid TOML: {err}") from err
    # Accept a [satellite] table too, so one file can hold server and satellite settings.
    if isinstance(data.get("satellite"), dict):
        data = data["satellite"]
    return {str(key).replace("-", "_"): value for key, value in data.items()}
