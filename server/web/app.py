"""The aiohttp application: login, REST API, the WebSocket bridge and the static page.

Routes (all documented in docs/api.md):

=========================  ===========================================================
``GET  /login``            the login page (the only public page)
``POST /api/login``        ``{token, user?}`` -> session cookie (token: master token or device credential)
``POST /api/logout``       drops the session
``GET  /api/session``      who is logged in, server name, pairing URL
``GET  /api/pairing.svg``  QR code of the pairing URL (URL + token) as SVG
``GET  /api/memory``       the user's profile, dynamic memory, facts, onboarding state
``PUT  /api/memory/profile``  ``{field: value, ...}``
``PUT  /api/memory/dynamic``  ``{summary}``
``POST /api/memory/facts``    ``{text}``;  ``DELETE /api/memory/facts/{id}``
``POST /api/feedback``     ``{turn_id, rating: 1|-1, question?, answer?, comment?}``
``GET  /api/feedback``     the user's recorded feedback (newest first)
``GET  /api/ws``           the WebSocket bridge to the hub (:mod:`.bridge`)
``GET  /metrics``          Prometheus metrics when :mod:`jarvis.server.metrics` is present
``GET  /``                 the page
``GET  /static/...``       its files; ``index.html`` loads ``static/js/main.js`` as an ES module
=========================  ===========================================================
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from jarvis.protocol.tasks import cancel_and_wait
from jarvis.server.devices import DeviceRegistry, devices_path
from jarvis.server.knowledge.web import add_routes as add_document_routes
from jarvis.server.tokens import tokens_match

from .auth import (
    COOKIE_NAME,
    SESSION_KEY,
    Session,
    SessionStore,
    make_auth_middleware,
    paired_device,
    remote_address,
    session_still_valid,
    set_session_cookie,
    valid_user_id,
)
from .bridge import BridgeSettings, HubBridge
from .qr import qr_svg
from .store import StoreError, WebStore

_LOGGER = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
#: Browsers run a module script only with a JavaScript MIME type: set it here rather than rely on the
#: host's ``mime.types`` (or, on Windows, the registry), which can map ``.js`` to ``text/plain``.
STATIC_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8"}
SATELLITE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
#: Largest JSON body accepted by the REST API (bytes).
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class WebAppConfig:
    """Everything the web app needs; built by ``jarvis web`` / ``jarvis serve`` (no argparse here)."""

    token: str
    """The hub token: the only credential (login) and what the bridge presents to the hub."""
    hub_uri: str = "tcp://127.0.0.1:10600"
    data_dir: Path | None = None
    default_user: str = "default"
    users: tuple[str, ...] = ()
    """User ids offered on the login page (the default user is always allowed)."""
    server_name: str = "Jarvis"
    secure_cookie: bool = True
    """False only for ``--http`` (development behind a TLS proxy)."""
    public_url: str | None = None
    """Base URL for the pairing QR code (e.g. ``https://192.168.1.20:8443``); default: the request's."""
    languages: tuple[str, ...] = ("en", "fr")
    voices: tuple[str, ...] = ()
    bridge: BridgeSettings = field(default_factory=BridgeSettings)


CONFIG_KEY = web.AppKey("config", WebAppConfig)
SESSIONS_KEY = web.AppKey("sessions", SessionStore)
STORE_KEY = web.AppKey("store", WebStore)
BRIDGES_KEY = web.AppKey("bridges", set[web.WebSocketResponse])
DEVICES_KEY = web.AppKey("devices", DeviceRegistry)
"""The paired devices (``<data dir>/devices.json``, shared with the hub): their credentials log in too."""


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=json.dumps({"error": "bad-request", "message": message}), content_type="application/json"
    )


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400/413 with a JSON ``{error, message}`` (never a 500).

    Every route that takes a body reads it here: too large (413), not UTF-8 (or not its declared
    charset, or a charset nobody knows), not JSON, an integer too long for Python to convert, nested
    too deeply for the parser (``RecursionError``: ``[[[[...`` 30,000 deep fits in 64 KiB), a lone
    surrogate escape, or not an object (400).
    """
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large(request.content_length)
    try:
        body = await request.json()
    except web.HTTPRequestEntityTooLarge as err:  # no Content-Length, or a false one: cut while read
        raise _too_large(None) from err
    except (ValueError, LookupError) as err:
        # JSONDecodeError, UnicodeDecodeError, an integer over Python's 4,300 digits (ValueError),
        # a charset Python does not know (LookupError): all the client's fault.
        raise _bad_request(f"body is not JSON: {err}") from err
    except RecursionError as err:
        raise _bad_request("body is nested too deeply to be parsed") from err
    if not isinstance(body, dict):
        raise _bad_request("body must be a JSON object")
    try:  # "\ud800" parses to a lone surrogate, which is no text at all (SQLite cannot store it)
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        raise _bad_request("body has a string that is not valid Unicode (a lone surrogate)") from err
    except RecursionError as err:
        raise _bad_request("body is nested too deeply to be parsed") from err
    return body


def _too_large(actual_size: int | None) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=MAX_BODY_BYTES,
        actual_size=actual_size if actual_size is not None else MAX_BODY_BYTES + 1,
        text=json.dumps({"error": "too-large", "message": f"the body is larger than {MAX_BODY_BYTES} bytes"}),
        content_type="application/json",
    )


@dataclass
class Reachability:
    """Where phones reach this server; filled in by ``start_web`` once the port is bound."""

    lan_url: str | None = None
    """e.g. ``https://192.168.1.20:8443/`` when bound to all interfaces; None when loopback only."""


REACH_KEY = web.AppKey("reachability", Reachability)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in LOOPBACK_HOSTS


def pairing_url(request: web.Request, include_token: bool = True) -> str:
    """The URL to open on a phone: ``--public-url``, else the LAN address if the browser used a
    loopback one and the server listens on the network, else the address the browser used."""
    config = request.app[CONFIG_KEY]
    base = config.public_url or f"{request.scheme}://{request.host}"
    lan = request.app[REACH_KEY].lan_url
    if not config.public_url and lan and _is_loopback(request.host):
        base = lan
    base = base.rstrip("/")
    return f"{base}/?token={config.token}" if include_token else f"{base}/"


# --- pages ---------------------------------------------------------------------------------------
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})


async def login_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "login.html", headers={"Cache-Control": "no-store"})


async def manifest(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "name": "Jarvis",
            "short_name": "Jarvis",
            "start_url": "/",
            "display": "standalone",
            "background_color": "#0b0f17",
            "theme_color": "#0b0f17",
            "icons": [{"src": "/static/favicon.svg", "sizes": "any", "type": "image/svg+xml"}],
        },
        content_type="application/manifest+json",
    )


# --- auth ----------------------------------------------------------------------------------------
async def login(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    backoff, address = request.app[SESSIONS_KEY].login_backoff, remote_address(request)
    if (wait := backoff.retry_after(address)) > 0:  # locked out: not even checked
        response = _json_error(429, "too-many-attempts", f"too many wrong tokens; retry in {wait:.0f} s")
        response.headers.update(backoff.headers(wait))
        return response
    body = await read_json(request)
    token = body.get("token")
    master = isinstance(token, str) and tokens_match(config.token, token)
    device = (
        None if master else paired_device(request.app[DEVICES_KEY], token if isinstance(token, str) else None)
    )
    if not master and device is None:
        lockout = backoff.failed(address)
        locked = f"; locked out for {lockout:.0f} s" if lockout else ""
        _LOGGER.warning("Failed web login from %s%s", request.remote, locked)
        return _json_error(401, "unauthorized", "wrong token")
    backoff.succeeded(address)
    if device is not None:  # a paired device is its registry's user, whatever the body asks
        session = request.app[SESSIONS_KEY].create(device.user_id, device, str(token))
        response = web.json_response({"user_id": device.user_id, "device_id": device.device_id})
        set_session_cookie(response, session, config.secure_cookie)
        _LOGGER.info(
            "Web login of device %s (user %s) from %s", device.device_id, device.user_id, request.remote
        )
        return response
    user = body.get("user") or config.default_user
    if not isinstance(user, str) or not valid_user_id(user):
        return _json_error(400, "bad-user", "user ids are 1-64 letters, digits, '_', '.', '-'")
    session = request.app[SESSIONS_KEY].create(user)
    response = web.json_response({"user_id": user})
    set_session_cookie(response, session, config.secure_cookie)
    _LOGGER.info("Web login for user %s from %s", user, request.remote)
    return response


async def logout(request: web.Request) -> web.Response:
    request.app[SESSIONS_KEY].drop(request.cookies.get(COOKIE_NAME))
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE_NAME, path="/")
    return response


async def session_info(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    session = request[SESSION_KEY]
    users = sorted({config.default_user, *config.users})
    # A paired device never learns the master token: its pairing link is the bare URL.
    master = session.device_id is None
    return web.json_response(
        {
            "user_id": session.user_id,
            "device_id": session.device_id,
            "users": users if master else [session.user_id],
            "server_name": config.server_name,
            "pairing_url": pairing_url(request, include_token=master),
            "pairing_reachable": not _is_loopback(pairing_url(request, include_token=False).split("/")[2]),
            "languages": list(config.languages),
            "voices": list(config.voices),
        }
    )


async def pairing_svg(request: web.Request) -> web.Response:
    master = request[SESSION_KEY].device_id is None  # a paired device never learns the master token
    return web.Response(
        text=qr_svg(pairing_url(request, include_token=master)),
        content_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


# --- memory and feedback -----------------------------------------------------------------------
async def get_memory(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    return web.json_response(await store.memory(request[SESSION_KEY].user_id))


async def put_profile(request: web.Request) -> web.Response:
    body = await read_json(request)
    store = request.app[STORE_KEY]
    try:
        memory = await store.update_profile(request[SESSION_KEY].user_id, body)
    except StoreError as err:
        return _json_error(400, err.code, str(err))
    return web.json_response(memory)


async def put_dynamic(request: web.Request) -> web.Response:
    body = await read_json(request)
    summary = body.get("summary")
    if not isinstance(summary, str):
        return _json_error(400, "bad-request", "'summary' must be a string")
    store = request.app[STORE_KEY]
    try:
        memory = await store.set_dynamic(request[SESSION_KEY].user_id, summary)
    except StoreError as err:
        return _json_error(400, err.code, str(err))
    return web.json_response(memory)


async def add_fact(request: web.Request) -> web.Response:
    body = await read_json(request)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return _json_error(400, "bad-request", "'text' must be a non-empty string")
    store = request.app[STORE_KEY]
    try:
        memory = await store.add_fact(request[SESSION_KEY].user_id, text.strip())
    except StoreError as err:
        return _json_error(400, err.code, str(err))
    return web.json_response(memory, status=201)


async def delete_fact(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    try:
        memory = await store.forget_fact(request[SESSION_KEY].user_id, request.match_info["fact_id"])
    except StoreError as err:
        return _json_error(404 if err.code == "not-found" else 400, err.code, str(err))
    return web.json_response(memory)


async def post_feedback(request: web.Request) -> web.Response:
    body = await read_json(request)
    turn_id = body.get("turn_id")
    rating = body.get("rating")
    if not isinstance(turn_id, str) or not 0 < len(turn_id) <= 128:
        return _json_error(400, "bad-request", "'turn_id' must be a string of 1-128 characters")
    if rating not in (1, -1) or isinstance(rating, bool):
        return _json_error(400, "bad-request", "'rating' must be 1 or -1")
    extra = {}
    for key in ("question", "answer", "comment"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            return _json_error(400, "bad-request", f"'{key}' must be a string")
        if value:
            extra[key] = value[:4000]
    store = request.app[STORE_KEY]
    record = await store.record_feedback(request[SESSION_KEY].user_id, turn_id, int(rating), **extra)
    return web.json_response(record, status=201)


async def post_announce(request: web.Request) -> web.Response:
    """``POST /api/announce {text, area | satellite_id | all}``: speak a text on satellites (docs/hub.md).

    Only an administrator: the master token as a Bearer, or a page logged in with it (not a device's
    credential). The hub is asked as ``jarvis announce`` asks it."""
    from wyoming.event import Event

    from jarvis.protocol.events import Announce, Announced
    from jarvis.protocol.wire import ProtocolError

    from ..hub.client import HubClient, HubRefused

    session = request.get(SESSION_KEY)
    if session is not None and session.device_id is not None:
        return _json_error(403, "forbidden", "announcements need the master token, not a device's credential")
    body = await read_json(request)
    announce = Announce.from_event(Event("jarvis-announce", dict(body)))
    if (problem := announce.problem()) is not None:
        return _json_error(400, "bad-request", problem)
    config = request.app[CONFIG_KEY]
    try:
        async with await HubClient.connect(
            config.hub_uri, config.token, "jarvis-announce-web", fingerprint=config.bridge.hub_fingerprint
        ) as hub:
            await hub.send(announce.event())
            async with asyncio.timeout(60):
                while (event := await hub.conn.read_event()) is not None:
                    if Announced.is_type(event.type) or event.type == "error":
                        break
    except (HubRefused, OSError, TimeoutError, ValueError, ProtocolError) as err:
        return _json_error(503, "hub-unavailable", f"the hub cannot be reached: {err or type(err).__name__}")
    if event is None:
        return _json_error(503, "hub-unavailable", "the hub closed the connection")
    if event.type == "error":
        code = str(event.data.get("code"))
        return _json_error(404 if code == "not-found" else 400, code, str(event.data.get("text")))
    done = Announced.from_event(event)
    return web.json_response({"played": done.played, "failed": done.failed})


async def list_feedback(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    return web.json_response({"feedback": await store.list_feedback(request[SESSION_KEY].user_id)})


# --- the bridge ----------------------------------------------------------------------------------
async def websocket(request: web.Request) -> web.WebSocketResponse:
    config = request.app[CONFIG_KEY]
    session = request[SESSION_KEY]
    bridge_settings = config.bridge
    if session.device_id is not None:
        # A paired browser is its device: the hub takes its id, user and area from the registry;
        # a ?satellite_id= cannot make it another satellite.
        satellite_id = session.device_id
        bridge_settings = dataclasses.replace(config.bridge, token=session.credential or "")
    else:
        satellite_id = request.query.get("satellite_id") or f"web-{session.session_id[:8]}"
    if not SATELLITE_ID_RE.match(satellite_id):
        raise web.HTTPBadRequest(text="satellite_id: 1-64 letters, digits, '_', '.', ':', '-'")
    name = (request.query.get("name") or "Browser")[:64]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024)
    await ws.prepare(request)
    bridge = HubBridge(ws, bridge_settings, user_id=session.user_id, satellite_id=satellite_id, name=name)
    bridges = request.app[BRIDGES_KEY]
    bridges.add(ws)
    _LOGGER.info("Browser satellite %s (%s) connected for user %s", satellite_id, name, session.user_id)
    watch = None
    if session.device_id is not None:
        watch = asyncio.create_task(
            _end_when_revoked(request.app, ws, session), name=f"web-revoke-{satellite_id}"
        )
    try:
        await bridge.run()
    finally:
        if watch is not None:
            await cancel_and_wait(watch)
        bridges.discard(ws)
        _LOGGER.info("Browser satellite %s left (%s)", satellite_id, bridge.stats)
    return ws


#: How often a paired browser's WebSocket checks that its device was not revoked (seconds).
REVOKE_POLL_S = 1.0


async def _end_when_revoked(app: web.Application, ws: web.WebSocketResponse, session: Session) -> None:
    """Close a paired browser's WebSocket (and its session) once its device is revoked."""
    devices = app[DEVICES_KEY]
    while not ws.closed:
        await asyncio.sleep(REVOKE_POLL_S)
        if not session_still_valid(session, devices):
            _LOGGER.info("Device %s was revoked: closing its browser's WebSocket", session.device_id)
            app[SESSIONS_KEY].drop(session.session_id)
            await ws.close(code=4403, message=b"device revoked")
            return


async def _close_websockets(app: web.Application) -> None:
    bridges: set[web.WebSocketResponse] = app[BRIDGES_KEY]
    for ws in list(bridges):
        await ws.close(code=1001, message=b"server shutdown")


async def _close_store(app: web.Application) -> None:
    await app[STORE_KEY].close()


def _mount_metrics(app: web.Application) -> None:
    """Serve the hub's Prometheus metrics at ``/metrics`` too (session cookie or Bearer token)."""
    from jarvis.server import metrics

    app.router.add_get("/metrics", metrics.metrics_handler())


@web.middleware
async def _security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    if not response.prepared:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'",
        )
    return response


@web.middleware
async def _static_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """``/static/`` files: a JavaScript MIME type for the modules, and ``no-cache`` (revalidate by ETag)
    so that after an upgrade a browser never runs new modules with old ones it kept."""
    response: web.StreamResponse = await handler(request)
    if isinstance(response, web.FileResponse) and request.path.startswith("/static/"):
        content_type = STATIC_CONTENT_TYPES.get(Path(request.path).suffix)
        if content_type is not None:
            response.headers["Content-Type"] = content_type
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


def create_app(config: WebAppConfig, store: WebStore | None = None) -> web.Application:
    """Compose the web application. ``store`` defaults to the data dir's memory store."""
    sessions = SessionStore()
    devices = DeviceRegistry(devices_path(config.data_dir))
    app = web.Application(
        middlewares=[
            _security_headers,
            _static_headers,
            make_auth_middleware(
                sessions,
                config.token,
                config.default_user,
                config.secure_cookie,
                frozenset({config.public_url.rstrip("/").lower()}) if config.public_url else frozenset(),
                devices,
            ),
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[CONFIG_KEY] = config
    app[SESSIONS_KEY] = sessions
    app[DEVICES_KEY] = devices
    app[STORE_KEY] = store or WebStore(config.data_dir)
    app[BRIDGES_KEY] = set()
    app[REACH_KEY] = Reachability()
    app.on_shutdown.append(_close_websockets)
    app.on_cleanup.append(_close_store)

    app.router.add_get("/", index)
    app.router.add_get("/login", login_page)
    app.router.add_get("/manifest.webmanifest", manifest)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/session", session_info)
    app.router.add_get("/api/pairing.svg", pairing_svg)
    app.router.add_get("/api/memory", get_memory)
    app.router.add_put("/api/memory/profile", put_profile)
    app.router.add_put("/api/memory/dynamic", put_dynamic)
    app.router.add_post("/api/memory/facts", add_fact)
    app.router.add_delete("/api/memory/facts/{fact_id}", delete_fact)
    app.router.add_post("/api/feedback", post_feedback)
    app.router.add_get("/api/feedback", list_feedback)
    app.router.add_post("/api/announce", post_announce)
    app.router.add_get("/api/ws", websocket)
    add_document_routes(app, config.data_dir)  # /api/documents: jarvis.server.knowledge.web
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    _mount_metrics(app)
    return app
