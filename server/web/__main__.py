"""``jarvis web``: the HTTPS web app (the browser satellite), and :func:`start_web` for ``jarvis serve``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from jarvis.protocol.discovery import lan_ipv4
from jarvis.protocol.paths import data_dir as default_data_dir
from jarvis.server.brain.memory import MemoryStore
from jarvis.server.tokens import load_or_create_token

from .app import REACH_KEY, WebAppConfig, create_app
from .bridge import BridgeSettings
from .qr import qr_text
from .store import WebStore
from .tls import certificate_fingerprint, ensure_certificate, server_ssl_context

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT = 8443


@dataclass
class WebServer:
    """A running web app; :meth:`stop` shuts it down (closes WebSockets, then the listener)."""

    runner: web.AppRunner
    site: web.TCPSite
    host: str
    scheme: str
    fingerprint: str | None = None

    @property
    def port(self) -> int:
        server = self.site._server  # the bound port matters when started on port 0
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else 0

    @property
    def url(self) -> str:
        """Where a browser on this machine opens the page."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
        return f"{self.scheme}://{host}:{self.port}/"

    @property
    def lan_url(self) -> str:
        """Where a phone on the LAN opens the page (the LAN address when bound to all interfaces)."""
        if self.host in ("0.0.0.0", "::", ""):
            lan = lan_ipv4()
            if lan:
                return f"{self.scheme}://{lan}:{self.port}/"
        return self.url

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_web(
    *,
    token: str,
    hub_uri: str = "tcp://127.0.0.1:10600",
    hub_fingerprint: str | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    cert: Path | None = None,
    key: Path | None = None,
    http: bool = False,
    data_dir: Path | None = None,
    default_user: str = "default",
    users: tuple[str, ...] = (),
    memory: MemoryStore | None = None,
    server_name: str = "Jarvis",
    public_url: str | None = None,
    voices: tuple[str, ...] = (),
) -> WebServer:
    """Start the web app and return it running (no argparse: ``jarvis serve`` calls this).

    HTTPS with ``cert``/``key`` if given, else a self-signed certificate in ``<data_dir>/tls/``;
    ``http=True`` serves plain HTTP (development, or behind a TLS-terminating proxy).
    ``memory`` shares the brain's store when both run in one process.
    """
    directory = Path(data_dir) if data_dir else default_data_dir()
    ssl_context = None
    fingerprint = None
    if http:
        _LOGGER.warning(
            "Serving the web app over plain HTTP: browsers allow the microphone only on https:// or "
            "localhost, and the session cookie is not marked Secure. Use this only behind a TLS proxy."
        )
    else:
        if (cert is None) != (key is None):
            raise ValueError("--cert and --key go together")
        if cert is not None and key is not None:
            cert_path, key_path = Path(cert), Path(key)
        else:
            extra = [h for h in (host,) if h not in ("0.0.0.0", "::", "")]
            cert_path, key_path = await asyncio.to_thread(ensure_certificate, directory / "tls", extra)
        ssl_context = await asyncio.to_thread(server_ssl_context, cert_path, key_path)
        fingerprint = await asyncio.to_thread(certificate_fingerprint, cert_path)

    config = WebAppConfig(
        token=token,
        hub_uri=hub_uri,
        data_dir=directory,
        default_user=default_user,
        users=tuple(users),
        server_name=server_name,
        secure_cookie=not http,
        public_url=public_url,
        voices=tuple(voices),
        bridge=BridgeSettings(hub_uri=hub_uri, token=token, hub_fingerprint=hub_fingerprint),
    )
    app = create_app(config, WebStore(directory, memory))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port, ssl_context=ssl_context, reuse_address=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    server = WebServer(runner, site, host, "http" if http else "https", fingerprint)
    if server.lan_url != server.url:
        app[REACH_KEY].lan_url = server.lan_url
    _LOGGER.info("Web app on %s (hub %s)", server.url, hub_uri)
    return server


def pairing_message(server: WebServer, token: str, qr: bool = True, show_token: bool = True) -> str:
    """What ``jarvis serve``/``jarvis web`` print: the URL, the pairing link and its QR code.

    ``show_token=False`` (every start but the one that created the token): the URL only, and how to
    pair; the master token stays out of terminals and logs (``jarvis token show`` prints it)."""
    link = f"{server.lan_url}?token={token}"
    lines = [f"Web app:      {server.url}"]
    loopback_only = server.host in ("127.0.0.1", "localhost", "::1")
    if server.lan_url != server.url:
        lines.append(f"On your LAN:  {server.lan_url}")
    elif loopback_only:
        lines.append(
            "              (this machine only: start with --host 0.0.0.0 or JARVIS_WEB_HOST=0.0.0.0"
            " to pair a phone)"
        )
    if server.fingerprint:
        lines.append(f"Certificate:  SHA-256 {server.fingerprint[:47]}…")
    if not show_token:
        lines.append("Pair a phone: jarvis devices pair --id PHONE --user USER (or: jarvis token show --qr)")
        return "\n".join(lines)
    lines.insert(-1 if server.fingerprint else len(lines), f"Pairing link: {link}")
    if qr and not loopback_only:  # a phone cannot open a loopback address
        lines.append("Scan to pair a phone (it opens the page already logged in):")
        lines.append(qr_text(link))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "--host/--port/--data-dir/--user default to the [web] section and data_dir/default_user of the "
        "settings file and JARVIS_* variables, like jarvis serve (docs/configuration.md)."
    )
    parser.add_argument("--config", metavar="TOML", help="settings file (default: <data dir>/jarvis.toml)")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1; 0.0.0.0 for phones on the LAN)")
    parser.add_argument("--port", type=int, help=f"HTTPS port (default {DEFAULT_PORT}; 0 = any free port)")
    parser.add_argument(
        "--hub", default="tcp://127.0.0.1:10600", help="the hub's URI (tcp://host:port or tls://host:port)"
    )
    parser.add_argument(
        "--hub-fingerprint",
        metavar="SHA256",
        help="with a tls:// hub: its certificate's fingerprint (pinned)",
    )
    parser.add_argument(
        "--cert", type=Path, help="TLS certificate (PEM); default: self-signed in the data dir"
    )
    parser.add_argument("--key", type=Path, help="TLS private key (PEM) for --cert")
    parser.add_argument(
        "--http", action="store_true", help="plain HTTP, for development or behind a TLS proxy (insecure)"
    )
    parser.add_argument("--data-dir", help="data directory (token, certificate, memory)")
    parser.add_argument("--token", help="hub token (default: the one in the data dir, made on first run)")
    parser.add_argument("--user", help="default user for logins (default: the settings' default_user)")
    parser.add_argument("--users", default="", help="comma-separated user ids offered at login")
    parser.add_argument("--public-url", help="base URL put in the pairing QR code (e.g. behind a proxy)")
    parser.add_argument("--no-qr", action="store_true", help="do not print the pairing QR code")


async def run(args: argparse.Namespace) -> int:
    from jarvis.server.config import ConfigError, load_settings
    from jarvis.server.tokens import TokenError

    overrides = {"web.host": args.host, "web.port": args.port, "data_dir": args.data_dir}
    try:
        settings = load_settings(args.config, overrides=overrides)
        directory = settings.resolved_data_dir()
        created = False
        if args.token:
            token = args.token
        else:
            token, created = load_or_create_token(directory)
            if created:
                _LOGGER.info("Created a new token; start the hub with the same data dir so it uses it")
    except (ConfigError, TokenError, ValueError) as err:
        _LOGGER.error("jarvis web: %s", err)
        return 2
    users = tuple(u.strip() for u in args.users.split(",") if u.strip())
    try:
        server = await start_web(
            token=token,
            hub_uri=args.hub,
            hub_fingerprint=args.hub_fingerprint,
            host=settings.web.host,
            port=settings.web.port,
            cert=args.cert,
            key=args.key,
            http=args.http,
            data_dir=directory,
            default_user=args.user or settings.default_user,
            users=users,
            server_name=socket.gethostname(),
            public_url=args.public_url,
        )
    except (OSError, ValueError) as err:
        _LOGGER.error("Cannot start the web app: %s", err)
        return 1
    print(pairing_message(server, token, qr=not args.no_qr, show_token=created), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.stop()
    return 0
