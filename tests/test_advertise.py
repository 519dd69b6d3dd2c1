"""`jarvis advertise` (the Docker stack's host-network announcer) on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from jarvis.protocol.advertise import advertise_until_stopped, parse_service
from jarvis.protocol.discovery import HUB_TYPE, WYOMING_TYPE, browse


def test_parse_service() -> None:
    spec = parse_service("jarvis-hub=_jarvis._tcp:10600")
    assert (spec.name, spec.service_type, spec.port) == ("jarvis-hub", HUB_TYPE, 10600)
    for bad in ("hub", "hub=_jarvis._tcp", "hub=jarvis:10600", "hub=_jarvis._tcp:70000"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_service(bad)


async def test_announces_with_a_reachable_address_and_withdraws_on_stop() -> None:
    stop = asyncio.Event()
    specs = [parse_service("test-hub=_jarvis._tcp:10600"), parse_service("test-stt=_wyoming._tcp:10300")]
    task = asyncio.create_task(advertise_until_stopped(specs, "0.0.0.0", ["127.0.0.1"], stop))
    try:
        async with asyncio.timeout(20):
            hubs: list = []
            while not any(h.name == "test-hub" for h in hubs):
                hubs = await browse(HUB_TYPE, timeout=1.0, interfaces=["127.0.0.1"])
        hub = next(h for h in hubs if h.name == "test-hub")
        assert hub.port == 10600 and hub.host not in ("0.0.0.0", "::", "")
        wyoming = await browse(WYOMING_TYPE, timeout=1.5, interfaces=["127.0.0.1"])
        assert any(s.name == "test-stt" and s.port == 10300 for s in wyoming)
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
    async with asyncio.timeout(20):
        while any(h.name == "test-hub" for h in await browse(HUB_TYPE, 1.0, ["127.0.0.1"])):
            pass
