"""`jarvis probe URI`: ask a Wyoming service to `describe` itself; exit 0 if it answers in time.

Used as the Docker health check of every service, and handy by hand:
``jarvis probe tcp://127.0.0.1:10300 --json`` prints the service's ``info``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from wyoming.info import Describe

from .service import Connection
from .wire import ProtocolError

_LOGGER = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("uri", help="service to probe, e.g. tcp://127.0.0.1:10300")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait (default 3)")
    parser.add_argument("--json", action="store_true", help="print the info as JSON")


async def describe(uri: str, timeout: float) -> dict:
    """The ``info`` data of the service at ``uri``; raises TimeoutError/OSError/ProtocolError."""
    async with asyncio.timeout(timeout):
        async with await Connection.open(uri, timeout=timeout) as conn:
            await conn.write_event(Describe().event())
            while (event := await conn.read_event()) is not None:
                if event.type == "info":
                    return dict(event.data)
    raise ConnectionError(f"{uri} closed the connection without answering describe")


async def run(args: argparse.Namespace) -> int:
    try:
        info = await describe(args.uri, args.timeout)
    except (TimeoutError, OSError, ProtocolError, ValueError) as err:
        print(f"{args.uri}: not healthy: {err or type(err).__name__}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        kinds = [key for key, value in info.items() if value and key not in ("version",)]
        print(f"{args.uri}: ok ({', '.join(kinds) or 'no programs'})")
    return 0
