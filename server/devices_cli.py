"""``jarvis devices pair|list|revoke``: per-device credentials (docs/devices.md).

    jarvis devices pair --id kitchen-pi --user alice --area kitchen
    jarvis devices list [--json]
    jarvis devices revoke kitchen-pi

``pair`` prints the credential once (only its hash is stored) and the ``jarvis satellite`` command
line that uses it. A running hub sees the change at once (it re-reads the registry file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from jarvis.protocol.discovery import reachable_host

from .config import ConfigError, Settings, load_settings
from .devices import Device, DeviceError, DeviceRegistry, devices_path


def _add_location(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        metavar="TOML",
        default=default,
        help="settings file (default: <data dir>/jarvis.toml if present)",
    )
    parser.add_argument("--data-dir", default=default, help="where the token, memory and devices.json live")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_location(parser, None)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    pair = sub.add_parser("pair", help="pair a device: print a new credential bound to a user and an area")
    _add_location(pair, argparse.SUPPRESS)
    pair.add_argument(
        "--id", dest="device_id", required=True, help="the device's satellite id, e.g. kitchen-pi"
    )
    pair.add_argument("--user", dest="user_id", required=True, help="the user it speaks for")
    pair.add_argument("--area", help="the room it is in, e.g. kitchen")
    pair.add_argument("--name", help="a human-readable name")
    pair.add_argument(
        "--replace",
        action="store_true",
        help="re-pair an id that is already paired (its old credential stops working)",
    )
    pair.add_argument(
        "--qr", action="store_true", help="also print the browser pairing link as a QR code (for a phone)"
    )
    pair.add_argument(
        "--server",
        metavar="URI",
        help="hub URI to print in the satellite command (default: from the settings)",
    )

    lister = sub.add_parser("list", help="list paired devices (revoked ones too)")
    _add_location(lister, argparse.SUPPRESS)
    lister.add_argument("--json", action="store_true", help="machine-readable output")

    revoke = sub.add_parser("revoke", help="revoke a device: its credential is refused from now on")
    _add_location(revoke, argparse.SUPPRESS)
    revoke.add_argument("device_id", metavar="ID")


def run(args: argparse.Namespace) -> int:
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    try:
        settings = load_settings(args.config, overrides=overrides)
        registry = DeviceRegistry(devices_path(settings.data_dir))
        if args.action == "pair":
            return _pair(args, settings, registry)
        if args.action == "list":
            return _list(args, registry)
        if args.action == "revoke":
            device = registry.revoke(args.device_id)
            print(
                f"Revoked {device.device_id} (user {device.user_id}); its credential is refused from now on."
            )
            return 0
    except (ConfigError, DeviceError, OSError) as err:
        print(f"jarvis devices: {err}", file=sys.stderr)
        return 1
    return 2


def _pair(args: argparse.Namespace, settings: Settings, registry: DeviceRegistry) -> int:
    device, credential = registry.pair(
        args.device_id, args.user_id, args.area, args.name, replace=args.replace
    )
    where = f" in {device.area}" if device.area else ""
    print(f"Paired {device.device_id} for user {device.user_id}{where}.")
    print(f"Credential (shown once; only its hash is stored): {credential}")
    if settings.hub.tls:
        print(f"Hub certificate (the device pins it): {hub_fingerprint(settings)}")
    print(
        "On the device:  jarvis satellite "
        f"{server_arguments(settings, args.server)} --token {credential} --satellite-id {device.device_id}"
    )
    if settings.web.enabled:
        link = f"https://{reachable_host(settings.web.host)}:{settings.web.port}/?token={credential}"
        print(f"Or in a browser (phone): {link}")
        if args.qr:
            from .web.qr import qr_text

            print(qr_text(link))
    return 0


def hub_fingerprint(settings: Settings) -> str:
    """The fingerprint of the hub's certificate (made now if missing: the hub will use the same)."""
    from jarvis.protocol.tls import fingerprint_of_file

    from .hub.hub import hub_certificate

    return fingerprint_of_file(hub_certificate(settings)[0])


def server_arguments(settings: Settings, server: str | None = None, port: int | None = None) -> str:
    """``--server URI`` for a satellite command, with ``--hub-fingerprint`` when ``hub.tls`` is on."""
    scheme = "tls" if settings.hub.tls else "tcp"
    uri = server or f"{scheme}://{reachable_host(settings.hub.host)}:{port or settings.hub.port}"
    if settings.hub.tls:
        return f"--server {uri} --hub-fingerprint {hub_fingerprint(settings)}"
    return f"--server {uri}"


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else "-"


def _list(args: argparse.Namespace, registry: DeviceRegistry) -> int:
    devices = registry.devices()
    if args.json:
        print(json.dumps([_as_json(d) for d in devices], indent=2))
        return 0
    if not devices:
        print("No paired devices (jarvis devices pair --id ID --user USER --area AREA).")
        return 0
    rows = [("ID", "USER", "AREA", "NAME", "PAIRED", "LAST SEEN", "STATUS")]
    for d in devices:
        status = f"revoked {_when(d.revoked)}" if d.revoked else "active"
        rows.append(
            (
                d.device_id,
                d.user_id,
                d.area or "-",
                d.name or "-",
                _when(d.created),
                _when(d.last_seen),
                status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _as_json(device: Device) -> dict[str, object]:
    return {
        "id": device.device_id,
        "user_id": device.user_id,
        "area": device.area,
        "name": device.name,
        "created": device.created,
        "last_seen": device.last_seen,
        "revoked": device.revoked,
        "active": device.active,
    }
