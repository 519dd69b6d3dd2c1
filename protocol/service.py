"""The base every Jarvis Wyoming server and client uses.

- :class:`ServiceHandler`: one per connection (like ``wyoming.server.AsyncEventHandler``), but it
  reads frames through :func:`jarvis.protocol.wire.read_event`, answers a malformed frame with an
  ``error`` event and closes that one connection, answers ``ping`` with ``pong``, and never lets
  one client's failure touch another.
- :class:`WyomingServer`: binds ``tcp://host:port`` (port 0 = any free port) or ``unix://path``,
  serves handlers concurrently, and on :meth:`stop` cancels *and awaits* every connection task.
- :class:`Connection`: the client side, with the same limits, used by the hub, tests and benches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

from wyoming.error import Error
from wyoming.event import Event
from wyoming.ping import Ping, Pong

from .wire import DEFAULT_LIMITS, ProtocolError, WireLimits, read_event, write_event

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``tcp://host:port`` or ``unix://path`` URI."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""

    @staticmethod
    def parse(uri: str) -> Endpoint:
        parsed = urlparse(uri)
        if parsed.scheme == "tcp":
            if parsed.hostname is None or parsed.port is None:
                raise ValueError(f"tcp URI needs a host and a port: {uri!r}")
            return Endpoint("tcp", host=parsed.hostname, port=parsed.port)
        if parsed.scheme == "unix":
            return Endpoint("unix", path=parsed.path)
        raise ValueError(f"only tcp:// and unix:// URIs are supported, got {uri!r}")

    def uri(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


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

    @abstractmethod
    async def handle_event(self, event: Event) -> bool:
        """Handle one event; return False to close the connection."""

    async def disconnect(self) -> None:
        """Called once when the connection ends, however it ends."""

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
        _LOGGER.warning("%s sent unsupported event %r", self.peer, event.type)
        await self.write_error(f"unsupported event type: {event.type}", "unsupported-event")
        return True

    async def run(self) -> None:
        """Read events until EOF, a malformed frame, or handle_event returning False."""
        try:
            while True:
                try:
                    event = await read_event(self.reader, self.limits)
                except ProtocolError as err:
                    _LOGGER.warning("%s: malformed frame (%s): %s", self.peer, err.code, err)
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
        self, uri: str, handler_factory: HandlerFactory, limits: WireLimits = DEFAULT_LIMITS
    ) -> None:
        self.endpoint = Endpoint.parse(uri)
        self.handler_factory = handler_factory
        self.limits = limits
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._server is None or not self._server.sockets:
            return self.endpoint.port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def uri(self) -> str:
        if self.endpoint.scheme == "unix":
            return self.endpoint.uri()
        return Endpoint("tcp", host=self.endpoint.host, port=self.port).uri()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The handler runs in a task of our own, not in asyncio's connection-callback task: stop()
        # cancels and awaits these, and asyncio would log a cancelled callback task as an error.
        handler = self.handler_factory(reader, writer)
        task = asyncio.create_task(handler.run(), name=f"wyoming {handler.peer}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Bind and start accepting; calling it on a started server does nothing."""
        if self._server is not None:
            return
        limit = self.limits.max_header_bytes
        if self.endpoint.scheme == "unix":
            self._server = await asyncio.start_unix_server(
                self._on_connect, path=self.endpoint.path, limit=limit
            )
        else:
            self._server = await asyncio.start_server(
                self._on_connect, host=self.endpoint.host, port=self.endpoint.port, limit=limit
            )
        _LOGGER.info("Listening on %s", self.uri)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def stop(self) -> None:
        """Stop accepting, cancel every connection and wait for each to finish."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)
            self._server = None

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
        cls, uri: str, timeout: float = 5.0, limits: WireLimits = DEFAULT_LIMITS
    ) -> Connection:
        endpoint = Endpoint.parse(uri)
        if endpoint.scheme == "unix":
            coro = asyncio.open_unix_connection(endpoint.path, limit=limits.max_header_bytes)
        else:
            coro = asyncio.open_connection(
                endpoint.host, endpoint.port, limit=limits.max_header_bytes
            )
        reader, writer = await asyncio.wait_for(coro, timeout)
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
