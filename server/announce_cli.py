"""``jarvis announce "Dinner is ready" [--area kitchen | --satellite ID | --all]``: speak it on satellites.

It connects to the hub with the master token (``<data dir>/token``: only an administrator announces)
and sends ``jarvis-announce``; the hub speaks the text with its TTS on each target and answers where
it was played. Jarvis satellites and the web page cut what they were saying first, as Home Assistant's
``assist_satellite.announce`` does; standard Wyoming satellites play it too (docs/hub.md).
"""

from __future__ import annotations

import argparse
import sys

from jarvis.protocol.discovery import reachable_host
from jarvis.protocol.events import Announce, Announced
from jarvis.protocol.wire import ProtocolError

from .config import ConfigError, load_settings
from .tokens import TokenError, load_or_create_token

ANNOUNCER_ID = "jarvis-announce"
"""The satellite id the announcing connection takes (it is never a target itself)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="what to say")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--area", help="every connected satellite in this area (e.g. kitchen)")
    target.add_argument("--satellite", dest="satellite_id", metavar="ID", help="one satellite")
    target.add_argument("--all", dest="everywhere", action="store_true", help="every connected satellite")
    parser.add_argument("--config", metavar="TOML", help="settings file (default: <data dir>/jarvis.toml)")
    parser.add_argument("--data-dir", help="where the master token lives")
    parser.add_argument("--server", metavar="URI", help="the hub (default: from the settings)")
    parser.add_argument(
        "--hub-fingerprint", metavar="SHA256", help="with a tls:// hub: its certificate's pin"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the hub (default 60)"
    )


async def run(args: argparse.Namespace) -> int:
    from .hub.client import HubClient, HubRefused

    try:
        settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
        token, _ = load_or_create_token(settings.resolved_data_dir())
    except (ConfigError, TokenError, OSError) as err:
        print(f"jarvis announce: {err}", file=sys.stderr)
        return 2
    fingerprint = args.hub_fingerprint
    uri = args.server
    if uri is None:
        scheme = "tls" if settings.hub.tls else "tcp"
        uri = f"{scheme}://{reachable_host(settings.hub.host)}:{settings.hub.port}"
        if settings.hub.tls and fingerprint is None:
            from .devices_cli import hub_fingerprint

            fingerprint = hub_fingerprint(settings)
    request = Announce(args.text, args.satellite_id, args.area, args.everywhere)
    try:
        async with await HubClient.connect(uri, token, ANNOUNCER_ID, fingerprint=fingerprint) as hub:
            await hub.send(request.event())
            event = await hub.conn.read_event(timeout=args.timeout)
            while event is not None and not Announced.is_type(event.type) and event.type != "error":
                event = await hub.conn.read_event(timeout=args.timeout)
    except HubRefused as err:
        print(f"jarvis announce: the hub at {uri} refused: {err}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, ValueError, ProtocolError) as err:
        print(f"jarvis announce: cannot reach the hub at {uri}: {err or type(err).__name__}", file=sys.stderr)
        return 1
    if event is None:
        print("jarvis announce: the hub closed the connection", file=sys.stderr)
        return 1
    if event.type == "error":
        print(f"jarvis announce: {event.data.get('code')}: {event.data.get('text')}", file=sys.stderr)
        return 1
    done = Announced.from_event(event)
    if done.played:
        print(f"Announced on {', '.join(done.played)}.")
    if done.failed:
        print(f"Could not announce on {', '.join(done.failed)} (see the hub's log).", file=sys.stderr)
    return 0 if done.played and not done.failed else 1
