"""The hub's Prometheus metrics (server/metrics.py, prometheus-client): what a scraper parses.

Every body is read back with prometheus-client's own parser, so a test fails on a malformed line as
well as on a wrong value.
"""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from jarvis.server.hub import hub, pipeline, services
from jarvis.server.metrics import CONTENT_TYPE, DEFAULT_BUCKETS, REGISTRY, MetricsServer, Registry, render


def families(text: str) -> dict[str, tuple[str, str, list[Sample]]]:
    """name -> (type, help, samples), as a scraper reads them."""
    return {f.name: (f.type, f.documentation, list(f.samples)) for f in text_string_to_metric_families(text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_counter_gauge_histogram_parse_back_with_their_values() -> None:
    registry = Registry()
    turns = registry.counter("jarvis_turns_total", "Voice turns", ("result",))
    turns.labels(result="ok").inc()
    turns.labels(result="ok").inc(2)
    turns.labels(result='we"ird\n\\').inc()
    registry.gauge("jarvis_hub_sessions", "Satellites").set(3)
    hist = registry.histogram("jarvis_stage_seconds", "Stage times", ("stage",), buckets=(0.1, 0.5, 1.0))
    for v in (0.05, 0.3, 0.3, 2.0):
        hist.labels(stage="stt").observe(v)
    text = render(registry)
    assert text.endswith("\n")
    assert "# TYPE jarvis_turns_total counter\n" in text  # the name scrapers have always seen
    parsed = families(text)
    assert set(parsed) == {"jarvis_turns", "jarvis_hub_sessions", "jarvis_stage_seconds"}

    kind, help_, samples = parsed["jarvis_turns"]
    assert (kind, help_) == ("counter", "Voice turns")
    assert value(samples, "jarvis_turns_total", result="ok") == 3
    assert value(samples, "jarvis_turns_total", result='we"ird\n\\') == 1  # escaped and read back
    assert len(samples) == 2  # no *_created series

    kind, _, samples = parsed["jarvis_hub_sessions"]
    assert kind == "gauge" and samples == [Sample("jarvis_hub_sessions", {}, 3.0)]

    kind, _, samples = parsed["jarvis_stage_seconds"]
    assert kind == "histogram"
    buckets = {s.labels["le"]: s.value for s in samples if s.name == "jarvis_stage_seconds_bucket"}
    assert buckets == {"0.1": 1, "0.5": 3, "1.0": 3, "+Inf": 4}  # cumulative
    assert value(samples, "jarvis_stage_seconds_sum", stage="stt") == pytest.approx(2.65)
    assert value(samples, "jarvis_stage_seconds_count", stage="stt") == 4
    assert not [s for s in samples if s.name.endswith("_created")]


def test_misuse_is_refused() -> None:
    registry = Registry()
    counter = registry.counter("c_total", "c", ("x",))
    with pytest.raises(ValueError, match="Duplicated"):
        registry.gauge("c_total", "c", ("x",))
    with pytest.raises(ValueError):
        counter.labels(y="1")
    with pytest.raises(ValueError):
        counter.labels(x="1").inc(-1)
    with pytest.raises(ValueError):
        registry.histogram("h", "h", buckets=(1.0, 0.5))


def test_the_hub_registers_every_documented_series_with_its_labels() -> None:
    """The names, types, help and labels of docs/hub.md, in Jarvis's own registry (not the library's).

    Read from the hub's metric objects, without recording into them (other tests scrape the hub).
    """
    import prometheus_client

    expected = {
        "jarvis_turns_total": (pipeline._TURNS, "counter", ("result",)),
        "jarvis_turn_stage_seconds": (pipeline._STAGE_SECONDS, "histogram", ("stage",)),
        "jarvis_hub_sessions": (hub._SESSIONS, "gauge", ()),
        "jarvis_service_up": (services._UP, "gauge", ("kind", "uri")),
        "jarvis_service_in_flight": (services._IN_FLIGHT, "gauge", ("kind", "uri")),
        "jarvis_service_requests_total": (services._REQUESTS, "counter", ("kind", "uri")),
        "jarvis_service_failures_total": (services._FAILURES, "counter", ("kind", "uri")),
    }
    text = render(REGISTRY)
    parsed = families(text)
    for name, (metric, kind, labels) in expected.items():
        assert f"# TYPE {name} {kind}\n" in text, name
        family = name.removesuffix("_total")
        assert parsed[family][0] == kind and parsed[family][1], name
        assert metric._labelnames == labels, name
    assert pipeline._STAGE_SECONDS._upper_bounds == [*DEFAULT_BUCKETS, float("inf")]
    assert (
        parsed["jarvis_hub_sessions"][2][0].name == "jarvis_hub_sessions"
    )  # an unlabelled gauge: one sample
    assert not set(parsed) & {f.name for f in prometheus_client.REGISTRY.collect()}


async def test_metrics_server_serves_the_registry_over_http() -> None:
    registry = Registry()
    registry.counter("jarvis_turns_total", "Voice turns", ("result",)).labels(result="ok").inc(5)
    server = MetricsServer("127.0.0.1", 0, registry)
    await server.start()
    try:
        assert server.port != 0
        async with aiohttp.ClientSession() as http, http.get(server.url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == CONTENT_TYPE
            body = await response.text()
    finally:
        await server.stop()
    samples = families(body)["jarvis_turns"][2]
    assert value(samples, "jarvis_turns_total", result="ok") == 5
