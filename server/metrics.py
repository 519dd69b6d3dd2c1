"""The hub's Prometheus metrics, with ``prometheus-client``, served by aiohttp.

:data:`REGISTRY` is Jarvis's own :class:`prometheus_client.CollectorRegistry` (not the library's global
default), so a test or another library in the same process cannot collide with it, and a test can make
a fresh :class:`Registry` of its own. The metric objects are prometheus-client's:

    TURNS = REGISTRY.counter("jarvis_turns_total", "Voice turns", ("result",))
    TURNS.labels(result="ok").inc()
    REGISTRY.histogram("jarvis_turn_stage_seconds", "…", ("stage",)).labels(stage="stt").observe(0.31)

``/metrics`` is served by :func:`metrics_app` on ``--metrics-port`` (:class:`MetricsServer`); the web
app mounts the same :func:`metrics_handler`. The body is the Prometheus text format 0.0.4, without the
``*_created`` series prometheus-client adds to counters and histograms (Jarvis never served them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from aiohttp import web

_LOGGER = logging.getLogger(__name__)

#: Seconds; fits stage latencies from a few ms to a long LLM answer.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
)  # fmt: skip

#: What ``generate_latest`` writes (prometheus-client >= 0.26 calls 1.0.0 "latest"; the body is 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Metric types whose ``<name>_created`` sample prometheus-client adds.
_WITH_CREATED = frozenset({"counter", "histogram", "summary"})


class Registry(CollectorRegistry):
    """A prometheus-client registry with shorthands that register into it (buckets: Jarvis's).

    Registering a name twice raises ``ValueError`` (prometheus-client's "Duplicated timeseries").
    """

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, tuple(labels), registry=self)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, tuple(labels), registry=self)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        return Histogram(name, documentation, tuple(labels), registry=self, buckets=tuple(buckets))


class _WithoutCreated(Collector):
    """A view of a registry without the ``*_created`` samples, for an unchanged scrape.

    prometheus-client's own switch (``disable_created_metrics``) is process-wide; this is not.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            if family.type in _WITH_CREATED:
                created = family.name + "_created"
                family.samples = [s for s in family.samples if s.name != created]
            yield family


#: The process-wide registry the hub records into.
REGISTRY = Registry()


def render(registry: CollectorRegistry = REGISTRY) -> str:
    """The text exposition of ``registry`` (format 0.0.4, no ``_created`` series)."""
    return generate_latest(_WithoutCreated(registry)).decode("utf-8")


def metrics_handler(registry: CollectorRegistry = REGISTRY):  # type: ignore[no-untyped-def]
    """An aiohttp handler serving ``registry`` (mount it at ``/metrics`` on any app)."""
    from aiohttp import web

    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=render(registry).encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})

    return handle


def metrics_app(registry: CollectorRegistry = REGISTRY):  # type: ignore[no-untyped-def]
    """A ``web.Application`` with ``GET /metrics``."""
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(registry))
    return app


class MetricsServer:
    """``/metrics`` on its own port (``--metrics-port``); port 0 = any free port."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
        self.host = host
        self.requested_port = port
        self.registry = registry
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        from aiohttp import web

        runner = web.AppRunner(metrics_app(self.registry), access_log=None)
        self._runner = runner
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        _LOGGER.info("Metrics at http://%s:%s/metrics", self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
