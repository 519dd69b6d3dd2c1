"""``jarvis brain``: the brain as a stand-alone Wyoming ``handle`` service (default tcp://127.0.0.1:10500)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from jarvis.protocol import discovery
from jarvis.protocol.paths import data_dir
from jarvis.protocol.service import stop_signal
from jarvis.server.homeassistant import settings as ha_settings
from jarvis.server.tokens import load_or_create_peer_secret

from .agent import AgentSettings
from .feedback_intents import VoiceFeedback
from .feedback_log import ab_share, attach
from .handler import DEFAULT_URI, BrainSettings, parse_user_map, start_brain
from .llm.ollama import DEFAULT_MODEL
from .llm.select import make_llm
from .memory import DB_NAME, MemoryStore
from .tools.documents import document_hooks
from .tools.homeassistant import homeassistant_hooks

__all__ = ["add_arguments", "run", "start_brain"]

_LOGGER = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uri", default=DEFAULT_URI, help=f"where to listen (default {DEFAULT_URI})")
    parser.add_argument(
        "--llm",
        default="auto",
        metavar="auto|ollama|openai|none",
        help="language model backend (default auto: --llm-url if given, else Ollama, else intents only;"
        " scripted:FILE replays a test script, for benchmarks)",
    )
    parser.add_argument("--ollama-host", help="Ollama URL (default $OLLAMA_HOST or http://localhost:11434)")
    parser.add_argument("--model", help=f"model name (Ollama default {DEFAULT_MODEL})")
    parser.add_argument("--pull", action="store_true", help="pull the Ollama model if it is missing")
    parser.add_argument("--keep-alive", default="30m", help="how long Ollama keeps the model loaded")
    parser.add_argument("--llm-url", help="OpenAI-compatible server, e.g. http://localhost:8000/v1")
    parser.add_argument("--llm-api-key", help="API key for --llm-url (if it wants one)")
    parser.add_argument(
        "--llm-b", metavar="MODEL", help="A/B: a second model, same backend (jarvis feedback report)"
    )
    parser.add_argument(
        "--ab-share", type=ab_share, default=0.2, help="A/B: the share of LLM turns for --llm-b"
    )
    parser.add_argument(
        "--sensitive-tools",
        default="",
        help="comma-separated tool names that need a spoken yes before they run",
    )
    parser.add_argument("--max-steps", type=int, default=5, help="tool rounds per question (default 5)")
    parser.add_argument(
        "--memory-refresh-turns",
        type=int,
        default=5,
        help="rewrite a user's dynamic memory every N turns (0: never; default 5)",
    )
    parser.add_argument("--history-turns", type=int, default=10, help="past turns sent to the LLM")
    parser.add_argument(
        "--always-listening",
        action="store_true",
        help="no wake word: an LLM check decides whether each utterance was meant for Jarvis",
    )
    parser.add_argument(
        "--no-onboarding", action="store_true", help="do not ask new users to introduce themselves"
    )
    parser.add_argument(
        "--user-map",
        action="append",
        default=[],
        metavar="ID=USER[@AREA]",
        help="map a Home Assistant device_id or satellite id to a Jarvis user (repeatable)",
    )
    parser.add_argument("--default-user", default="default", help="user when nothing identifies one")
    parser.add_argument("--timezone", help="IANA timezone of the users (default: the server's)")
    parser.add_argument("--data-dir", type=Path, help="where memory.sqlite3 lives (default: Jarvis data dir)")
    parser.add_argument(
        "--peer-secret-file",
        type=Path,
        metavar="PATH",
        help="the hub's peer secret (default <data dir>/peer-secret, made if missing): only a client "
        "presenting it may say which user is speaking; give jarvis hub the same file",
    )
    discovery.add_zeroconf_argument(parser, "brain")
    ha_settings.add_arguments(parser)


def settings_from_args(args: argparse.Namespace) -> BrainSettings:
    if args.max_steps < 1:
        raise SystemExit("--max-steps must be at least 1")
    if args.memory_refresh_turns < 0:
        raise SystemExit("--memory-refresh-turns must not be negative")
    try:
        user_map = parse_user_map(args.user_map)
    except ValueError as err:
        raise SystemExit(str(err)) from err
    return BrainSettings(
        always_listening=args.always_listening,
        onboarding=not args.no_onboarding,
        default_user=args.default_user,
        user_map=user_map,
        timezone=args.timezone,
        agent=AgentSettings(
            max_steps=args.max_steps,
            history_turns=args.history_turns,
            memory_refresh_turns=args.memory_refresh_turns,
        ),
    )


async def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    try:
        llm = make_llm(
            args.llm,
            ollama_host=args.ollama_host,
            model=args.model,
            llm_url=args.llm_url,
            api_key=args.llm_api_key,
            pull=args.pull,
            keep_alive=args.keep_alive,
        )
        llm_b = None
        if args.llm_b:  # A/B: the same backend with another model
            llm_b = make_llm(
                args.llm,
                ollama_host=args.ollama_host,
                model=args.llm_b,
                llm_url=args.llm_url,
                api_key=args.llm_api_key,
                pull=args.pull,
                keep_alive=args.keep_alive,
            )
    except ValueError as err:
        raise SystemExit(str(err)) from err
    ha = homeassistant_hooks(ha_settings.from_args(args))
    peer_secret = load_or_create_peer_secret(args.peer_secret_file or None, directory=args.data_dir)
    memory = await MemoryStore.open(data_dir(args.data_dir) / DB_NAME)
    sensitive = [name for name in args.sensitive_tools.split(",") if name.strip()]
    docs = await document_hooks(data_dir(args.data_dir), llm)  # documents.sqlite3: search_documents
    server = await start_brain(
        args.uri,
        llm,
        memory=memory,
        peer_secret=peer_secret,
        sensitive_tools=sensitive,
        settings=settings,
        extra_tools=[*(ha.tools if ha else ()), *docs.tools],
        # "that was wrong" marks the user's previous turn 👎 (feedback_intents)
        extra_fast_paths=[VoiceFeedback(memory), *(ha.fast_paths if ha else ()), *docs.fast_paths],
    )
    traces = attach(server.brain.agent, data_dir(args.data_dir), llm_b, args.ab_share)  # feedback.sqlite3
    try:
        with stop_signal() as stop:
            await discovery.serve_until_stopped(server, args.zeroconf, stop)
    finally:
        traces.close()
        if llm_b is not None:
            await llm_b.close()
        await memory.close()
        await docs.close()
        if ha is not None:
            await ha.close()
    return 0
