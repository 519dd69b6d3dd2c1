"""The web app's HTTPS API on 127.0.0.1: auth on every route, login, pairing link, memory, feedback.

Real components: the app runs through ``start_web`` (TLS with the generated self-signed certificate,
port 0), the memory is the brain's real SQLite store in the per-test data dir.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from jarvis.server.brain.memory import MemoryStore
from jarvis.server.web.__main__ import WebServer, pairing_message, start_web
from jarvis.server.web.auth import COOKIE_NAME
from jarvis.server.web.qr import qr_text

TOKEN = "web-test-token-0123456789abcdef"
# Nothing listens here: these tests do not need the hub.
NO_HUB = "tcp://127.0.0.1:9"

PROTECTED = [
    ("GET", "/api/session"),
    ("POST", "/api/logout"),
    ("GET", "/api/pairing.svg"),
    ("GET", "/api/memory"),
    ("PUT", "/api/memory/profile"),
    ("PUT", "/api/memory/dynamic"),
    ("POST", "/api/memory/facts"),
    ("DELETE", "/api/memory/facts/1"),
    ("POST", "/api/feedback"),
    ("GET", "/api/feedback"),
    ("GET", "/api/ws"),
    ("GET", "/metrics"),
]


@pytest.fixture
async def server(_isolated_data_dir: Path) -> AsyncIterator[WebServer]:
    web = await start_web(token=TOKEN, hub_uri=NO_HUB, port=0, data_dir=_isolated_data_dir)
    try:
        yield web
    finally:
        await web.stop()


def client() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies for an IP-address host; the certificate is self-signed.
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        connector=aiohttp.TCPConnector(ssl=False),
        timeout=aiohttp.ClientTimeout(total=10),
    )


async def login(session: aiohttp.ClientSession, server: WebServer, user: str | None = None) -> None:
    body = {"token": TOKEN, **({"user": user} if user else {})}
    async with session.post(server.url + "api/login", json=body) as resp:
        assert resp.status == 200, await resp.text()


# -- TLS ------------------------------------------------------------------------------------------


async def test_self_signed_certificate_made_once_with_local_names(
    server: WebServer, _isolated_data_dir: Path
) -> None:
    cert_path = _isolated_data_dir / "tls" / "cert.pem"
    key_path = _isolated_data_dir / "tls" / "key.pem"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    assert server.url.startswith("https://127.0.0.1:")

    # The server really speaks TLS with that certificate (verified against it as the only CA).
    context = ssl.create_default_context(cafile=str(cert_path))
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.url + "login", ssl=context) as resp,
    ):
        assert resp.status == 200

    # A second start reuses the certificate (a phone that trusted it keeps trusting it).
    again = await start_web(token=TOKEN, hub_uri=NO_HUB, port=0, data_dir=_isolated_data_dir)
    try:
        assert again.fingerprint == server.fingerprint
    finally:
        await again.stop()


async def test_user_certificate_is_used(server: WebServer, tmp_path: Path, _isolated_data_dir: Path) -> None:
    from jarvis.server.web.tls import generate_self_signed

    cert, key = tmp_path / "mine.pem", tmp_path / "mine.key"
    generate_self_signed(cert, key, ["jarvis.example"])
    web = await start_web(
        token=TOKEN, hub_uri=NO_HUB, port=0, data_dir=_isolated_data_dir, cert=cert, key=key
    )
    try:
        assert web.fingerprint != server.fingerprint
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        async with aiohttp.ClientSession() as session, session.get(web.url + "login", ssl=context) as resp:
            assert resp.status == 200
    finally:
        await web.stop()
    with pytest.raises(ValueError, match="cannot load certificate"):
        await start_web(token=TOKEN, hub_uri=NO_HUB, port=0, cert=key, key=cert)


# -- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_every_api_route_needs_auth(server: WebServer, method: str, path: str) -> None:
    async with client() as session, session.request(method, server.url + path.lstrip("/"), json={}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "unauthorized"


async def test_websocket_needs_auth(server: WebServer) -> None:
    async with client() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(server.url + "api/ws")
        assert refused.value.status == 401


@pytest.mark.parametrize(
    "path",
    ["/", "/static/js/main.js", "/static/js/socket.js", "/static/index.html", "/static/mic-worklet.js"],
)
async def test_pages_redirect_to_login(server: WebServer, path: str) -> None:
    async with client() as session, session.get(server.url + path.lstrip("/"), allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/login"


async def test_page_modules_are_served_as_javascript_and_all_load(server: WebServer) -> None:
    """Every module index.html reaches through its imports: 200, a JavaScript MIME type (a browser runs
    a module script only with one), revalidated on each load, under the strict CSP; and no file in
    static/js/ is left out of the graph."""
    import re

    from jarvis.server.web.app import STATIC_DIR

    import_re = re.compile(r'^import\s[^;]*?from\s+"(\./[\w-]+\.js)";', re.M)
    async with client() as session:
        await login(session, server)
        async with session.get(server.url) as resp:
            assert resp.status == 200
            page = await resp.text()
            csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        entries = re.findall(r'<script type="module" src="(/static/js/[\w-]+\.js)"></script>', page)
        assert entries == ["/static/js/main.js"]
        assert "<script>" not in page and 'src="/static/app.js"' not in page  # no inline or classic script
        seen: set[str] = set()
        todo = list(entries)
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            async with session.get(server.url + path.lstrip("/")) as resp:
                assert resp.status == 200, path
                assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8", path
                assert resp.headers["Cache-Control"] == "no-cache", path
                assert resp.headers["X-Content-Type-Options"] == "nosniff", path
                source = await resp.text()
            assert "eval(" not in source and "new Function" not in source, path  # the CSP forbids both
            todo += [path.rsplit("/", 1)[0] + "/" + name[2:] for name in import_re.findall(source)]
    on_disk = {f"/static/js/{p.name}" for p in (STATIC_DIR / "js").glob("*.js")}
    assert seen == on_disk
    assert len(seen) >= 8  # the page is split (settings, REST, socket, audio, mic, orb, log, memory)


async def test_login_page_is_public(server: WebServer) -> None:
    async with client() as session:
        async with session.get(server.url + "login") as resp:
            assert resp.status == 200
            assert "Token" in await resp.text()
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        for asset in ("static/login.js", "static/style.css", "static/favicon.svg"):
            async with session.get(server.url + asset) as resp:
                assert resp.status == 200, asset


@pytest.mark.parametrize("token", ["", "wrong-token-wrong-token-wrong", TOKEN[:-1], TOKEN + "x"])
async def test_wrong_token_is_refused(server: WebServer, token: str) -> None:
    async with client() as session:
        async with session.post(server.url + "api/login", json={"token": token}) as resp:
            assert resp.status == 401
            assert COOKIE_NAME not in resp.cookies
        async with session.get(server.url + "api/session") as resp:
            assert resp.status == 401


async def test_login_sets_a_strict_session_cookie(server: WebServer) -> None:
    async with client() as session:
        async with session.post(server.url + "api/login", json={"token": TOKEN}) as resp:
            assert resp.status == 200
            cookie = resp.cookies[COOKIE_NAME]
            assert cookie["httponly"] is True
            assert cookie["secure"] is True
            assert cookie["samesite"] == "Strict"
            assert TOKEN not in cookie.value
        async with session.get(server.url + "api/session") as resp:
            info = await resp.json()
            assert info["user_id"] == "default"
            assert info["pairing_url"].endswith(f"/?token={TOKEN}")
        async with session.get(server.url) as resp:
            assert resp.status == 200
            assert 'id="orb"' in await resp.text()
        async with session.post(server.url + "api/logout") as resp:
            assert resp.status == 200
        async with session.get(server.url + "api/session") as resp:
            assert resp.status == 401


async def test_pairing_link_logs_in_and_cleans_the_url(server: WebServer) -> None:
    async with client() as session:
        url = f"{server.url}?token={TOKEN}&user=alice"
        async with session.get(url, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == "/"
            assert resp.cookies[COOKIE_NAME]["httponly"] is True
        async with session.get(server.url + "api/session") as resp:
            assert (await resp.json())["user_id"] == "alice"
    async with client() as session:
        async with session.get(f"{server.url}?token=nope", allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == "/login?error=token"
        async with session.get(server.url + "api/session") as resp:
            assert resp.status == 401


async def test_pairing_qr_code_and_terminal_message(server: WebServer) -> None:
    async with client() as session:
        await login(session, server)
        async with session.get(server.url + "api/pairing.svg") as resp:
            assert resp.status == 200
            assert resp.content_type == "image/svg+xml"
            svg = await resp.text()
            assert svg.startswith("<svg") and "<path" in svg
    text = pairing_message(server, TOKEN)
    assert f"?token={TOKEN}" in text
    # Bound to loopback: no QR code a phone could not use, but how to make it reachable.
    assert "█" not in text and "--host 0.0.0.0" in text
    assert "█" in qr_text(f"https://192.0.2.1:8443/?token={TOKEN}")
    # Every start but the one that created the token: the URL and how to pair, never the token.
    quiet = pairing_message(server, TOKEN, show_token=False)
    assert TOKEN not in quiet and "jarvis devices pair" in quiet and server.url in quiet


def test_token_show_prints_the_stored_token(tmp_path: Path) -> None:
    import subprocess
    import sys

    def show() -> str:
        return subprocess.run(
            [sys.executable, "-m", "jarvis.protocol.cli", "token", "--data-dir", str(tmp_path), "show"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    first = show()
    token = (tmp_path / "token").read_text().strip()
    assert f"Token (new): {token}" in first and f"--token {token}" in first
    assert f"Token: {token}" in show() and f"?token={token}" in show()


async def test_metrics_with_bearer_token(server: WebServer) -> None:
    """The web app serves the hub's registry (``jarvis serve`` runs both in one process)."""
    from prometheus_client.parser import text_string_to_metric_families

    from jarvis.server.hub import hub

    hub._SESSIONS.set(3)  # registered on import (as in jarvis serve); no hub runs in this test
    async with client() as session:
        try:
            async with session.get(
                server.url + "metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as resp:
                assert resp.status == 200
                assert resp.content_type == "text/plain"
                body = await resp.text()
        finally:
            hub._SESSIONS.set(0)
        families = {f.name: f for f in text_string_to_metric_families(body)}
        assert families["jarvis_hub_sessions"].type == "gauge"
        (sample,) = families["jarvis_hub_sessions"].samples
        assert sample.value == 3
        async with session.get(server.url + "metrics", headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 401


# -- memory ---------------------------------------------------------------------------------------


async def test_memory_edit_round_trip(server: WebServer, _isolated_data_dir: Path) -> None:
    async with client() as session:
        await login(session, server, user="ann")
        async with session.get(server.url + "api/memory") as resp:
            memory = await resp.json()
            assert memory["user_id"] == "ann"
            assert memory["onboarding"]["needed"] is True
            assert memory["facts"] == []

        profile = {"name": "Ann", "age": "34", "interests": "climbing, jazz", "what_matters": "family"}
        async with session.put(server.url + "api/memory/profile", json=profile) as resp:
            assert resp.status == 200, await resp.text()
            memory = await resp.json()
            assert memory["profile"]["name"] == "Ann"
            assert memory["onboarding"] == {**memory["onboarding"], "needed": False, "state": "done"}
        async with session.put(
            server.url + "api/memory/dynamic", json={"summary": "Likes short answers."}
        ) as resp:
            assert (await resp.json())["dynamic"]["version"] == 1
        async with session.put(
            server.url + "api/memory/dynamic", json={"summary": "Likes jazz trivia."}
        ) as resp:
            assert (await resp.json())["dynamic"] == {
                **(await resp.json())["dynamic"],
                "summary": "Likes jazz trivia.",
                "version": 2,
                "versions": 2,
            }
        for fact in ("allergic to peanuts", "has a cat called Miso"):
            async with session.post(server.url + "api/memory/facts", json={"text": fact}) as resp:
                assert resp.status == 201
                memory = await resp.json()
        assert [f["fact"] for f in memory["facts"]] == ["allergic to peanuts", "has a cat called Miso"]
        peanut = memory["facts"][0]["id"]
        async with session.delete(server.url + f"api/memory/facts/{peanut}") as resp:
            assert [f["fact"] for f in (await resp.json())["facts"]] == ["has a cat called Miso"]
        async with session.delete(server.url + f"api/memory/facts/{peanut}") as resp:
            assert resp.status == 404

    # The edits are in the brain's own store (what `jarvis memory` and the prompts read).
    store = await MemoryStore.open(_isolated_data_dir / "memory.sqlite3")
    try:
        assert (await store.get_profile("ann")).interests == "climbing, jazz"
        assert await store.latest_summary("ann") == "Likes jazz trivia."
        assert len(await store.summaries("ann")) == 2  # the old version is kept
        assert [f.fact for f in await store.list_facts("ann")] == ["has a cat called Miso"]
        assert (await store.get_profile("default")).is_empty()  # other users untouched
    finally:
        await store.close()


async def test_memory_is_per_user(server: WebServer) -> None:
    async with client() as alice, client() as bob:
        await login(alice, server, user="alice")
        await login(bob, server, user="bob")
        async with alice.post(server.url + "api/memory/facts", json={"text": "alice's secret"}) as resp:
            assert resp.status == 201
        async with bob.get(server.url + "api/memory") as resp:
            assert (await resp.json())["facts"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("PUT", "api/memory/profile", {"password": "x"}, "bad-field"),
        ("PUT", "api/memory/profile", {"name": ["a"]}, "bad-field"),
        ("PUT", "api/memory/dynamic", {"summary": 3}, "bad-request"),
        ("POST", "api/memory/facts", {"text": "   "}, "bad-request"),
        ("POST", "api/feedback", {"turn_id": "t1", "rating": 5}, "bad-request"),
        ("POST", "api/feedback", {"turn_id": "", "rating": 1}, "bad-request"),
        ("POST", "api/feedback", {"turn_id": "t1", "rating": True}, "bad-request"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    server: WebServer, method: str, path: str, body: dict, code: str
) -> None:
    async with client() as session:
        await login(session, server)
        async with session.get(server.url + "api/memory") as resp:
            before = await resp.json()
        async with session.request(method, server.url + path, json=body) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == code
        async with session.request(method, server.url + path, data=b"{not json") as resp:
            assert resp.status == 400
        async with session.get(server.url + "api/memory") as resp:
            assert await resp.json() == before
        async with session.get(server.url + "api/feedback") as resp:
            assert (await resp.json())["feedback"] == []


# -- feedback -------------------------------------------------------------------------------------


async def test_feedback_is_stored_with_the_turn(server: WebServer, _isolated_data_dir: Path) -> None:
    store = await MemoryStore.open(_isolated_data_dir / "memory.sqlite3")
    try:
        # The brain logged this turn (as it does for every answered turn).
        turn_id = await store.add_turn("ann", "conv-1", "What time is it?", "It's 9:41.", "en", "intent")
        async with client() as session:
            await login(session, server, user="ann")
            body = {
                "turn_id": "hub-turn-7",
                "rating": 1,
                "question": "What time is it?",
                "answer": "It's 9:41.",
            }
            async with session.post(server.url + "api/feedback", json=body) as resp:
                assert resp.status == 201
                record = await resp.json()
            assert record["stored_in"] == "memory"
            assert record["memory_turn_id"] == turn_id
            # An answer the brain did not log still keeps its rating (web table, with both texts).
            body = {"turn_id": "hub-turn-8", "rating": -1, "question": "Sing", "answer": "La la."}
            async with session.post(server.url + "api/feedback", json=body) as resp:
                assert (await resp.json())["stored_in"] == "web"
            async with session.get(server.url + "api/feedback") as resp:
                listed = (await resp.json())["feedback"]
        assert [(r["stored_in"], r["rating"]) for r in listed] == [("web", -1), ("memory", 1)]
        assert listed[0]["hub_turn_id"] == "hub-turn-8" and listed[0]["answer"] == "La la."
        rows = await store.feedback("ann")
        assert [(r["turn_id"], r["rating"]) for r in rows] == [(turn_id, 1)]
        assert await store.feedback("default") == []
    finally:
        await store.close()


async def test_concurrent_logins_do_not_interfere(server: WebServer) -> None:
    async def one(user: str) -> str:
        async with client() as session:
            await login(session, server, user=user)
            async with session.get(server.url + "api/session") as resp:
                return str((await resp.json())["user_id"])

    users = [f"user{i}" for i in range(8)]
    async with asyncio.timeout(20):
        assert await asyncio.gather(*(one(u) for u in users)) == users


async def test_cross_origin_requests_are_refused(server: WebServer) -> None:
    evil = {"Origin": "https://127.0.0.1:1"}  # same site, another origin
    async with client() as session:
        async with session.post(server.url + "api/login", json={"token": TOKEN}, headers=evil) as resp:
            assert resp.status == 403
            assert COOKIE_NAME not in resp.cookies
        await login(session, server)
        async with session.post(server.url + "api/memory/facts", json={"text": "x"}, headers=evil) as resp:
            assert resp.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(server.url + "api/ws", headers=evil)
        assert refused.value.status == 403
        own = {"Origin": server.url.rstrip("/")}
        async with session.post(server.url + "api/memory/facts", json={"text": "mine"}, headers=own) as resp:
            assert resp.status == 201
        async with session.get(server.url + "api/memory") as resp:
            assert [f["fact"] for f in (await resp.json())["facts"]] == ["mine"]


async def test_jarvis_web_command(_isolated_data_dir: Path) -> None:
    """`jarvis web` starts, prints the URL and pairing link, serves, and stops on SIGTERM."""
    import signal
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jarvis.protocol.cli",
        "web",
        "--hub",
        NO_HUB,
        "--data-dir",
        str(_isolated_data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "JARVIS_WEB_PORT": "0"},  # settings from the environment, like jarvis serve
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(30):
            while not any(line.startswith("Pairing link:") for line in lines):
                line = (await proc.stdout.readline()).decode()
                assert line, "jarvis web exited early"
                lines.append(line)
        token = (_isolated_data_dir / "token").read_text().strip()  # made on first run
        url = next(line for line in lines if line.startswith("Web app:")).split()[-1]
        link = next(line for line in lines if line.startswith("Pairing link:")).split()[-1]
        assert link.endswith(f"?token={token}")
        async with client() as session, session.get(link, allow_redirects=False) as resp:
            assert resp.status == 302 and COOKIE_NAME in resp.cookies
            async with session.get(url + "api/session") as info:
                assert (await info.json())["user_id"] == "default"
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_plain_http_mode_warns_and_drops_secure(
    _isolated_data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    web = await start_web(token=TOKEN, hub_uri=NO_HUB, port=0, data_dir=_isolated_data_dir, http=True)
    try:
        assert web.url.startswith("http://")
        assert "plain HTTP" in caplog.text
        async with aiohttp.ClientSession() as session:
            async with session.post(web.url + "api/login", json={"token": TOKEN}) as resp:
                cookie = resp.cookies[COOKIE_NAME]
                assert cookie["secure"] == "" and cookie["httponly"] is True
                assert cookie["samesite"] == "Strict"
        assert not (_isolated_data_dir / "tls").exists()
    finally:
        await web.stop()


async def test_something_else_on_the_hub_port_is_reported(_isolated_data_dir: Path) -> None:
    """Garbage from the hub's address: the page hears "server-down", the web app keeps serving."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    impostor = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = impostor.sockets[0].getsockname()[1]
    web = await start_web(token=TOKEN, hub_uri=f"tcp://127.0.0.1:{port}", port=0, data_dir=_isolated_data_dir)
    try:
        async with client() as session:
            await login(session, web)
            async with session.ws_connect(web.url + "api/ws") as ws, asyncio.timeout(10):
                while True:
                    msg = await ws.receive_json()
                    if msg["data"].get("state") == "server-down":
                        break
            async with session.get(web.url + "api/session") as resp:
                assert resp.status == 200
    finally:
        await web.stop()
        impostor.close()
        await impostor.wait_closed()


async def test_forgetting_one_fact_keeps_similar_ones(server: WebServer) -> None:
    async with client() as session:
        await login(session, server)
        for fact in ("likes tea", "likes tea with milk", "tea"):
            async with session.post(server.url + "api/memory/facts", json={"text": fact}) as resp:
                memory = await resp.json()
        tea = next(f["id"] for f in memory["facts"] if f["fact"] == "likes tea")
        async with session.delete(server.url + f"api/memory/facts/{tea}") as resp:
            left = sorted(f["fact"] for f in (await resp.json())["facts"])
        assert left == ["likes tea with milk", "tea"]
