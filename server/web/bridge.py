"""One browser WebSocket <-> one hub connection: the browser is just another satellite.

Browser -> hub
  * binary frame: raw microphone PCM, 16 kHz / 16-bit / mono, sent as an ``audio-chunk`` (only while an
    audio stream is open, i.e. after ``audio-start`` and before ``audio-stop``).
  * JSON ``{"type": ..., "data": {...}}`` for a whitelisted set of Wyoming events
    (:data:`CLIENT_EVENTS`): ``run-pipeline``, ``audio-start``, ``audio-stop``, ``transcript``,
    ``played``, ``detection``; anything else gets ``{"type": "error", "data": {"code": "bad-event"}}``.

Hub -> browser
  * ``audio-start`` as JSON ``{"type": "audio-start", "data": {"rate", "width", "channels"}}``, each
    ``audio-chunk`` as a binary frame of raw PCM in that format (an ``audio-format`` JSON message comes
    first if a chunk's format differs), ``audio-stop`` as JSON.
  * every other hub event as JSON ``{"type": event.type, "data": event.data}``.
  * the bridge's own ``{"type": "state", "data": {"state": ..., ...}}``: ``connecting``, ``ready``
    (with the hub's ``session_id``/``user_id``), ``server-down`` (with ``retry_in_s``) and
    ``unauthorized`` (the web app's token is not the hub's).

If the hub is down or goes away, the page is told (``server-down``) and the bridge retries with
backoff until the WebSocket closes; the page restarts its listening mode when ``ready`` comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline

from jarvis.protocol.audio import TARGET_FORMAT
from jarvis.protocol.events import FOLLOW_UP_KEY, Auth, AuthOk
from jarvis.protocol.service import Connection
from jarvis.protocol.tasks import cancel_and_wait

_LOGGER = logging.getLogger(__name__)

#: Microphone format the page sends (its AudioWorklet converts to this): the pipeline's format.
MIC_RATE, MIC_WIDTH, MIC_CHANNELS = TARGET_FORMAT.rate, TARGET_FORMAT.width, TARGET_FORMAT.channels
#: Largest binary frame accepted from the page (bytes): 1 s of 16 kHz/16-bit audio.
MAX_MIC_FRAME_BYTES = TARGET_FORMAT.bytes_per_second
#: Largest JSON message accepted from the page (bytes).
MAX_JSON_BYTES = 16 * 1024
#: Longest text turn accepted (characters).
MAX_TEXT_CHARS = 2000

CLIENT_EVENTS = frozenset({"run-pipeline", "audio-start", "audio-stop", "transcript", "played", "detection"})


@dataclass(frozen=True)
class BridgeSettings:
    """How the web app reaches the hub."""

    hub_uri: str = "tcp://127.0.0.1:10600"
    hub_fingerprint: str | None = None
    """The hub certificate's pin when ``hub_uri`` is ``tls://`` (:mod:`jarvis.protocol.tls`)."""
    token: str = ""
    connect_timeout_s: float = 5.0
    auth_timeout_s: float = 5.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 5.0
    ping_interval_s: float = 5.0
    pong_timeout_s: float = 10.0


class ClientError(ValueError):
    """A message from the page that cannot be relayed; answered with an ``error`` message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def client_event(message: Any) -> Event:
    """Validate one JSON message from the page and turn it into the Wyoming event to send."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ClientError("bad-event", "a message must be a JSON object with a string 'type'")
    kind = message["type"]
    data = message.get("data") or {}
    if not isinstance(data, dict):
        raise ClientError("bad-event", "'data' must be a JSON object")
    if kind not in CLIENT_EVENTS:
        raise ClientError("bad-event", f"unsupported message type: {kind!r}")
    if kind == "run-pipeline":
        try:
            start = PipelineStage(str(data.get("start_stage", "asr")))
            end = PipelineStage(str(data.get("end_stage", "tts")))
            run = RunPipeline(
                start_stage=start, end_stage=end, restart_on_end=bool(data.get("restart_on_end"))
            )
        except ValueError as err:
            raise ClientError("bad-event", f"bad run-pipeline: {err}") from err
        event = run.event()
        # Page settings travel as extra fields; a hub that does not know them ignores them.
        for key in ("language", "voice", "conversation_id"):
            value = data.get(key)
            if isinstance(value, str) and 0 < len(value) <= 100:
                event.data[key] = value
        if data.get(FOLLOW_UP_KEY) is True:  # the reply to the question just played (no wake word)
            event.data[FOLLOW_UP_KEY] = True
        return event
    if kind == "audio-start":
        # The page always sends the one format its worklet produces.
        return AudioStart(rate=MIC_RATE, width=MIC_WIDTH, channels=MIC_CHANNELS).event()
    if kind == "audio-stop":
        return AudioStop().event()
    if kind == "transcript":
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ClientError("bad-event", "transcript needs a non-empty 'text'")
        if len(text) > MAX_TEXT_CHARS:
            raise ClientError("too-large", f"text longer than {MAX_TEXT_CHARS} characters")
        out: dict[str, Any] = {"text": text.strip()}
        if isinstance(data.get("language"), str):
            out["language"] = data["language"][:20]
        return Event(type="transcript", data=out)
    if kind == "detection":
        return Event(type="detection", data={"name": str(data.get("name", "hey_jarvis"))[:64]})
    return Event(type=kind, data={})  # played


class HubBridge:
    """Relays one page's WebSocket to the hub; :meth:`run` returns when the WebSocket closes."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        settings: BridgeSettings,
        *,
        user_id: str,
        satellite_id: str,
        name: str | None = None,
    ) -> None:
        self.ws = ws
        self.settings = settings
        self.user_id = user_id
        self.satellite_id = satellite_id
        self.name = name
        self._hub: Connection | None = None
        self._hub_lock = asyncio.Lock()
        self._ws_lock = asyncio.Lock()
        self._streaming = False
        self._out_format: tuple[int, int, int] | None = None
        self._last_pong = 0.0
        self.stats = {"mic_bytes": 0, "mic_dropped": 0, "tts_bytes": 0, "hub_connects": 0}

    # --- page side -------------------------------------------------------------------------
    async def send_json(self, kind: str, data: dict[str, Any] | None = None) -> None:
        if self.ws.closed:
            return
        async with self._ws_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(json.dumps({"type": kind, "data": data or {}}))

    async def send_bytes(self, payload: bytes) -> None:
        if self.ws.closed:
            return
        async with self._ws_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(payload)

    async def state(self, state: str, **extra: Any) -> None:
        await self.send_json("state", {"state": state, **extra})

    # --- hub side --------------------------------------------------------------------------
    async def _write_hub(self, event: Event) -> bool:
        hub = self._hub
        if hub is None:
            return False
        try:
            async with self._hub_lock:
                await hub.write_event(event)
        except (ConnectionError, RuntimeError) as err:
            _LOGGER.debug("hub write failed: %s", err)
            return False
        return True

    async def _connect(self) -> Connection:
        hub = await Connection.open(
            self.settings.hub_uri,
            timeout=self.settings.connect_timeout_s,
            fingerprint=self.settings.hub_fingerprint,
        )
        try:
            auth = Auth(
                token=self.settings.token,
                satellite_id=self.satellite_id,
                name=self.name,
                user_id=self.user_id,
                local_wake=False,
            )
            await hub.write_event(auth.event())
            while True:
                reply = await hub.read_event(timeout=self.settings.auth_timeout_s)
                if reply is None:
                    raise ConnectionError("hub closed the connection during auth")
                if AuthOk.is_type(reply.type):
                    ok = AuthOk.from_event(reply)
                    self.stats["hub_connects"] += 1
                    await self.state("ready", session_id=ok.session_id, user_id=ok.user_id)
                    return hub
                if Error.is_type(reply.type):
                    err = Error.from_event(reply)
                    if err.code == "unauthorized":
                        raise PermissionError(err.text)
                    raise ConnectionError(f"hub error during auth: {err.text}")
        except BaseException:
            await hub.close()
            raise

    async def _pinger(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_pong = loop.time()
        while True:
            await asyncio.sleep(self.settings.ping_interval_s)
            if loop.time() - self._last_pong > self.settings.pong_timeout_s:
                _LOGGER.warning(
                    "hub did not answer pings for %.0f s; reconnecting", self.settings.pong_timeout_s
                )
                hub = self._hub
                if hub is not None:
                    await hub.close()
                return
            await self._write_hub(Ping(text="web").event())

    async def _relay_from_hub(self, hub: Connection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            event = await hub.read_event()
            if event is None:
                return
            if Pong.is_type(event.type):
                self._last_pong = loop.time()
                continue
            if Ping.is_type(event.type):
                await self._write_hub(Pong(text=Ping.from_event(event).text).event())
                continue
            self._last_pong = loop.time()
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                fmt = (chunk.rate, chunk.width, chunk.channels)
                if fmt != self._out_format:
                    self._out_format = fmt
                    await self.send_json(
                        "audio-format", {"rate": fmt[0], "width": fmt[1], "channels": fmt[2]}
                    )
                self.stats["tts_bytes"] += len(chunk.audio)
                await self.send_bytes(chunk.audio)
                continue
            if AudioStart.is_type(event.type):
                start = AudioStart.from_event(event)
                self._out_format = (start.rate, start.width, start.channels)
            await self.send_json(event.type, dict(event.data or {}))

    async def _hub_loop(self) -> None:
        delay = self.settings.retry_initial_s
        while not self.ws.closed:
            await self.state("connecting", hub=self.settings.hub_uri)
            try:
                hub = await self._connect()
            except PermissionError as err:
                _LOGGER.error("The hub refused the web app's token: %s", err)
                await self.state("unauthorized", message="the hub refused this server's token")
                delay = self.settings.retry_max_s
            except (OSError, TimeoutError, ConnectionError) as err:
                _LOGGER.info("Hub %s unreachable (%s); retrying in %.1f s", self.settings.hub_uri, err, delay)
                await self.state("server-down", retry_in_s=delay, message=str(err) or type(err).__name__)
            except Exception as err:  # e.g. a malformed frame from whatever answers on that port
                _LOGGER.warning("Hub %s handshake failed: %s", self.settings.hub_uri, err)
                await self.state("server-down", retry_in_s=delay, message=f"bad answer from the hub: {err}")
            else:
                delay = self.settings.retry_initial_s
                self._hub = hub
                self._streaming = False
                pinger = asyncio.create_task(self._pinger(), name="web-bridge-ping")
                try:
                    await self._relay_from_hub(hub)
                except (ConnectionError, OSError) as err:
                    _LOGGER.info("Hub connection lost: %s", err)
                except Exception as err:  # a malformed frame from the hub: reconnect, tell the page
                    _LOGGER.warning("Hub connection failed: %s", err)
                finally:
                    self._hub = None
                    await cancel_and_wait(pinger)
                    await hub.close()
                if self.ws.closed:
                    return
                await self.state("server-down", retry_in_s=delay, message="connection to the hub lost")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.retry_max_s)

    # --- the page's messages -----------------------------------------------------------------
    async def _on_text(self, raw: str) -> None:
        if len(raw) > MAX_JSON_BYTES:
            await self.send_json("error", {"code": "too-large", "text": "message too large"})
            return
        try:
            event = client_event(json.loads(raw))
        except json.JSONDecodeError:
            await self.send_json("error", {"code": "bad-event", "text": "message is not JSON"})
            return
        except ClientError as err:
            await self.send_json("error", {"code": err.code, "text": str(err)})
            return
        if AudioStart.is_type(event.type):
            self._streaming = True
        elif AudioStop.is_type(event.type):
            self._streaming = False
        if not await self._write_hub(event):
            await self.send_json(
                "error", {"code": "server-down", "text": "the server is not reachable; retrying"}
            )

    async def _on_binary(self, data: bytes) -> None:
        if not self._streaming or self._hub is None:
            self.stats["mic_dropped"] += len(data)
            return
        if len(data) > MAX_MIC_FRAME_BYTES or len(data) % (MIC_WIDTH * MIC_CHANNELS):
            await self.send_json(
                "error",
                {"code": "bad-audio", "text": "audio frames must be 16-bit mono PCM, at most 1 s each"},
            )
            return
        self.stats["mic_bytes"] += len(data)
        chunk = AudioChunk(rate=MIC_RATE, width=MIC_WIDTH, channels=MIC_CHANNELS, audio=data)
        await self._write_hub(chunk.event())

    async def run(self) -> None:
        hub_task = asyncio.create_task(self._hub_loop(), name=f"web-bridge-{self.satellite_id}")
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.BINARY:
                    await self._on_binary(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    _LOGGER.debug("websocket error: %s", self.ws.exception())
                    break
        finally:
            await cancel_and_wait(hub_task)
            hub = self._hub
            if hub is not None:
                await hub.close()
