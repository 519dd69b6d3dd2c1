"""Issue 15 §3, "bad input and faults": each attack, automated, with a clear error and nothing lost.

Real components only: the brain's SQLite store in a per-test data dir, the web app through
``start_web`` (TLS, port 0) as in ``test_web_api.py``, the brain's own fast paths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from jarvis.server.web.__main__ import WebServer, start_web

TOKEN = "faults-test-token-0123456789abcdef"
NO_HUB = "tcp://127.0.0.1:9"


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        connector=aiohttp.TCPConnector(ssl=False),
        timeout=aiohttp.ClientTimeout(total=10),
    )


async def login(session: aiohttp.ClientSession, server: WebServer, user: str = "alice") -> None:
    async with session.post(server.url + "api/login", json={"token": TOKEN, "user": user}) as resp:
        assert resp.status == 200, await resp.text()


@pytest.fixture
async def web_server(_isolated_data_dir: Path) -> AsyncIterator[WebServer]:
    server = await start_web(token=TOKEN, hub_uri=NO_HUB, port=0, data_dir=_isolated_data_dir)
    try:
        yield server
    finally:
        await server.stop()


# -- nested JSON: 400 with a clear message, never a 500 with a traceback ----------------------------

DEEP_ARRAY = "[" * 30_000 + "]" * 30_000  # 60 kB: under the 64 KiB body limit
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
async def test_nested_json_on_login_is_a_400_unauthenticated(web_server: WebServer, body: str) -> None:
    async with (
        client() as session,
        session.post(
            web_server.url + "api/login", data=body, headers={"Content-Type": "application/json"}
        ) as resp,
    ):
        assert resp.status == 400
        reply = await resp.json()
    assert reply["error"] == "bad-request"
    assert "nested too deeply" in reply["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "api/memory/profile"),
        ("PUT", "api/memory/dynamic"),
        ("POST", "api/memory/facts"),
        ("POST", "api/feedback"),
    ],
)
async def test_nested_json_on_authenticated_routes_is_a_400(
    web_server: WebServer, method: str, path: str
) -> None:
    async with client() as session:
        await login(session, web_server)
        async with session.request(
            method, web_server.url + path, data=DEEP_ARRAY, headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400
            reply = await resp.json()
        assert reply == {"error": "bad-request", "message": "body is nested too deeply to be parsed"}
        # The server is fine afterwards.
        async with session.get(web_server.url + "api/memory") as resp:
            assert resp.status == 200
