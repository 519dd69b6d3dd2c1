"""The base every Jarvis Wyoming server and client uses.

- :class:`ServiceHandler`: one per connection (like ``wyoming.server.AsyncEventHandler``), but it
  reads frames through :func:`jarvis.protocol.wire.read_event`, answers a malformed frame with an
  ``error`` event and closes that one connection, answers ``ping`` with ``pong``, and never lets
  one client's failure touch another.
- :class:`WyomingServer`: binds ``tcp://host:port`` (port 0 = any free port) or ``unix://path``,
  serves handlers concurrently, and on :meth:`stop` cancels *and awaits* every connection task.
- :class:`Connection`: the client side, with the same limits, used by the hub, tests and benches.

Nothing on the network is trusted, so a server also bounds what one peer can hold
(:class:`ConnectionLimits`): connections per peer address and in total, with a reserve of slots
only authenticated peers (:meth:`ServiceHandler.mark_authenticated`) may keep; a deadline for a
frame that trickles in (slowloris); an optional idle timeout. A refused connection gets an
``error`` (code ``too-many-connections``) and is closed.

The server runs its own accept loop: when the process is out of file descriptors (EMFILE) it
waits, doubling the wait up to :data:`ACCEPT_BACKOFF_MAX_S`, and logs that at most once per
interval with a count of the failures held back. (asyncio's own loop, on Python 3.11, retries
every accept of its 100-deep backlog on each wake-up and logs a traceback for each, which is how
the log once grew by 63 MB in 32 s; its message is rate-limited too, for servers that still use
it, such as aiohttp's web app.)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import ssl
import stat
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from wyoming.error import Error
from wyoming.event import Event
from wyoming.ping import Ping, Pong

from .tls import HANDSHAKE_TIMEOUT_S, PinMismatch, check_pin, client_context
from .wire import DEFAULT_LIMITS, ProtocolError, WireLimits, encode_event, read_event, write_event

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``tcp://host:port``, ``tls://host:port`` (TCP with TLS, :mod:`.tls`) or ``unix://path``."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""

    @staticmethod
    def parse(uri: str) -> Endpoint:
        parsed = urlparse(uri)
        if parsed.scheme in ("tcp", "tls"):
            if parsed.hostname is None or parsed.port is None:
                raise ValueError(f"{parsed.scheme} URI needs a host and a port: {uri!r}")
            return Endpoint(parsed.scheme, host=parsed.hostname, port=parsed.port)
        if parsed.scheme == "unix":
            return Endpoint("unix", path=parsed.path)
        raise ValueError(f"only tcp://, tls:// and unix:// URIs are supported, got {uri!r}")

    @property
    def tls(self) -> bool:
        return self.scheme == "tls"

    def uri(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class ConnectionLimits:
    """How many connections a server holds and how long a peer may hold one (seconds)."""

    max_per_address: int = 32
    """Unauthenticated connections from one peer address (IP; all Unix-socket peers are one)."""
    max_total: int = 256
    """Connections in all."""
    reserved: int = 32
    """Of ``max_total``, slots unauthenticated peers only get on probation: a peer that takes one
    must authenticate within ``probation_s`` or it is closed. So a flood of anonymous connections
    never leaves an authenticated satellite without a slot."""
    probation_s: float = 5.0
    frame_deadline_s: float | None = 30.0
    """A frame must be complete this long after its first byte (slowloris), or the connection closes."""
    idle_timeout_s: float | None = None
    """Close a connection that starts no frame for this long (None: never)."""

    def __post_init__(self) -> None:
        if self.max_per_address < 1 or self.max_total < 1:
            raise ValueError("connection caps must be at least 1")
        if not 0 <= self.reserved < self.max_total:
            raise ValueError("reserved must be at least 0 and less than max_total")


DEFAULT_CONNECTION_LIMITS = ConnectionLimits()

TOO_MANY_CONNECTIONS = "too-many-connections"


class RateLimitedLog:
    """Log a repeated message at most ``burst`` times per ``interval_s``, saying how many were held back."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0, burst: int = 1) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.burst = max(1, burst)
        self._window_start: float | None = None
        self._logged = 0
        self._held = 0

    def __call__(self, level: int, msg: str, *args: object) -> None:
        now = time.monotonic()
        start = self._window_start
        if start is None or now - start >= self.interval_s:
            if self._held and start is not None:
                msg += f" (and {self._held} more like it in the last {now - start:.0f} s)"
            self._window_start, self._logged, self._held = now, 0, 0
        if self._logged >= self.burst:
            self._held += 1
            return
        self._logged += 1
        self.logger.log(level, msg, *args)


#: A hostile client opens connection after connection, each with a bad frame: per server, 20 lines
#: per 10 s at most, then one that says how many were held back (the soak bench saw ~1,000 a minute).
BAD_CLIENT_LOG_BURST = 20


class RateLimitFilter(logging.Filter):
    """A logging filter: records whose message starts with ``prefix`` pass once per ``interval_s``."""

    def __init__(self, prefix: str | tuple[str, ...], interval_s: float = 60.0) -> None:
        super().__init__()
        self.prefix = prefix
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._last: float | None = None
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(self.prefix):
            return True
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self.interval_s:
                self._held += 1
                return False
            held, self._held = self._held, 0
            since = 0.0 if self._last is None else now - self._last
            self._last = now
        if held:
            first, sep, rest = message.partition("\n")
            record.msg = f"{first} ({held} more like it in the last {since:.0f} s){sep}{rest}"
            record.args = ()
        return True


ACCEPT_ERROR_PREFIX = "socket.accept() out of system resource"
#: Longest wait between accept attempts while out of file descriptors (seconds).
ACCEPT_BACKOFF_MAX_S = 1.0
_ACCEPT_BACKOFF_MIN_S = 0.05
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_LISTEN_BACKLOG = 128
_accept_filter_lock = threading.Lock()
_accept_filter: RateLimitFilter | None = None


def limit_accept_error_logs(interval_s: float = 60.0) -> RateLimitFilter:
    """Install (once per process) the filter that rate-limits asyncio's accept-error log line.

    When the process runs out of file descriptors, asyncio stops accepting on that socket for a
    second and tries again, logging an error with a traceback each time, for every server in the
    process (the web app's too). Returns the installed filter.
    """
    global _accept_filter
    with _accept_filter_lock:
        if _accept_filter is None:
            # (The second: after a server closes, its accept retries scheduled while out of
            # descriptors still fire, one traceback each.)
            _accept_filter = RateLimitFilter(
                (ACCEPT_ERROR_PREFIX, "Exception in callback BaseSelectorEventLoop._start_serving"),
                interval_s,
            )
            logging.getLogger("asyncio").addFilter(_accept_filter)
        return _accept_filter


def _peer_address(writer: asyncio.StreamWriter) -> str:
    """The peer's address without its port: what the per-address cap counts."""
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "local"


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "local")


class ServiceHandler(ABC):
    """Handles one connection. Subclasses implement :meth:`handle_event`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: WireLimits = DEFAULT_LIMITS,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.limits = limits
        self.peer = _peer_name(writer)
        self._write_lock = asyncio.Lock()
        self.frame_deadline_s: float | None = DEFAULT_CONNECTION_LIMITS.frame_deadline_s
        """Set by the server from its :class:`ConnectionLimits`."""
        self.idle_timeout_s: float | None = DEFAULT_CONNECTION_LIMITS.idle_timeout_s
        self._peer_authenticated = False
        self._on_authenticated: Callable[[], None] | None = None
        self.bad_client_log = RateLimitedLog(_LOGGER, interval_s=10.0, burst=BAD_CLIENT_LOG_BURST)
        """Where malformed frames and unsupported events are logged; the server shares one for all
        its connections, so a flood of bad connections cannot flood the log."""

    @abstractmethod
    async def handle_event(self, event: Event) -> bool:
        """Handle one event; return False to close the connection."""

    async def disconnect(self) -> None:
        """Called once when the connection ends, however it ends."""

    @property
    def peer_authenticated(self) -> bool:
        """Whether :meth:`mark_authenticated` was called on this connection."""
        return self._peer_authenticated

    def mark_authenticated(self) -> None:
        """The peer proved who it is (e.g. the hub's secret): it may keep a reserved slot.

        An authenticated connection no longer counts toward its address's cap, and is not closed
        when its probation (a reserved slot taken while the server was full) runs out.
        """
        if self._peer_authenticated:
            return
        self._peer_authenticated = True
        if self._on_authenticated is not None:
            self._on_authenticated()

    async def write_event(self, event: Event) -> None:
        """Send an event; safe to call from several tasks of this handler."""
        async with self._write_lock:
            await write_event(event, self.writer)

    async def write_error(self, text: str, code: str | None = None) -> None:
        """Send a Wyoming ``error``; a peer that already left is not an error of ours."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.write_event(Error(text=text, code=code).event())

    async def unsupported(self, event: Event) -> bool:
        """Answer an event type this service does not handle; the connection stays usable."""
        self.bad_client_log(logging.WARNING, "%s sent unsupported event %r", self.peer, event.type)
        await self.write_error(f"unsupported event type: {event.type}", "unsupported-event")
        return True

    async def run(self) -> None:
        """Read events until EOF, a malformed frame, or handle_event returning False."""
        try:
            while True:
                try:
                    event = await read_event(
                        self.reader,
                        self.limits,
                        frame_deadline_s=self.frame_deadline_s,
                        idle_timeout_s=self.idle_timeout_s,
                    )
                except ProtocolError as err:
                    self.bad_client_log(
                        logging.WARNING, "%s: malformed frame (%s): %s", self.peer, err.code, err
                    )
                    await self.write_error(err.message, err.code)
                    break
                if event is None:
                    break
                if Ping.is_type(event.type):
                    await self.write_event(Pong(text=Ping.from_event(event).text).event())
                    continue
                if not await self.handle_event(event):
                    break
        except ConnectionError as err:
            _LOGGER.debug("%s: connection lost: %s", self.peer, err)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # one client's failure must not touch the others
            _LOGGER.exception("%s: handler failed", self.peer)
            await self.write_error(f"internal error: {err}", "internal")
        finally:
            try:
                await self.disconnect()
            finally:
                self.writer.close()
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.writer.wait_closed()


HandlerFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter], ServiceHandler]


class WyomingServer:
    """A TCP or Unix-socket Wyoming server. ``async with`` starts and stops it."""

    def __init__(
        self,
        uri: str,
        handler_factory: HandlerFactory,
        limits: WireLimits = DEFAULT_LIMITS,
        connection_limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = Endpoint.parse(uri)
        if self.endpoint.tls != (ssl_context is not None):
            raise ValueError(f"{uri}: a tls:// server needs a certificate, and only a tls:// one takes it")
        self.ssl_context = ssl_context
        self.handler_factory = handler_factory
        self.limits = limits
        self.connection_limits = connection_limits
        self._sockets: list[socket.socket] = []
        self._acceptors: set[asyncio.Task[None]] = set()
        self._stopped: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        """Connection tasks (and their openers and probation closers)."""
        self._anonymous: Counter[str] = Counter()
        """Unauthenticated connections (probation included) per peer address."""
        self._open = 0
        """Unauthenticated connections outside the reserve."""
        self._probation = 0
        """Unauthenticated connections in the reserve."""
        self._trusted = 0
        self.refused = 0
        """Connections refused for the caps since start."""
        self.accept_errors = 0
        """accept() failures for lack of resources (file descriptors) since start."""
        self._refusal_log = RateLimitedLog(_LOGGER)
        self._bad_client_log = RateLimitedLog(_LOGGER, interval_s=10.0, burst=BAD_CLIENT_LOG_BURST)
        self._accept_log = RateLimitedLog(_LOGGER, interval_s=60.0)

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if not self._sockets or self.endpoint.scheme == "unix":
            return self.endpoint.port
        return int(self._sockets[0].getsockname()[1])

    @property
    def uri(self) -> str:
        if self.endpoint.scheme == "unix":
            return self.endpoint.uri()
        return Endpoint(self.endpoint.scheme, host=self.endpoint.host, port=self.port).uri()

    @property
    def connection_count(self) -> int:
        """Connections held right now (all kinds)."""
        return self._open + self._probation + self._trusted

    def _admit(self, address: str) -> str | None:
        """Take a slot for a new connection: ``"open"``, ``"probation"``, or None (refused)."""
        caps = self.connection_limits
        if self.connection_count >= caps.max_total:
            return None
        if self._anonymous[address] >= caps.max_per_address:
            return None
        self._anonymous[address] += 1
        if self._open < caps.max_total - caps.reserved:
            self._open += 1
            return "open"
        self._probation += 1
        return "probation"

    def _refuse(self, conn: socket.socket, address: str) -> None:
        """Tell the peer why and close, on the raw socket: a flood costs no transport or task."""
        self.refused += 1
        caps = self.connection_limits
        why = (
            f"too many connections from {address} (at most {caps.max_per_address})"
            if self._anonymous[address] >= caps.max_per_address
            else f"server full ({caps.max_total} connections)"
        )
        self._refusal_log(logging.WARNING, "%s: refused a connection: %s", self.uri, why)
        with contextlib.suppress(OSError):  # a small frame fits the socket buffer; if not, so be it
            conn.send(encode_event(Error(text=why, code=TOO_MANY_CONNECTIONS).event()))
        conn.close()

    def _release(self, address: str, kind: str, trusted: bool) -> None:
        if kind == "released":
            return
        if trusted:
            self._trusted -= 1
            return
        self._anonymous[address] -= 1
        if self._anonymous[address] <= 0:
            del self._anonymous[address]
        if kind == "open":
            self._open -= 1
        else:
            self._probation -= 1

    def _end_probation(self, handler: ServiceHandler, task: asyncio.Task[Any], state: dict[str, str]) -> None:
        if state["kind"] != "probation" or task.done():
            return
        self.refused += 1
        self._refusal_log(
            logging.WARNING, "%s: closed %s: server full and it did not authenticate", self.uri, handler.peer
        )

        async def close() -> None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await handler.write_error(
                        "server full: only authenticated clients are served now", TOO_MANY_CONNECTIONS
                    )
            task.cancel()

        closer = asyncio.create_task(close(), name=f"wyoming probation {handler.peer}")
        self._tasks.add(closer)
        closer.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Bind and start accepting; calling it on a started server does nothing."""
        if self._sockets:
            return
        limit_accept_error_logs()
        self._sockets = await self._bind()
        self._stopped = asyncio.Event()
        for sock in self._sockets:
            task = asyncio.create_task(self._accept_loop(sock), name=f"wyoming accept {self.uri}")
            self._acceptors.add(task)
            task.add_done_callback(self._acceptors.discard)
        _LOGGER.info("Listening on %s", self.uri)

    async def _bind(self) -> list[socket.socket]:
        if self.endpoint.scheme == "unix":
            path = self.endpoint.path
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    os.unlink(path)  # a stale socket of an earlier run
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sockets = [sock]
            addresses: list[tuple[socket.socket, Any]] = [(sock, path)]
        else:
            infos = await asyncio.get_running_loop().getaddrinfo(
                self.endpoint.host or None,
                self.endpoint.port,
                type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE,
            )
            sockets, addresses, seen = [], [], set()
            for family, type_, proto, _, address in infos:
                if (family, address) in seen:
                    continue
                seen.add((family, address))
                sock = socket.socket(family, type_, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                addresses.append((sock, address))
        try:
            for sock, address in addresses:
                try:
                    sock.bind(address)
                except OSError as err:
                    raise OSError(
                        err.errno, f"error while attempting to bind on address {address!r}: {err.strerror}"
                    ) from err
                sock.listen(_LISTEN_BACKLOG)
                sock.setblocking(False)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        return sockets

    async def _accept_loop(self, sock: socket.socket) -> None:
        """Accept connections; while out of file descriptors, wait (doubling) instead of spinning."""
        loop = asyncio.get_running_loop()
        backoff = 0.0
        failed = 0
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as err:
                if err.errno in _OUT_OF_RESOURCES:
                    backoff = min(max(2 * backoff, _ACCEPT_BACKOFF_MIN_S), ACCEPT_BACKOFF_MAX_S)
                    failed += 1
                    self.accept_errors += 1
                    self._accept_log(
                        logging.ERROR,
                        "%s: cannot accept connections (%s); retrying, at most %.0f s apart",
                        self.uri,
                        err.strerror or err,
                        ACCEPT_BACKOFF_MAX_S,
                    )
                    await asyncio.sleep(backoff)
                    continue
                if err.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR, errno.EAGAIN):
                    continue  # the peer gave up before we accepted
                raise
            if failed:
                _LOGGER.warning("%s: accepting connections again after %d failed attempts", self.uri, failed)
                backoff, failed = 0.0, 0
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        try:
            peer = conn.getpeername()
        except OSError:  # already gone
            conn.close()
            return
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
        kind = self._admit(address)
        if kind is None:
            self._refuse(conn, address)
            return
        task = asyncio.create_task(self._serve(conn, address, kind), name=f"wyoming {address}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket, address: str, kind: str) -> None:
        """One connection, in its own task (which stop() cancels and awaits); frees its slot at the end."""
        state = {"kind": kind}
        probation: asyncio.TimerHandle | None = None
        try:
            limit = self.limits.max_header_bytes
            if self.endpoint.scheme == "unix":
                reader, writer = await asyncio.open_unix_connection(sock=conn, limit=limit)
            elif self.ssl_context is not None:
                reader, writer = await self._tls_streams(conn, limit)
            else:
                reader, writer = await asyncio.open_connection(sock=conn, limit=limit)
            try:
                handler = self.handler_factory(reader, writer)
            except BaseException:
                writer.close()
                raise
            handler.frame_deadline_s = self.connection_limits.frame_deadline_s
            handler.bad_client_log = self._bad_client_log
            handler.idle_timeout_s = self.connection_limits.idle_timeout_s

            def authenticated() -> None:
                if state["kind"] in ("open", "probation"):
                    self._release(address, state["kind"], trusted=False)
                    self._trusted += 1
                    state["kind"] = "trusted"

            handler._on_authenticated = authenticated
            if handler.peer_authenticated:  # the factory authenticated it already
                authenticated()
            task = asyncio.current_task()
            if kind == "probation" and task is not None:
                probation = asyncio.get_running_loop().call_later(
                    self.connection_limits.probation_s, self._end_probation, handler, task, state
                )
            await handler.run()
        except OSError as err:  # also ssl.SSLError and TimeoutError: a plain-TCP client, a slow handshake
            _LOGGER.debug("%s: connection from %s failed: %s", self.uri, address, err)
            conn.close()
        finally:
            if probation is not None:
                probation.cancel()
            self._release(address, state["kind"], trusted=state["kind"] == "trusted")
            state["kind"] = "released"

    async def _tls_streams(
        self, conn: socket.socket, limit: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Server-side TLS on an accepted socket; the handshake has its own deadline."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol,
            sock=conn,
            ssl=self.ssl_context,
            ssl_handshake_timeout=min(
                HANDSHAKE_TIMEOUT_S, self.connection_limits.frame_deadline_s or HANDSHAKE_TIMEOUT_S
            ),
        )
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def serve_forever(self) -> None:
        if not self._sockets:
            await self.start()
        assert self._stopped is not None
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop accepting, cancel every connection and wait for each to finish."""
        acceptors = list(self._acceptors)
        for task in acceptors:
            task.cancel()
        if acceptors:
            await asyncio.gather(*acceptors, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._stopped is not None:
            self._stopped.set()

    async def __aenter__(self) -> WyomingServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class Connection:
    """A client connection to a Wyoming service, with the same wire limits as the servers."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: WireLimits = DEFAULT_LIMITS,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.limits = limits

    @classmethod
    async def open(
        cls,
        uri: str,
        timeout: float = 5.0,
        limits: WireLimits = DEFAULT_LIMITS,
        fingerprint: str | None = None,
    ) -> Connection:
        """Connect to ``uri``. A ``tls://`` one needs the server certificate's ``fingerprint``
        (:mod:`.tls`): a different certificate raises :class:`~.tls.PinMismatch` before anything is
        written. A pin with a plain ``tcp://`` URI is refused too (it would protect nothing)."""
        endpoint = Endpoint.parse(uri)
        if fingerprint is not None and not endpoint.tls:
            raise ValueError(
                f"a certificate fingerprint is pinned but {uri} is not tls://: refusing plain TCP"
            )
        if endpoint.tls and fingerprint is None:
            raise ValueError(f"{uri} is tls:// but no certificate fingerprint is pinned (--hub-fingerprint)")
        if endpoint.scheme == "unix":
            coro = asyncio.open_unix_connection(endpoint.path, limit=limits.max_header_bytes)
        elif endpoint.tls:
            coro = asyncio.open_connection(
                endpoint.host,
                endpoint.port,
                limit=limits.max_header_bytes,
                ssl=client_context(),
                server_hostname="",  # no host name check: the pin replaces it
                ssl_handshake_timeout=timeout,
            )
        else:
            coro = asyncio.open_connection(endpoint.host, endpoint.port, limit=limits.max_header_bytes)
        reader, writer = await asyncio.wait_for(coro, timeout)
        if endpoint.tls:
            assert fingerprint is not None
            try:
                check_pin(writer.get_extra_info("ssl_object"), fingerprint)
            except PinMismatch:
                writer.close()
                raise
        return cls(reader, writer, limits)

    async def write_event(self, event: Event) -> None:
        await write_event(event, self.writer)

    async def read_event(self, timeout: float | None = None) -> Event | None:
        """Next event, None at EOF; raises TimeoutError after ``timeout`` seconds."""
        if timeout is None:
            return await read_event(self.reader, self.limits)
        async with asyncio.timeout(timeout):
            return await read_event(self.reader, self.limits)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.writer.wait_closed()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@contextlib.contextmanager
def stop_signal() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM (Ctrl-C, ``docker stop``, systemd) while the block runs.

    Every long-running command waits on it, then stops its servers (cancelling and awaiting their
    connections) and withdraws its zeroconf advertisements.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # e.g. not the main thread
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
