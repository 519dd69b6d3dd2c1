"""Token login and session cookies for the web app.

Two secrets log in: the hub's master token (:mod:`jarvis.server.tokens`; the session's user is the
one asked for), or a device credential (``jarvis devices pair``, :mod:`jarvis.server.devices`; the
session is that device: its user, its satellite id, and never the master token). ``POST /api/login
{token}`` or a ``?token=`` URL (the pairing QR code) trades it for a random session id in an
HttpOnly, Secure, SameSite=Strict cookie. A device session ends as soon as its device is revoked.
Sessions live in memory: restarting the server logs browsers out, and they log in again with the
token (the QR code). Every route except the login page, its assets and ``POST /api/login`` requires
a session; ``/metrics`` also accepts the master token as a Bearer header.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from jarvis.protocol.backoff import FailureBackoff
from jarvis.server.devices import Device, DeviceRegistry
from jarvis.server.tokens import tokens_match

_LOGGER = logging.getLogger(__name__)

COOKIE_NAME = "jarvis_session"
#: A session expires after this long without a request (seconds).
SESSION_IDLE_S = 30 * 24 * 3600
#: User ids are path- and SQL-safe short names.
USER_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

#: Paths anyone may fetch: the login page and what it needs.
PUBLIC_PATHS = frozenset(
    {
        "/login",
        "/api/login",
        "/static/login.js",
        "/static/style.css",
        "/static/favicon.svg",
        "/manifest.webmanifest",
    }
)


@dataclass
class Session:
    """One logged-in browser."""

    session_id: str
    user_id: str
    created: float
    last_seen: float
    device_id: str | None = None
    """The paired device this browser logged in as (None: the master token)."""
    credential: str | None = field(default=None, repr=False)
    """That device's credential, kept in memory only: the bridge presents it to the hub."""


class LoginBackoff:
    """Per-address lockout after failed logins: brute force gets 429 and a ``Retry-After``.

    The first ``free_failures`` wrong tokens cost nothing (typos). Each further one locks the
    address out for ``initial_s`` doubling per failure, capped at ``max_s``; while locked out, a
    login is not even checked. A success resets the address; a record is forgotten ``forget_s``
    after its last failure, and at most ``max_addresses`` are kept (oldest first out), so the table
    cannot grow without bound either. (Unchecked, 6,500 wrong logins per second were answered.)
    The counting is the hub's :class:`~jarvis.protocol.backoff.FailureBackoff`.
    """

    def __init__(
        self,
        free_failures: int = 5,
        initial_s: float = 1.0,
        max_s: float = 60.0,
        *,
        forget_s: float = 900.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if free_failures < 0 or initial_s < 0 or max_s < initial_s or max_addresses < 1:
            raise ValueError("LoginBackoff wants free_failures, initial_s >= 0, max_s >= initial_s")
        self._backoff = FailureBackoff(
            initial_s,
            max_s,
            free_failures=free_failures,
            forget_after_s=forget_s,
            max_keys=max_addresses,
            clock=clock,
        )

    def retry_after(self, address: str) -> float:
        """Seconds before ``address`` may try again (0: now)."""
        return self._backoff.blocked_for(address)

    def failed(self, address: str) -> float:
        """Count a wrong login; returns the lockout it earned (seconds, 0 while still free)."""
        return self._backoff.failure(address)

    def succeeded(self, address: str) -> None:
        self._backoff.success(address)

    def __len__(self) -> int:
        """Addresses with a record."""
        return len(self._backoff)

    @staticmethod
    def headers(wait: float) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(wait)))}


def remote_address(request: web.Request) -> str:
    """The key the login backoff counts under (the peer's address; behind a proxy, the proxy's)."""
    return request.remote or "unknown"


class SessionStore:
    """In-memory sessions keyed by an unguessable id (``secrets.token_urlsafe(32)``).

    It also holds the :class:`LoginBackoff` every way of logging in (``POST /api/login``, a
    pairing link) consults.
    """

    def __init__(self, idle_s: float = SESSION_IDLE_S, login_backoff: LoginBackoff | None = None) -> None:
        self.idle_s = idle_s
        self._sessions: dict[str, Session] = {}
        self.login_backoff = login_backoff or LoginBackoff()

    def create(self, user_id: str, device: Device | None = None, credential: str | None = None) -> Session:
        """A new session for ``user_id``, or for a paired ``device`` (its user) and its ``credential``."""
        now = time.monotonic()
        if device is not None:
            session = Session(
                secrets.token_urlsafe(32), device.user_id, now, now, device.device_id, credential
            )
        else:
            session = Session(secrets.token_urlsafe(32), user_id, now, now)
        self._sessions[session.session_id] = session
        self._prune(now)
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        now = time.monotonic()
        if session is None:
            return None
        if now - session.last_seen > self.idle_s:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def _prune(self, now: float) -> None:
        expired = [sid for sid, s in self._sessions.items() if now - s.last_seen > self.idle_s]
        for sid in expired:
            del self._sessions[sid]


SESSION_KEY = web.RequestKey("jarvis.session", Session)
"""``request[SESSION_KEY]`` holds the :class:`Session` of an authenticated request."""


def valid_user_id(user_id: str) -> bool:
    return bool(USER_ID_RE.match(user_id))


def paired_device(devices: DeviceRegistry | None, token: str | None) -> Device | None:
    """The active paired device whose credential ``token`` is, else None."""
    if devices is None or not token:
        return None
    device = devices.authenticate(token)
    return device if device is not None and device.active else None


def session_still_valid(session: Session, devices: DeviceRegistry | None) -> bool:
    """A device session lives only while its credential does (revoked or re-paired: it ends)."""
    if session.device_id is None:
        return True
    device = paired_device(devices, session.credential)
    return device is not None and device.device_id == session.device_id


BEARER_PATHS = frozenset({"/metrics", "/api/announce"})
"""Paths a script may call with ``Authorization: Bearer <master token>`` and no login."""


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def set_session_cookie(response: web.StreamResponse, session: Session, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME,
        session.session_id,
        httponly=True,
        secure=secure,
        samesite="Strict",
        path="/",
        max_age=SESSION_IDLE_S,
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def same_origin(request: web.Request, extra_origins: frozenset[str] = frozenset()) -> bool:
    """True unless a browser says the request comes from another origin (CSRF, WebSocket hijacking).

    SameSite=Strict already keeps the cookie off cross-site requests; this also refuses other
    origins of the same site (another port on the same host). Clients that send no ``Origin``
    (curl, Prometheus) are not browsers acting for someone else.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower()
    return netloc == request.host.lower() or origin.rstrip("/").lower() in extra_origins


def make_auth_middleware(
    sessions: SessionStore,
    token: str,
    default_user: str,
    secure_cookie: bool,
    extra_origins: frozenset[str] = frozenset(),
    devices: DeviceRegistry | None = None,
) -> Middleware:
    """Middleware: public paths pass; ``?token=`` logs in; otherwise a session is required.

    ``?token=`` is the master token or a device credential from ``devices``.

    State-changing requests and the WebSocket must come from the page's own origin (or one of
    ``extra_origins``, e.g. the ``--public-url`` behind a proxy).
    """

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        unsafe = request.method not in ("GET", "HEAD", "OPTIONS") or request.path == "/api/ws"
        if unsafe and not same_origin(request, extra_origins):
            _LOGGER.warning(
                "Refused %s %s from origin %s", request.method, request.path, request.headers["Origin"]
            )
            return web.json_response(
                {"error": "forbidden", "message": "cross-origin request refused"}, status=403
            )
        if request.path in PUBLIC_PATHS:
            return await handler(request)

        if "token" in request.query and request.method == "GET":
            # The pairing link / QR code: log in, then redirect to the same URL without the token
            # so it does not stay in the address bar or the history.
            backoff, address = sessions.login_backoff, remote_address(request)
            if (wait := backoff.retry_after(address)) > 0:
                return web.Response(
                    status=429,
                    text=f"Too many wrong tokens from this address; try again in {math.ceil(wait)} s.",
                    headers=backoff.headers(wait),
                )
            given = request.query.get("token")
            device = None if tokens_match(token, given) else paired_device(devices, given)
            if device is None and not tokens_match(token, given):
                _LOGGER.warning("Wrong token in a pairing link from %s", request.remote)
                backoff.failed(address)
                raise web.HTTPFound("/login?error=token")
            backoff.succeeded(address)
            user = request.query.get("user") or default_user
            if device is None and not valid_user_id(user):
                raise web.HTTPFound("/login?error=user")
            query = {k: v for k, v in request.query.items() if k not in ("token", "user")}
            clean = request.rel_url.with_query(query)
            response = web.HTTPFound(str(clean))
            set_session_cookie(response, sessions.create(user, device, given), secure_cookie)
            raise response

        session = sessions.get(request.cookies.get(COOKIE_NAME))
        if session is not None and not session_still_valid(session, devices):
            _LOGGER.info("Web session of device %s ended: its credential was revoked", session.device_id)
            sessions.drop(session.session_id)
            session = None
        if session is None and request.path in BEARER_PATHS and tokens_match(token, bearer_token(request)):
            return await handler(request)  # an administrator's script: the master token as a Bearer
        if session is None:
            if request.path.startswith("/api/") or request.path == "/metrics":
                return web.json_response(
                    {"error": "unauthorized", "message": "log in with the server token first"},
                    status=401,
                )
            raise web.HTTPFound("/login")
        request[SESSION_KEY] = session
        return await handler(request)

    return auth_middleware
