"""Zeroconf (mDNS/DNS-SD) advertising and browsing, on python-zeroconf's async API.

- :class:`Advertiser` owns one ``AsyncZeroconf`` and the services it registered; ``close()``
  unregisters them all (sending goodbye packets) and closes it. :func:`shared_advertiser` gives the
  process one instance, so ``jarvis serve`` advertises STT, TTS, brain and hub through a single
  socket set.
- Never advertises ``0.0.0.0``/``::``: a wildcard bind is advertised with the host's primary
  non-loopback IPv4 (the one its default route uses), a loopback bind with ``127.0.0.1``.
- :func:`browse` collects the instances of a service type for ``timeout`` seconds and resolves
  each to an address and port.
- Instance names are stable across restarts: ``jarvis-<kind>-<hostname>``; if another host already
  uses the name on the network, zeroconf appends `` (2)``.

Service types: :data:`WYOMING_TYPE` for STT/TTS/brain (Home Assistant finds them there) and
:data:`HUB_TYPE` for the Jarvis hub. Everything takes ``interfaces`` (e.g. ``["127.0.0.1"]`` in tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

_LOGGER = logging.getLogger(__name__)

WYOMING_TYPE = "_wyoming._tcp.local."
HUB_TYPE = "_jarvis._tcp.local."

Interfaces = Sequence[str] | None


def hostname() -> str:
    """This host's short name, made DNS-label safe."""
    name = socket.gethostname().split(".")[0] or "localhost"
    return re.sub(r"[^A-Za-z0-9-]", "-", name).strip("-")[:40] or "localhost"


def instance_name(kind: str) -> str:
    """The stable instance name of a Jarvis service on this host, e.g. ``jarvis-stt-myhost``."""
    return f"jarvis-{kind}-{hostname()}"


def _default_route_ipv4() -> str | None:
    """The IPv4 address of the interface the default route uses, or None if there is no route.

    Uses a connected UDP socket (no packet is sent).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.254.254.254", 1))
            return str(sock.getsockname()[0])
        except OSError:
            return None


def primary_ipv4() -> str:
    """The IPv4 address of the interface the default route uses; 127.0.0.1 if there is none."""
    address = _default_route_ipv4()
    if address is None or ipaddress.ip_address(address).is_unspecified:
        return "127.0.0.1"
    return address


def reachable_host(host: str) -> str:
    """The address another device uses for a server bound to ``host``: a wildcard bind
    (``0.0.0.0``, ``::``, empty) is this machine's :func:`primary_ipv4`; anything else is itself."""
    return primary_ipv4() if host in ("0.0.0.0", "::", "") else host


def lan_ipv4() -> str | None:
    """The host's primary non-loopback IPv4 address (the default route's), or None if it has none."""
    address = _default_route_ipv4()
    if address is None or address.startswith("127.") or address == "0.0.0.0":
        return None
    return address


def advertised_address(host: str) -> str:
    """The address to advertise for a service bound to ``host``: never a wildcard.

    ``0.0.0.0``/``::``/"" -> the primary non-loopback IPv4; a loopback host -> ``127.0.0.1``;
    an address -> itself; a name -> its first IPv4 address.
    """
    if host in ("", "0.0.0.0", "::", "*"):
        return primary_ipv4()
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as err:
            raise ValueError(f"cannot resolve {host!r} to an address to advertise: {err}") from err
        return str(infos[0][4][0])
    if address.is_unspecified:
        return primary_ipv4()
    if address.is_loopback:
        return "127.0.0.1" if address.version == 4 else "::1"
    return str(address)


TLS_PROPERTY = "tls"
"""TXT key: ``1`` when the advertised port speaks TLS (the hub with ``hub.tls = true``)."""


@dataclass(frozen=True)
class ServiceEndpoint:
    """One service instance found by :func:`browse`."""

    name: str
    """Instance name, e.g. ``jarvis-stt-myhost``."""
    service_type: str
    host: str
    """An address (IPv4 preferred)."""
    port: int
    server: str = ""
    """The advertised host name, e.g. ``myhost.local.``."""
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """``tcp://host:port``, or ``tls://host:port`` if the service says it speaks TLS (TXT ``tls=1``).

        The TXT record is not trusted for security: a satellite with a pinned certificate connects
        only over TLS and only to that certificate (:mod:`jarvis.protocol.tls`), whatever it says."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "tls" if self.properties.get(TLS_PROPERTY) == "1" else "tcp"
        return f"{scheme}://{host}:{self.port}"


def _ip_version(interfaces: Interfaces) -> IPVersion:
    """IPv4 (what is advertised, and what Home Assistant uses) unless an IPv6 interface is named."""
    if interfaces and any(":" in str(i) for i in interfaces):
        return IPVersion.All
    return IPVersion.V4Only


@dataclass
class Advertisement:
    """A registered service; withdraw it with :meth:`Advertiser.withdraw`."""

    info: AsyncServiceInfo
    name: str
    service_type: str
    address: str
    port: int


class Advertiser:
    """Owns one ``AsyncZeroconf`` and everything it advertised."""

    def __init__(self, interfaces: Interfaces = None) -> None:
        self.interfaces = list(interfaces) if interfaces else None
        self._zc: AsyncZeroconf | None = None
        self._ads: list[Advertisement] = []
        self._lock = asyncio.Lock()

    @property
    def advertisements(self) -> list[Advertisement]:
        return list(self._ads)

    def _zeroconf(self) -> AsyncZeroconf:
        if self._zc is None:
            kwargs: dict[str, Any] = {"ip_version": _ip_version(self.interfaces)}
            if self.interfaces:
                kwargs["interfaces"] = self.interfaces
            self._zc = AsyncZeroconf(**kwargs)
        return self._zc

    async def advertise(
        self,
        name: str,
        service_type: str,
        port: int,
        host: str = "0.0.0.0",
        properties: Mapping[str, str] | None = None,
    ) -> Advertisement:
        """Register ``name`` as an instance of ``service_type`` at ``host:port``.

        ``host`` is the address the service is bound to; a wildcard is replaced by a reachable
        address (see :func:`advertised_address`).
        """
        if not service_type.endswith("._tcp.local.") and not service_type.endswith("._udp.local."):
            raise ValueError(f"not a DNS-SD service type: {service_type!r}")
        if not 0 < port < 65536:
            raise ValueError(f"port {port} cannot be advertised")
        address = advertised_address(host)
        info = AsyncServiceInfo(
            service_type,
            f"{name}.{service_type}",
            addresses=[socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)],
            port=port,
            properties=dict(properties or {}),
            server=f"{hostname()}.local.",
        )
        async with self._lock:
            zc = self._zeroconf()
            await zc.async_register_service(info, allow_name_change=True)
            ad = Advertisement(info, info.name.removesuffix("." + service_type), service_type, address, port)
            self._ads.append(ad)
        _LOGGER.info("Advertising %s as %s at %s:%d", ad.name, service_type, address, port)
        return ad

    async def withdraw(self, ad: Advertisement) -> None:
        """Unregister one advertisement (no-op if it is not registered)."""
        async with self._lock:
            if ad not in self._ads or self._zc is None:
                return
            self._ads.remove(ad)
            await self._zc.async_unregister_service(ad.info)
        _LOGGER.info("Withdrew %s", ad.name)

    async def close(self) -> None:
        """Unregister everything and close the zeroconf instance."""
        async with self._lock:
            zc, self._zc = self._zc, None
            ads, self._ads = self._ads, []
            if zc is None:
                return
            try:
                for ad in ads:
                    with contextlib.suppress(Exception):
                        await zc.async_unregister_service(ad.info)
            finally:
                await zc.async_close()

    async def __aenter__(self) -> Advertiser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


_SHARED: dict[tuple[str, ...] | None, Advertiser] = {}


def shared_advertiser(interfaces: Interfaces = None) -> Advertiser:
    """The process's advertiser for ``interfaces`` (one ``AsyncZeroconf`` per process)."""
    key = tuple(interfaces) if interfaces else None
    if key not in _SHARED:
        _SHARED[key] = Advertiser(interfaces)
    return _SHARED[key]


def _kind_of(server: Any) -> str:
    info = getattr(server, "info", None)
    if info is not None:
        if getattr(info, "asr", None):
            return "stt"
        if getattr(info, "tts", None):
            return "tts"
        if getattr(info, "handle", None) or getattr(info, "intent", None):
            return "brain"
    return "wyoming"


@contextlib.asynccontextmanager
async def advertise_wyoming(
    name: str | None,
    server: Any,
    service_type: str = WYOMING_TYPE,
    properties: Mapping[str, str] | None = None,
    interfaces: Interfaces = None,
) -> AsyncIterator[Advertisement]:
    """Advertise a started :class:`~jarvis.protocol.service.WyomingServer` while in the block.

    ``name`` defaults to ``jarvis-<kind>-<host>`` with the kind taken from the server's ``info``
    (stt/tts/brain). Uses the process's shared advertiser; it is closed with the last advertisement.
    """
    endpoint = server.endpoint
    if endpoint.scheme not in ("tcp", "tls"):
        raise ValueError("only tcp:// and tls:// servers can be advertised")
    if endpoint.tls:
        properties = {**(properties or {}), TLS_PROPERTY: "1"}
    advertiser = shared_advertiser(interfaces)
    ad = await advertiser.advertise(
        name or instance_name(_kind_of(server)), service_type, server.port, endpoint.host, properties
    )
    try:
        yield ad
    finally:
        await advertiser.withdraw(ad)
        if not advertiser.advertisements:
            await advertiser.close()


def add_zeroconf_argument(parser: argparse.ArgumentParser, kind: str) -> None:
    """The ``--zeroconf [NAME]`` option every Wyoming service command has (off by default)."""
    parser.add_argument(
        "--zeroconf",
        nargs="?",
        const="",
        default=None,
        metavar="NAME",
        help=f"advertise over zeroconf as _wyoming._tcp (NAME defaults to {instance_name(kind)})",
    )


@contextlib.asynccontextmanager
async def advertised(zeroconf: str | None, server: Any) -> AsyncIterator[Advertisement | None]:
    """``advertise_wyoming`` when ``--zeroconf`` was given (``zeroconf`` is its value), else nothing."""
    if zeroconf is None:
        yield None
        return
    async with advertise_wyoming(zeroconf or None, server) as ad:
        yield ad


async def serve_until_stopped(server: Any, zeroconf: str | None, stop: asyncio.Event) -> None:
    """Run a started service until ``stop`` is set (see ``service.stop_signal``), advertised over
    zeroconf if ``--zeroconf`` was given; then withdraw the advertisement and stop the server."""
    try:
        async with advertised(zeroconf, server):
            await stop.wait()
        _LOGGER.info("Stopping %s", server.uri)
    finally:
        await server.stop()


def _decode_properties(raw: Mapping[bytes, bytes | None]) -> dict[str, str]:
    return {
        key.decode("utf-8", "replace"): (value or b"").decode("utf-8", "replace")
        for key, value in raw.items()
    }


async def browse(
    service_type: str = WYOMING_TYPE,
    timeout: float = 3.0,
    interfaces: Interfaces = None,
    zeroconf: AsyncZeroconf | None = None,
) -> list[ServiceEndpoint]:
    """Instances of ``service_type`` seen within ``timeout`` seconds, resolved, sorted by name.

    Uses ``zeroconf`` if given (e.g. an :class:`Advertiser`'s), else a temporary one.
    """
    own = zeroconf is None
    if zeroconf is None:
        kwargs: dict[str, Any] = {"ip_version": _ip_version(interfaces)}
        if interfaces:
            kwargs["interfaces"] = list(interfaces)
        zeroconf = AsyncZeroconf(**kwargs)
    names: set[str] = set()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            names.add(name)
        elif state_change is ServiceStateChange.Removed:
            names.discard(name)

    browser = AsyncServiceBrowser(zeroconf.zeroconf, [service_type], handlers=[on_change])
    try:
        await asyncio.sleep(timeout)  # the browse window: collect answers for `timeout` seconds
        found: list[ServiceEndpoint] = []
        for full_name in sorted(names):
            info = AsyncServiceInfo(service_type, full_name)
            if not await info.async_request(zeroconf.zeroconf, max(100, int(timeout * 1000))):
                _LOGGER.debug("could not resolve %s", full_name)
                continue
            addresses = info.parsed_scoped_addresses(IPVersion.V4Only) or info.parsed_scoped_addresses()
            if not addresses or info.port is None:
                continue
            found.append(
                ServiceEndpoint(
                    name=full_name.removesuffix("." + service_type),
                    service_type=service_type,
                    host=addresses[0],
                    port=int(info.port),
                    server=info.server or "",
                    properties=_decode_properties(info.properties),
                )
            )
        return found
    finally:
        await browser.async_cancel()
        if own:
            await zeroconf.async_close()
