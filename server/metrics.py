"""Counters, gauges and histograms rendered in the Prometheus text format (version 0.0.4).

No client library: the hub records a few series and :func:`render` writes them. ``/metrics`` is
served by :func:`metrics_app` (aiohttp) on ``--metrics-port``; the web app can mount the same handler.

    REGISTRY.counter("jarvis_turns_total", "Voice turns", ("result",)).inc(result="ok")
    REGISTRY.histogram("jarvis_turn_stage_seconds", "…", ("stage",)).observe(0.31, stage="stt")
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

_LOGGER = logging.getLogger(__name__)

#: Seconds; fits stage latencies from a few ms to a long LLM answer.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
)  # fmt: skip

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


@dataclass
class _Metric:
    name: str
    help: str
    label_names: tuple[str, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    kind = "untyped"

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def samples(self) -> Iterable[str]:
        raise NotImplementedError

    def render(self) -> str:
        head = f"# HELP {self.name} {_escape(self.help)}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


@dataclass
class _ScalarMetric(_Metric):
    """One number per label set: what a counter and a gauge share."""

    _values: dict[LabelValues, float] = field(default_factory=dict, repr=False)

    def _add(self, amount: float, labels: dict[str, str]) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield f"{self.name}{_labels(self.label_names, key)} {_format_value(value)}"


@dataclass
class Counter(_ScalarMetric):
    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self._add(amount, labels)


@dataclass
class Gauge(_ScalarMetric):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._add(amount, labels)


@dataclass
class _HistogramSeries:
    buckets: list[int]
    count: int = 0
    total: float = 0.0


@dataclass
class Histogram(_Metric):
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    _series: dict[LabelValues, _HistogramSeries] = field(default_factory=dict, repr=False)
    kind = "histogram"

    def __post_init__(self) -> None:
        if list(self.buckets) != sorted(self.buckets) or not self.buckets:
            raise ValueError("histogram buckets must be a sorted, non-empty sequence")

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _HistogramSeries([0] * len(self.buckets))
            if index < len(self.buckets):
                series.buckets[index] += 1
            series.count += 1
            series.total += value

    def count(self, **labels: str) -> int:
        series = self._series.get(self._key(labels))
        return series.count if series else 0

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted(
                (k, _HistogramSeries(list(s.buckets), s.count, s.total)) for k, s in self._series.items()
            )
        for key, series in items:
            cumulative = 0
            for bound, n in zip(self.buckets, series.buckets, strict=True):
                cumulative += n
                le = f'le="{_format_value(bound)}"'
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {cumulative}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(self.label_names, key, inf)} {series.count}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_format_value(series.total)}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {series.count}"


class Registry:
    """A named set of metrics; asking twice for the same name returns the same metric."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def _get(self, cls: type[_Metric], name: str, help_: str, labels: Sequence[str], **kw: object) -> _Metric:
        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                metric = cls(name, help_, tuple(labels), **kw)  # type: ignore[arg-type]
                self._metrics[name] = metric
            elif not isinstance(metric, cls) or metric.label_names != tuple(labels):
                raise ValueError(f"metric {name} already registered with another type or labels")
            return metric

    def counter(self, name: str, help_: str, labels: Sequence[str] = ()) -> Counter:
        metric = self._get(Counter, name, help_, labels)
        assert isinstance(metric, Counter)
        return metric

    def gauge(self, name: str, help_: str, labels: Sequence[str] = ()) -> Gauge:
        metric = self._get(Gauge, name, help_, labels)
        assert isinstance(metric, Gauge)
        return metric

    def histogram(
        self, name: str, help_: str, labels: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> Histogram:
        metric = self._get(Histogram, name, help_, labels, buckets=tuple(buckets))
        assert isinstance(metric, Histogram)
        return metric

    def render(self) -> str:
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        return "".join(m.render() for m in metrics)


#: The process-wide registry the hub records into.
REGISTRY = Registry()


def render(registry: Registry = REGISTRY) -> str:
    return registry.render()


def metrics_handler(registry: Registry = REGISTRY):  # type: ignore[no-untyped-def]
    """An aiohttp handler serving ``registry`` (mount it at ``/metrics`` on any app)."""
    from aiohttp import web

    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=registry.render().encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})

    return handle


def metrics_app(registry: Registry = REGISTRY):  # type: ignore[no-untyped-def]
    """A ``web.Application`` with ``GET /metrics``."""
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(registry))
    return app


class MetricsServer:
    """``/metrics`` on its own port (``--metrics-port``); port 0 = any free port."""

    def __init__(self, host: str, port: int, registry: Registry = REGISTRY) -> None:
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
