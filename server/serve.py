"""``jarvis serve``: STT, TTS, brain and hub (and the web app) in one process, on the embedded defaults.

Each part is the same Wyoming server ``jarvis stt|tts|brain|hub`` would run; the hub talks to the others
over loopback TCP, so a split deployment uses the same code path. Settings come from one TOML file
(``--config``, default ``<data dir>/jarvis.toml``), ``JARVIS_*`` environment variables and the flags
below, in that order of precedence (docs/configuration.md). Ctrl-C or SIGTERM stops every server,
cancels and awaits their tasks and withdraws the zeroconf advertisements.

What is exposed: ``--host`` binds the hub (satellites, token required) and the web page (HTTPS, token
required): the parts meant for the LAN. STT, TTS and brain stay on 127.0.0.1 unless ``--wyoming-host``
says otherwise (for Home Assistant on another machine): they have no token, and anyone who reaches
them can transcribe, synthesize and talk to the brain as the default user. The hub proves itself to
the brain with the peer secret (``<data dir>/peer-secret``), so only the hub may say who is speaking.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from jarvis.protocol.discovery import WYOMING_TYPE
from jarvis.protocol.service import stop_signal

from .config import ConfigError, Settings, load_settings
from .devices_cli import server_arguments
from .hub.__main__ import (
    add_config_argument,
    add_hub_arguments,
    advertise,
    hub_overrides,
)
from .hub.hub import ZEROCONF_TYPE, start_hub
from .tokens import TokenError, load_or_create_peer_secret, load_or_create_token

_LOGGER = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Precedence: flags > JARVIS_<SECTION>_<KEY> environment variables (e.g. JARVIS_HUB_PORT=10601) > "
        "the TOML config file > defaults. See docs/configuration.md."
    )
    add_config_argument(parser)
    parser.add_argument(
        "--host",
        help="address the hub and the web page bind (default 127.0.0.1; 0.0.0.0 for the whole network); "
        "STT, TTS and brain stay on 127.0.0.1 unless --wyoming-host is given",
    )
    parser.add_argument(
        "--wyoming-host",
        help="address STT, TTS and brain bind (default 127.0.0.1): set it (e.g. 0.0.0.0) only for Home "
        "Assistant on another machine; these ports take no token",
    )
    ports = parser.add_argument_group("ports (0 = any free port)")
    ports.add_argument("--stt-port", type=int, help="speech-to-text (default 10300)")
    ports.add_argument("--tts-port", type=int, help="text-to-speech (default 10200)")
    ports.add_argument("--brain-port", type=int, help="brain (default 10500)")
    ports.add_argument("--web-port", type=int, help="HTTPS web app (default 8443)")
    ports.add_argument("--no-web", action="store_true", help="do not start the web app")
    models = parser.add_argument_group("models")
    models.add_argument(
        "--stt-model",
        help="tiny.en or base (embedded), or a faster-whisper model name or path "
        "(default: tiny.en for --language en, the multilingual base otherwise)",
    )
    models.add_argument(
        "--language",
        help="languages spoken: en,fr (default: each utterance detected as English or French), "
        "en (English only: the faster tiny.en), fr, or auto",
    )
    models.add_argument("--device", choices=["cpu", "cuda", "auto"], help="STT device (default cpu)")
    models.add_argument(
        "--voice",
        action="append",
        metavar="[LANG=]PATH",
        help="piper voice .onnx: PATH for the default voice (default: the bundled en_US-joe-medium), "
        "LANG=PATH for answers in LANG, e.g. fr=fr_FR-siwis-medium.onnx; repeatable",
    )
    models.add_argument(
        "--llm", help="auto (default), ollama, openai, none (local intents only) or scripted:PLAN.json"
    )
    models.add_argument("--model", help="LLM model name (Ollama default: the brain's default)")
    models.add_argument("--ollama-host", help="Ollama URL (default $OLLAMA_HOST or http://localhost:11434)")
    models.add_argument("--llm-url", help="OpenAI-compatible server, e.g. http://localhost:8000/v1")
    models.add_argument("--timezone", help="IANA timezone of the users, e.g. Europe/Berlin")
    add_hub_arguments(parser, with_services=False)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = hub_overrides(args, with_services=False)
    if args.host:
        for section in ("hub", "web"):
            overrides[f"{section}.host"] = args.host
    if getattr(args, "wyoming_host", None):
        for section in ("stt", "tts", "brain"):
            overrides[f"{section}.host"] = args.wyoming_host
    overrides.update(
        {
            "stt.port": args.stt_port,
            "tts.port": args.tts_port,
            "brain.port": args.brain_port,
            "web.port": args.web_port,
            "stt.model": args.stt_model,
            "stt.language": args.language,
            "stt.device": args.device,
            "tts.voice": ",".join(args.voice) if args.voice else None,
            "brain.llm": args.llm,
            "brain.model": args.model,
            "brain.ollama_host": args.ollama_host,
            "brain.llm_url": args.llm_url,
            "brain.timezone": args.timezone,
        }
    )
    if args.no_web:
        overrides["web.enabled"] = False
    return load_settings(args.config, overrides=overrides)


def _uri(host: str, port: int) -> str:
    return f"tcp://{host}:{port}"


async def start_services(
    settings: Settings, stack: contextlib.AsyncExitStack, peer_secret: str | None = None
) -> dict[str, Any]:
    """Start STT, TTS and brain; each is stopped when ``stack`` closes. Returns the started servers.

    ``peer_secret``: what the brain wants from the hub (None: ``settings.peer_secret_path()``).
    """
    from .brain.feedback_intents import VoiceFeedback
    from .brain.feedback_log import attach as attach_traces
    from .brain.handler import BrainSettings as BrainServiceSettings
    from .brain.handler import start_brain
    from .brain.llm.select import make_llm
    from .brain.memory import DB_NAME, MemoryStore
    from .brain.tools.documents import document_hooks
    from .brain.tools.homeassistant import homeassistant_hooks
    from .homeassistant import HASettings
    from .stt.__main__ import start_stt
    from .stt.engine import SttSettings as EngineSttSettings
    from .stt.engine import model_for_languages
    from .tts.__main__ import start_tts
    from .tts.engine import VoiceSettings
    from .tts.voices import parse_voice_options

    cfg_stt, cfg_tts, cfg_brain = settings.stt, settings.tts, settings.brain
    stt = await start_stt(
        _uri(cfg_stt.host, cfg_stt.port),
        EngineSttSettings(
            model=model_for_languages(cfg_stt.model, cfg_stt.language),
            device=cfg_stt.device,
            compute_type=cfg_stt.compute_type,
            language=None if cfg_stt.language == "auto" else cfg_stt.language,
            beam_size=cfg_stt.beam_size,
            workers=cfg_stt.workers,
        ),
    )
    stack.push_async_callback(stt.stop)

    paths = parse_voice_options(cfg_tts.voice.split(",")) if cfg_tts.voice else {}
    voice = VoiceSettings(workers=cfg_tts.workers)
    if None in paths:
        voice = VoiceSettings(model=paths[None], workers=cfg_tts.workers)
    by_language = {code: replace(voice, model=path) for code, path in paths.items() if code is not None}
    tts = await start_tts(_uri(cfg_tts.host, cfg_tts.port), voice, language_voices=by_language)
    stack.push_async_callback(tts.stop)

    llm = make_llm(
        cfg_brain.llm,
        ollama_host=cfg_brain.ollama_host,
        model=cfg_brain.model,
        llm_url=cfg_brain.llm_url,
        api_key=cfg_brain.llm_api_key,
    )
    memory = await MemoryStore.open(settings.resolved_data_dir() / DB_NAME)
    stack.push_async_callback(memory.close)
    ha = homeassistant_hooks(HASettings.from_env())  # JARVIS_HA_URL / JARVIS_HA_TOKEN
    if ha is not None:
        stack.push_async_callback(ha.close)
    docs = await document_hooks(settings.resolved_data_dir(), llm)  # search_documents, "what does X say"
    stack.push_async_callback(docs.close)
    brain = await start_brain(
        _uri(cfg_brain.host, cfg_brain.port),
        llm,
        peer_secret=_peer_secret(settings, peer_secret),
        memory=memory,
        extra_tools=[*(ha.tools if ha else ()), *docs.tools],
        # "that was wrong" marks the user's previous turn 👎 (brain.feedback_intents)
        extra_fast_paths=[VoiceFeedback(memory), *(ha.fast_paths if ha else ()), *docs.fast_paths],
        settings=BrainServiceSettings(
            onboarding=cfg_brain.onboarding,
            default_user=settings.default_user,
            timezone=cfg_brain.timezone,
            # [satellites.<id>] also maps Home Assistant's device_id / satellite_id to a user and area
            user_map={
                sat_id: f"{sat.user_id or ''}@{sat.area or ''}"
                for sat_id, sat in settings.satellites.items()
                if sat.user_id or sat.area
            },
        ),
    )
    stack.push_async_callback(brain.stop)
    # each LLM turn's model, memory, tools and latency, for `jarvis feedback` (feedback.sqlite3)
    stack.callback(attach_traces(brain.brain.agent, settings.resolved_data_dir()).close)
    return {"stt": stt, "tts": tts, "brain": brain, "memory": memory}


def _peer_secret(settings: Settings, given: str | None) -> str:
    return given if given is not None else load_or_create_peer_secret(settings.peer_secret_path())


async def _start_web(
    settings: Settings,
    token: str,
    hub: Any,
    servers: dict[str, Any],
    stack: contextlib.AsyncExitStack,
    show_token: bool = True,
) -> str | None:
    """Start the web app (server/web) if enabled; returns what to print (URL, pairing link, QR code)."""
    if not settings.web.enabled:
        return None
    from .web.__main__ import pairing_message, start_web

    wildcard = settings.hub.host in ("0.0.0.0", "::", "")
    try:
        web = await start_web(
            token=token,
            hub_uri=f"{hub.server.endpoint.scheme}://127.0.0.1:{hub.port}" if wildcard else hub.uri,
            hub_fingerprint=hub.fingerprint,
            host=settings.web.host,
            port=settings.web.port,
            data_dir=settings.resolved_data_dir(),
            default_user=settings.default_user,
            memory=servers.get("memory"),
            server_name=settings.hub.name,
        )
    except (OSError, ValueError) as err:  # e.g. the port is taken: the voice services still run
        _LOGGER.error("Web app not started: %s", err)
        return f"  web    not started: {err}"
    stack.push_async_callback(web.stop)
    return pairing_message(web, token, show_token=show_token)


#: Threads for ``asyncio.to_thread`` work. Python's default (cores + 4) is shared in this process by
#: the STT's per-chunk VAD, the brain's SQLite calls and more; with several satellites, short tasks
#: (a memory write before an answer) queued behind VAD work. ``jarvis bench e2e`` measured the brain
#: stage at 8 satellites dropping from ~75-105 ms to ~17-41 ms (median) with a larger pool.
DEFAULT_EXECUTOR_THREADS = 32


def use_larger_default_executor(threads: int = DEFAULT_EXECUTOR_THREADS) -> None:
    """Give the running loop a default executor large enough that short tasks never queue."""
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="jarvis-worker")
    )


async def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        token, created = load_or_create_token(settings.data_dir)
        peer_secret = load_or_create_peer_secret(settings.peer_secret_path())
    except (ConfigError, TokenError, ValueError, OSError) as err:
        print(f"jarvis serve: {err}", file=sys.stderr)
        return 2
    use_larger_default_executor()
    raise_open_file_limit()
    with stop_signal() as stop:
        return await _serve(settings, token, created, stop, peer_secret)


def raise_open_file_limit(want: int = 8192) -> int:
    """Raise the soft limit on open files towards ``want`` (within the hard limit); returns it.

    Five services in one process, each allowing 256 connections, need more than the usual 1,024:
    without this, a flood on one port could exhaust the descriptors the others need.
    """
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as err:
            _LOGGER.warning("Could not raise the open-file limit from %d to %d: %s", soft, target, err)
    return int(soft)


async def _serve(
    settings: Settings, token: str, created: bool, stop: asyncio.Event, peer_secret: str | None = None
) -> int:
    peer_secret = _peer_secret(settings, peer_secret)
    async with contextlib.AsyncExitStack() as stack:
        try:
            servers = await start_services(settings, stack, peer_secret)
        except (OSError, ValueError) as err:
            print(f"jarvis serve: cannot start: {err}", file=sys.stderr)
            return 1
        hub = await start_hub(
            settings,
            token,
            stt=[servers["stt"].uri],
            tts=[servers["tts"].uri],
            brain=[servers["brain"].uri],
            peer_secret=peer_secret,
        )
        stack.push_async_callback(hub.stop)
        web_text = await _start_web(settings, token, hub, servers, stack, show_token=created)

        lines = [
            "Jarvis is running:",
            f"  stt    {servers['stt'].uri}",
            f"  tts    {servers['tts'].uri}",
            f"  brain  {servers['brain'].uri}",
            f"  hub    {hub.uri}    <- satellites connect here",
        ]
        if hub.metrics is not None:
            lines.append(f"  metrics {hub.metrics.url}")
        if created:  # only once: the token administers everything (jarvis token show)
            lines.append(f"Token (new): {token}   (stored in {settings.resolved_data_dir()})")
            lines.append(
                "Connect a satellite:  jarvis satellite "
                f"{server_arguments(settings, port=hub.port)} --token {token}"
            )
        else:
            lines.append(
                f"Token: stored in {settings.resolved_data_dir()} (jarvis token show prints it; "
                "jarvis devices pair gives a device its own credential)"
            )
        if web_text:
            lines.append(web_text)
        lines.append("Ready. Ctrl-C stops.")

        async with advertise(
            settings,
            [
                ("stt", servers["stt"], WYOMING_TYPE),
                ("tts", servers["tts"], WYOMING_TYPE),
                ("brain", servers["brain"], WYOMING_TYPE),
                ("hub", hub.server, ZEROCONF_TYPE),
            ],
        ):
            print("\n".join(lines), flush=True)  # "Ready." once everything is advertised
            await stop.wait()
        print("Stopping…", flush=True)
    _LOGGER.info("Stopped cleanly")
    return 0
