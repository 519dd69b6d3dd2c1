"""Zeroconf advertise/browse over real mDNS on the loopback interface."""

from __future__ import annotations

import ipaddress
import uuid

from wyoming.event import Event

from jarvis.protocol import discovery
from jarvis.protocol.discovery import HUB_TYPE, WYOMING_TYPE, Advertiser, ServiceEndpoint, browse
from jarvis.protocol.service import ServiceHandler, WyomingServer

LOOPBACK = ["127.0.0.1"]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _find(service_type: str, names: set[str], attempts: int = 4) -> dict[str, ServiceEndpoint]:
    """Browse (1.5 s windows, a bounded number of times) until every name in ``names`` is seen."""
    found: dict[str, ServiceEndpoint] = {}
    for _ in range(attempts):
        for service in await browse(service_type, 1.5, interfaces=LOOPBACK):
            if service.name in names:
                found[service.name] = service
        if set(found) == names:
            break
    return found


async def test_advertise_then_browse_finds_address_port_properties() -> None:
    name = _unique("jarvis-stt-test")
    async with Advertiser(LOOPBACK) as advertiser:
        ad = await advertiser.advertise(name, WYOMING_TYPE, 10300, host="127.0.0.1", properties={"v": "1"})
        assert ad.name == name and ad.address == "127.0.0.1"
        found = await _find(WYOMING_TYPE, {name})
    assert set(found) == {name}
    service = found[name]
    assert (service.host, service.port, service.properties) == ("127.0.0.1", 10300, {"v": "1"})
    assert service.uri == "tcp://127.0.0.1:10300"
    assert service.server == f"{discovery.hostname()}.local."


async def test_wildcard_bind_is_never_advertised() -> None:
    for wildcard in ("0.0.0.0", "::", ""):
        address = discovery.advertised_address(wildcard)
        parsed = ipaddress.ip_address(address)
        assert not parsed.is_unspecified and parsed.version == 4
    assert discovery.advertised_address("localhost") == "127.0.0.1"
    assert discovery.advertised_address("127.0.0.1") == "127.0.0.1"
    assert discovery.advertised_address("192.0.2.7") == "192.0.2.7"

    name = _unique("jarvis-brain-test")
    async with Advertiser(LOOPBACK) as advertiser:
        await advertiser.advertise(name, WYOMING_TYPE, 10500, host="0.0.0.0")
        found = await _find(WYOMING_TYPE, {name})
    assert set(found) == {name}
    assert found[name].host == discovery.primary_ipv4() != "0.0.0.0"


async def test_close_unregisters_everything() -> None:
    names = [_unique("jarvis-hub-test"), _unique("jarvis-hub-test")]
    advertiser = Advertiser(LOOPBACK)
    for port, name in enumerate(names, start=10600):
        await advertiser.advertise(name, HUB_TYPE, port, host="127.0.0.1")
    assert set(await _find(HUB_TYPE, set(names))) == set(names)
    await advertiser.close()
    assert advertiser.advertisements == []
    seen = {s.name for s in await browse(HUB_TYPE, 1.0, interfaces=LOOPBACK)}
    assert not set(names) & seen


async def test_browse_times_out_empty_for_unknown_type() -> None:
    assert await browse(f"_{uuid.uuid4().hex[:10]}._tcp.local.", 0.5, interfaces=LOOPBACK) == []


class _Nothing(ServiceHandler):
    async def handle_event(self, event: Event) -> bool:
        return await self.unsupported(event)


async def test_advertise_wyoming_server_for_its_lifetime() -> None:
    name = _unique("jarvis-tts-test")
    server = WyomingServer("tcp://127.0.0.1:0", _Nothing)
    await server.start()
    try:
        async with discovery.advertise_wyoming(name, server, interfaces=LOOPBACK) as ad:
            assert ad.port == server.port
            found = await _find(WYOMING_TYPE, {name})
            assert [(s.host, s.port) for s in found.values()] == [("127.0.0.1", server.port)]
        # Leaving the block withdrew it and closed the shared advertiser.
        assert discovery.shared_advertiser(LOOPBACK).advertisements == []
        found = [s for s in await browse(WYOMING_TYPE, 1.0, interfaces=LOOPBACK) if s.name == name]
        assert found == []
    finally:
        await server.stop()


def test_instance_names_are_stable_and_dns_safe() -> None:
    assert discovery.instance_name("stt") == discovery.instance_name("stt")
    assert discovery.instance_name("stt").startswith("jarvis-stt-")
    assert all(c.isalnum() or c == "-" for c in discovery.instance_name("stt"))
