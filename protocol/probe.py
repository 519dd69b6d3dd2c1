"""`jarvis probe URI`: ask a Wyoming service to `describe` itself; exit 0 if it answers in time.

Used as the Docker health check of every service, and handy by hand:
``jarvis probe tcp://127.0.0.1:10300 --json`` prints the service's ``info``.
An ``http(s)://`` URI checks the web app instead: any HTTP answer below 500 (401 included: the app
is up, it just wants a token) is healthy. The web app's certificate is self-signed, so a probe of a
loopback address does not verify it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import ssl
import sys
import urllib.error
import urllib.request
from urllib.parse import urlparse

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


def http_status(uri: str, timeout: float) -> int:
    """HTTP status of GET ``uri`` (blocking; run it in a thread)."""
    context = None
    if urlparse(uri).scheme == "https":
        context = ssl.create_default_context()
        if urlparse(uri).hostname in ("127.0.0.1", "localhost", "::1"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(uri, timeout=timeout, context=context) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


async def run(args: argparse.Namespace) -> int:
    if urlparse(args.uri).scheme in ("http", "https"):
        try:
            status = await asyncio.to_thread(http_status, args.uri, args.timeout)
        except (OSError, ValueError) as err:
            print(f"{args.uri}: not healthy: {err}", file=sys.stderr)
            return 1
        print(f"{args.uri}: HTTP {status}")
        return 0 if status < 500 else 1
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
