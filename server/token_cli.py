"""``jarvis token show``: the master token, on demand (it is no longer printed on every start).

    jarvis token show              # the token, where it is stored, the satellite command line
    jarvis token show --qr         # also the web page's pairing link as a QR code

The token administers Jarvis; for a satellite or a phone prefer ``jarvis devices pair``, whose
credential speaks only for that device and can be revoked (docs/devices.md).
"""

from __future__ import annotations

import argparse
import sys

from jarvis.protocol.discovery import reachable_host

from .config import ConfigError, Settings, load_settings
from .devices_cli import server_arguments
from .tokens import TOKEN_FILENAME, TokenError, load_or_create_token


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="TOML", help="settings file (default: <data dir>/jarvis.toml if present)"
    )
    parser.add_argument("--data-dir", help="where the token lives")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the master token and how to use it")
    show.add_argument("--qr", action="store_true", help="also print the web pairing link as a QR code")


def _web_link(settings: Settings, token: str) -> str:
    return f"https://{reachable_host(settings.web.host)}:{settings.web.port}/?token={token}"


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
        directory = settings.resolved_data_dir()
        token, created = load_or_create_token(directory)
    except (ConfigError, TokenError, ValueError, OSError) as err:
        print(f"jarvis token: {err}", file=sys.stderr)
        return 2
    print(f"Token{' (new)' if created else ''}: {token}   (stored in {directory / TOKEN_FILENAME})")
    print(f"Connect a satellite:  jarvis satellite {server_arguments(settings)} --token {token}")
    link = _web_link(settings, token)
    print(f"Pairing link: {link}")
    if args.qr:
        from .web.qr import qr_text

        print(qr_text(link))
    print("Prefer per-device credentials: jarvis devices pair --id DEVICE --user USER (docs/devices.md)")
    return 0
