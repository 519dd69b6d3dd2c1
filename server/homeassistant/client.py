"""An aiohttp client for Home Assistant's REST and WebSocket APIs.

REST (``Authorization: Bearer <long-lived token>``):
- ``GET /api/states``, ``GET /api/states/<entity_id>``;
- ``POST /api/services/<domain>/<service>`` with ``{"entity_id": [...], ...}``.

WebSocket (``/api/websocket``): ``auth_required`` -> ``auth`` -> ``auth_ok``, then numbered commands
answered by ``{"id": n, "type": "result", "success": ..., "result": ...}``. Used for the registries
(``config/area_registry/list``, ``config/device_registry/list``, ``config/entity_registry/list``), which
REST does not expose. One short-lived socket per registry refresh; the snapshot is cached
(:attr:`HASettings.cache_s`) and refreshed early after a call that finds an unknown name.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any
from urllib.parse import quote

import aiohttp

from .registry import HARegistry
from .settings import HASettings

_LOGGER = logging.getLogger(__name__)


class HomeAssistantError(Exception):
    """Home Assistant could not be reached, refused the token, or rejected a call."""


class HomeAssistantClient:
    """One per process. ``async with`` (or :meth:`close`) releases the HTTP session."""

    def __init__(self, settings: HASettings, session: aiohttp.ClientSession | None = None) -> None:
        if not settings.enabled:
            raise ValueError("Home Assistant needs both a URL and a token")
        assert settings.url is not None and settings.token is not None
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        if self.base_url.endswith("/api"):
            self.base_url = self.base_url[: -len("/api")]
        self._token = settings.token
        self._session = session
        self._own_session = session is None
        self._registry: HARegistry | None = None
        self._registry_time = 0.0
        self._registry_lock = asyncio.Lock()
        self._ids = itertools.count(1)

    # ----- plumbing --------------------------------------------------------------------------------
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
                connector=aiohttp.TCPConnector(ssl=self.settings.verify_ssl),
            )
            self._own_session = True
        return self._session

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            async with self._http().request(method, url, json=json, headers=self._headers) as resp:
                if resp.status == 401:
                    raise HomeAssistantError("Home Assistant refused the access token (401)")
                if resp.status == 404:
                    return None
                if resp.status >= 400:
                    text = (await resp.text())[:300]
                    raise HomeAssistantError(
                        f"Home Assistant answered {resp.status} to {method} {path}: {text}"
                    )
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise HomeAssistantError(f"cannot reach Home Assistant at {self.base_url}: {err!r}") from err

    # ----- REST ------------------------------------------------------------------------------------
    async def get_states(self) -> list[dict[str, Any]]:
        states = await self._request("GET", "/api/states")
        if not isinstance(states, list):
            raise HomeAssistantError("unexpected answer to /api/states")
        return states

    async def get_state(self, entity_id: str) -> dict[str, Any] | None:
        """The state object, or None for an unknown entity."""
        state = await self._request("GET", f"/api/states/{quote(entity_id)}")
        return state if isinstance(state, dict) else None

    async def call_service(
        self, domain: str, service: str, data: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Call a service; returns the states that changed (as Home Assistant reports them)."""
        if not domain.isidentifier() or not service.isidentifier():
            raise HomeAssistantError(f"invalid service name {domain}.{service}")
        _LOGGER.info("Home Assistant: %s.%s %s", domain, service, data or {})
        result = await self._request("POST", f"/api/services/{domain}/{service}", json=data or {})
        if result is None:
            raise HomeAssistantError(f"Home Assistant has no service {domain}.{service}")
        return result if isinstance(result, list) else []

    # ----- WebSocket -------------------------------------------------------------------------------
    async def ws_commands(self, *commands: dict[str, Any]) -> list[Any]:
        """Run commands on one authenticated WebSocket; returns each command's ``result`` in order."""
        url = f"{self.base_url}/api/websocket"
        timeout = self.settings.timeout_s
        try:
            async with asyncio.timeout(timeout + 1), self._http().ws_connect(url, heartbeat=None) as ws:
                first = await ws.receive_json(timeout=timeout)
                if first.get("type") != "auth_required":
                    raise HomeAssistantError(f"unexpected WebSocket greeting: {first}")
                await ws.send_json({"type": "auth", "access_token": self._token})
                auth = await ws.receive_json(timeout=timeout)
                if auth.get("type") != "auth_ok":
                    raise HomeAssistantError(
                        f"Home Assistant refused the access token: {auth.get('message')}"
                    )
                ids: list[int] = []
                for command in commands:
                    msg_id = next(self._ids)
                    ids.append(msg_id)
                    await ws.send_json({**command, "id": msg_id})
                results: dict[int, Any] = {}
                while len(results) < len(ids):
                    msg = await ws.receive_json(timeout=timeout)
                    if msg.get("type") != "result" or msg.get("id") not in ids:
                        continue
                    if not msg.get("success"):
                        error = msg.get("error") or {}
                        raise HomeAssistantError(
                            f"Home Assistant rejected {commands[ids.index(msg['id'])].get('type')}: "
                            f"{error.get('message', error)}"
                        )
                    results[msg["id"]] = msg.get("result")
                return [results[i] for i in ids]
        except aiohttp.ClientConnectionError as err:
            raise HomeAssistantError(f"cannot reach Home Assistant at {self.base_url}: {err!r}") from err
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise HomeAssistantError(f"Home Assistant WebSocket failed: {err!r}") from err

    # ----- registry --------------------------------------------------------------------------------
    async def fetch_registry(self) -> HARegistry:
        areas, devices, entities = await self.ws_commands(
            {"type": "config/area_registry/list"},
            {"type": "config/device_registry/list"},
            {"type": "config/entity_registry/list"},
        )
        states = await self.get_states()
        return HARegistry.from_api(areas or [], devices or [], entities or [], states)

    async def registry(self, refresh: bool = False) -> HARegistry:
        """The cached snapshot; fetched when missing, older than ``cache_s``, or ``refresh``."""
        async with self._registry_lock:
            stale = time.monotonic() - self._registry_time > self.settings.cache_s
            if self._registry is None or stale or refresh:
                self._registry = await self.fetch_registry()
                self._registry_time = time.monotonic()
                _LOGGER.debug(
                    "Home Assistant registry: %d areas, %d entities",
                    len(self._registry.areas),
                    len(self._registry.entities),
                )
            return self._registry

    @property
    def cached_registry(self) -> HARegistry | None:
        """The last snapshot without fetching (for synchronous checks such as sensitivity)."""
        return self._registry

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> HomeAssistantClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
