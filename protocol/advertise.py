"""`jarvis advertise`: announce services over zeroconf on behalf of others, until stopped.

For Docker: mDNS does not cross a bridge network, so one container on the host network announces the
ports the stack publishes, with the host's LAN address (never 0.0.0.0). Each ``--service`` is
``NAME=TYPE:PORT``, where TYPE is a DNS-SD type such as ``_wyoming._tcp`` or ``_jarvis._tcp``::

    jarvis advertise --service jarvis-hub=_jarvis._tcp:10600 --service jarvis-stt=_wyoming._tcp:10300
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
from dataclasses import dataclass

from .discovery import Advertiser
from .service import stop_signal

_LOGGER = logging.getLogger(__name__)
_SERVICE_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9 ._-]{0,62})=(?P<type>_[a-z0-9-]+\._(tcp|udp)):(?P<port>\d{1,5})$"
)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    service_type: str
    """Full DNS-SD type, e.g. ``_wyoming._tcp.local.``."""
    port: int


def parse_service(text: str) -> ServiceSpec:
    """Parse ``NAME=TYPE:PORT``; raises argparse.ArgumentTypeError with the expected form."""
    match = _SERVICE_RE.match(text)
    if not match or not 0 < int(match["port"]) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=TYPE:PORT, e.g. jarvis-hub=_jarvis._tcp:10600"
        )
    return ServiceSpec(match["name"], f"{match['type']}.local.", int(match["port"]))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--service",
        dest="services",
        type=parse_service,
        action="append",
        required=True,
        metavar="NAME=TYPE:PORT",
        help="a service to announce (repeatable)",
    )
    parser.add_argument(
        "--host",
        default="0.0.0.0",
        help="address to announce (default: this host's primary LAN address; never 0.0.0.0)",
    )
    parser.add_argument(
        "--interface",
        dest="interfaces",
        action="append",
        help="only announce on this interface address (repeatable; default: all)",
    )


async def advertise_until_stopped(
    services: list[ServiceSpec], host: str, interfaces: list[str] | None, stop: asyncio.Event
) -> None:
    async with Advertiser(interfaces) as advertiser:
        for spec in services:
            await advertiser.advertise(spec.name, spec.service_type, spec.port, host=host)
        await stop.wait()


async def run(args: argparse.Namespace) -> int:
    with stop_signal() as stop:
        await advertise_until_stopped(args.services, args.host, args.interfaces, stop)
    _LOGGER.info("Stopped advertising")
    return 0
