"""A Wyoming client that does exactly what Home Assistant's Wyoming integration does.

For HA 2024.3.3 this is checked against the real thing: tests/test_ha_live.py records the bytes a
real Home Assistant sends to Jarvis (describe, synthesize, transcribe, audio-start/chunk/stop) and
compares them with :func:`encode_event` of the events built here
(``test_home_assistant_sends_exactly_what_the_mirror_client_sends``).

Used by tests/test_ha_wyoming.py to check Jarvis's STT, TTS and brain services the way Home Assistant
uses them, with no Home Assistant installed. Each method mirrors one code path of the integration,
event for event, in the same order, with the same framing (wyoming's ``Event`` classes and
``async_write_event`` encoding, header field ``version`` set to the wyoming version Home Assistant
pins), and reads replies with wyoming's own ``async_read_event``, as Home Assistant does.

Mirrored sources (``homeassistant/components/wyoming/``):

====================  ==================================================  ============================
method                HA code                                             HA versions (wyoming pin)
====================  ==================================================  ============================
discover()            ``zeroconf`` integration -> ``config_flow.py``      2024.3.3 and 2025.x
                      ``async_step_zeroconf`` (host = first IPv4, not
                      unspecified; unique id ``<zeroconf name>_<name>``)
load_info()           ``data.py`` ``load_wyoming_info``: ``describe``,    2024.3.3 (1.5.3), 2025.x
                      1 s timeout per try, 3 retries 2 s apart
ServiceView           ``data.py`` ``WyomingService`` (platforms,          2024.3.3; 2025.x adds
                      ``get_name``, ``has_services``; a ``satellite``     intent/handle -> conversation
                      in the info means "satellite", nothing else loads)
transcribe()          ``stt.py`` ``async_process_audio_stream``:          2024.3.3 and 2025.x
                      ``transcribe {language}``, ``audio-start``
                      16 kHz/16-bit/mono, ``audio-chunk``s, ``audio-stop``,
                      read until ``transcript`` (others ignored)
synthesize()          ``tts.py`` ``async_get_tts_audio``: ``synthesize``  2024.3.3 and 2025.x
                      {text, voice?}; read chunks until ``audio-stop``
synthesize_stream()   ``tts.py`` ``async_stream_tts_audio`` (2025.x,      2025.x (1.7.1), used when
                      wyoming 1.7): writer task ``synthesize-start``,     ``supports_synthesize_
                      ``synthesize-chunk``s, compatibility                streaming`` is advertised
                      ``synthesize`` with the whole text,
                      ``synthesize-stop``; reader: chunks after the first
                      ``audio-start`` (``audio-stop`` ignored) until
                      ``synthesize-stopped``
converse()            ``conversation.py`` ``async_process``: one          2025.x (1.7.1); 2024.3.3
                      connection per utterance, no ``describe``,          has no Wyoming conversation
                      ``transcript {text, language, context:
                      {conversation_id, device_id?, satellite_id?}}``,
                      read until ``handled`` / ``not-handled`` / ``error``
                      (``handled-start``/``-chunk``/``-stop`` ignored)
====================  ==================================================  ============================
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import secrets
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

WYOMING_2024_3 = "1.5.3"
"""wyoming version pinned by homeassistant==2024.3.3."""
WYOMING_2025 = "1.7.1"
"""wyoming version pinned by the 2025.x integration (streaming TTS, conversation)."""

# homeassistant/components/wyoming/const.py
SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2
SAMPLE_CHANNELS = 1
# homeassistant/components/wyoming/data.py
INFO_TIMEOUT = 1
INFO_RETRY_WAIT = 2
INFO_RETRIES = 3


def encode_event(event: Event, version: str) -> bytes:
    """The bytes wyoming's ``async_write_event`` puts on the wire for ``event``.

    Header line ``{"type", "version", "data_length"?, "payload_length"?}`` (JSON, ``ensure_ascii=False``),
    newline, the data block (JSON), the payload.
    """
    header: dict[str, object] = {"type": event.type, "version": version}
    data_bytes = b""
    if event.data:
        data_bytes = json.dumps(event.data, ensure_ascii=False).encode("utf-8")
        header["data_length"] = len(data_bytes)
    if event.payload:
        header["payload_length"] = len(event.payload)
    return json.dumps(header, ensure_ascii=False).encode() + b"\n" + data_bytes + (event.payload or b"")


class _Client:
    """``wyoming.client.AsyncTcpClient`` as Home Assistant uses it (no timeouts of its own)."""

    def __init__(self, host: str, port: int, version: str) -> None:
        self.host, self.port, self.version = host, port, version
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.sent: list[Event] = []

    async def __aenter__(self) -> _Client:
        self.reader, self.writer = await asyncio.open_connection(host=self.host, port=self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        writer, self.writer, self.reader = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def write_event(self, event: Event) -> None:
        assert self.writer is not None
        self.sent.append(event)
        self.writer.write(encode_event(event, self.version))
        await self.writer.drain()

    async def read_event(self) -> Event | None:
        assert self.reader is not None
        return await async_read_event(self.reader)


# ----- discovery --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZeroconfService:
    """What HA's zeroconf integration hands the Wyoming config flow (``ZeroconfServiceInfo``)."""

    name: str
    """Full name, e.g. ``jarvis-stt-myhost._wyoming._tcp.local.``."""
    host: str
    port: int | None
    addresses: tuple[str, ...] = ()


async def discover(
    timeout: float = 3.0,
    interfaces: Sequence[str] | None = None,
    service_type: str = "_wyoming._tcp.local.",
    expect: Collection[str] = (),
) -> list[ZeroconfService]:
    """Browse like HA: resolve each instance; a service whose first IPv4 address is unspecified
    (0.0.0.0) or link-local is dropped, as HA's ``info_from_service`` does.

    HA browses all the time; here the window is ``timeout`` seconds, ended early once every instance
    name in ``expect`` (e.g. ``jarvis-stt-myhost``) has been seen.
    """
    kwargs: dict[str, object] = {"ip_version": IPVersion.V4Only}
    if interfaces:
        kwargs["interfaces"] = list(interfaces)
    azc = AsyncZeroconf(**kwargs)  # type: ignore[arg-type]
    names: set[str] = set()
    wanted = {f"{name}.{service_type}" for name in expect}
    all_seen = asyncio.Event()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            names.add(name)
            if wanted and wanted <= names:
                all_seen.set()

    browser = AsyncServiceBrowser(azc.zeroconf, [service_type], handlers=[on_change])
    found: list[ZeroconfService] = []
    try:
        with contextlib.suppress(TimeoutError):  # the browse window
            await asyncio.wait_for(all_seen.wait(), timeout)
        for full_name in sorted(names):
            info = AsyncServiceInfo(service_type, full_name)
            if not await info.async_request(azc.zeroconf, 3000):
                continue
            addresses = [ipaddress.ip_address(a) for a in info.parsed_addresses(IPVersion.V4Only)]
            if not addresses:
                continue
            first = addresses[0]
            if first.is_unspecified or first.is_link_local:
                continue
            found.append(ZeroconfService(full_name, str(first), info.port, tuple(str(a) for a in addresses)))
    finally:
        await browser.async_cancel()
        await azc.async_close()
    return found


# ----- describe -----------------------------------------------------------------------------------------
@dataclass
class ServiceView:
    """``data.py`` ``WyomingService``: what HA makes of an ``info``."""

    host: str
    port: int
    info: Info
    platforms: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        info = self.info
        if info.satellite is not None and info.satellite.installed:
            return  # a satellite: no stt/tts/conversation platforms at all
        if any(p.installed for p in info.asr):
            self.platforms.append("stt")
        if any(p.installed for p in info.tts):
            self.platforms.append("tts")
        if any(p.installed for p in info.wake):
            self.platforms.append("wake_word")
        if any(p.installed for p in info.intent) or any(p.installed for p in info.handle):
            self.platforms.append("conversation")

    def get_name(self) -> str | None:
        info = self.info
        if info.satellite is not None and info.satellite.installed:
            return info.satellite.name
        for programs in (info.asr, info.tts, info.wake, info.intent, info.handle):
            installed = [p for p in programs if p.installed]
            if installed:
                return installed[0].name
        return None

    def has_services(self) -> bool:
        return bool(self.platforms) or (self.info.satellite is not None and self.info.satellite.installed)


async def load_info(
    host: str,
    port: int,
    retries: int = INFO_RETRIES,
    retry_wait: float = INFO_RETRY_WAIT,
    timeout: float = INFO_TIMEOUT,
    version: str = WYOMING_2024_3,
) -> tuple[Info | None, int]:
    """``load_wyoming_info``; returns (info, number of tries it took)."""
    for attempt in range(1, retries + 2):
        try:
            async with _Client(host, port, version) as client, asyncio.timeout(timeout):
                await client.write_event(Describe().event())
                while True:
                    event = await client.read_event()
                    if event is None:
                        raise ConnectionError("Connection closed unexpectedly")
                    if Info.is_type(event.type):
                        return Info.from_event(event), attempt
        except (TimeoutError, OSError):
            if attempt <= retries:
                await asyncio.sleep(retry_wait)
    return None, retries + 1


# ----- STT ------------------------------------------------------------------------------------------------
def http_body_chunks(body: bytes) -> list[bytes]:
    """How HA's ``/api/stt/<entity>`` hands an HTTP body to the provider: ``async for`` over aiohttp's
    ``request.content`` yields *lines*, so chunks end after each ``\n`` byte and have any length."""
    return [line + b"\n" for line in body.split(b"\n")[:-1]] + ([body.rsplit(b"\n", 1)[-1]] if body else [])


async def transcribe(
    host: str,
    port: int,
    pcm: bytes,
    language: str = "en",
    chunk_bytes: int = 2048,
    realtime: float | None = None,
    version: str = WYOMING_2024_3,
    chunks: Sequence[bytes] | None = None,
    received: list[Event] | None = None,
) -> str | None:
    """``stt.py`` ``async_process_audio_stream``; None where HA would report an error.

    ``chunks``: the exact audio pieces (e.g. :func:`http_body_chunks`); default ``chunk_bytes`` each.
    ``received``: if given, every event read is appended (HA itself ignores all but ``transcript``).
    """
    if chunks is None:
        chunks = [pcm[i : i + chunk_bytes] for i in range(0, len(pcm), chunk_bytes)]
    assert b"".join(chunks) == pcm
    async with _Client(host, port, version) as client:
        await client.write_event(Transcribe(language=language).event())
        await client.write_event(
            AudioStart(rate=SAMPLE_RATE, width=SAMPLE_WIDTH, channels=SAMPLE_CHANNELS).event()
        )
        for audio in chunks:
            if not audio:
                continue
            chunk = AudioChunk(rate=SAMPLE_RATE, width=SAMPLE_WIDTH, channels=SAMPLE_CHANNELS, audio=audio)
            await client.write_event(chunk.event())
            if realtime:
                await asyncio.sleep(len(audio) / (SAMPLE_RATE * SAMPLE_WIDTH) / realtime)
        await client.write_event(AudioStop().event())
        while True:
            event = await client.read_event()
            if event is None:
                return None
            if received is not None:
                received.append(event)
            if Transcript.is_type(event.type):
                return Transcript.from_event(event).text


# ----- TTS ------------------------------------------------------------------------------------------------
@dataclass
class WavResult:
    rate: int | None = None
    width: int | None = None
    channels: int | None = None
    pcm: bytes = b""
    types: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        if not self.rate or not self.width or not self.channels:
            return 0.0
        return len(self.pcm) / (self.rate * self.width * self.channels)


async def synthesize(
    host: str, port: int, text: str, voice: str | None = None, version: str = WYOMING_2024_3
) -> WavResult | None:
    """``tts.py`` ``async_get_tts_audio`` (the non-streaming path); None where HA gets no audio."""
    result = WavResult()
    async with _Client(host, port, version) as client:
        synth_voice = SynthesizeVoice(name=voice) if voice is not None else None
        await client.write_event(Synthesize(text=text, voice=synth_voice).event())
        while True:
            event = await client.read_event()
            if event is None:
                return None
            result.types.append(event.type)
            if AudioStop.is_type(event.type):
                break
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                if result.rate is None:  # HA's WAV writer takes the first chunk's format
                    result.rate, result.width, result.channels = chunk.rate, chunk.width, chunk.channels
                result.pcm += chunk.audio
    return result


async def synthesize_stream(
    host: str,
    port: int,
    text_chunks: Sequence[str],
    voice: str | None = None,
    version: str = WYOMING_2025,
    chunk_delay_s: float = 0.0,
) -> WavResult:
    """``tts.py`` ``async_stream_tts_audio``: a writer task and a reader, on one connection."""
    result = WavResult()
    synth_voice = SynthesizeVoice(name=voice) if voice is not None else None

    async def message_gen() -> AsyncIterator[str]:
        for piece in text_chunks:
            if chunk_delay_s:
                await asyncio.sleep(chunk_delay_s)  # the LLM producing the next piece
            yield piece

    async with _Client(host, port, version) as client:

        async def write() -> None:  # _write_tts_message
            await client.write_event(SynthesizeStart(voice=synth_voice).event())
            message = ""
            async for piece in message_gen():
                message += piece
                await client.write_event(SynthesizeChunk(text=piece).event())
            await client.write_event(Synthesize(text=message, voice=synth_voice).event())
            await client.write_event(SynthesizeStop().event())

        writer = asyncio.create_task(write())
        try:
            header_sent = False
            while event := await client.read_event():  # _read_tts_audio
                result.types.append(event.type)
                if header_sent and AudioChunk.is_type(event.type):
                    result.pcm += AudioChunk.from_event(event).audio
                elif not header_sent and AudioStart.is_type(event.type):
                    start = AudioStart.from_event(event)
                    result.rate, result.width, result.channels = start.rate, start.width, start.channels
                    header_sent = True
                elif SynthesizeStopped.is_type(event.type):
                    break
            await writer
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
    return result


# ----- conversation ---------------------------------------------------------------------------------------
@dataclass
class ConversationResult:
    kind: str
    """"handled", "not-handled", "error", or "connection-lost"."""
    text: str
    conversation_id: str
    types: list[str] = field(default_factory=list)
    context: dict[str, object] = field(default_factory=dict)


async def converse(
    host: str,
    port: int,
    text: str,
    language: str = "en",
    conversation_id: str | None = None,
    device_id: str | None = None,
    satellite_id: str | None = None,
    version: str = WYOMING_2025,
) -> ConversationResult:
    """``conversation.py`` ``async_process``: one connection per utterance."""
    conversation_id = conversation_id or "01" + secrets.token_hex(12).upper()  # HA: a new ULID
    context: dict[str, object] = {"conversation_id": conversation_id}
    if device_id:
        context["device_id"] = device_id
    if satellite_id:
        context["satellite_id"] = satellite_id
    types: list[str] = []
    async with _Client(host, port, version) as client:
        await client.write_event(Transcript(text, context=context, language=language).event())
        while True:
            event = await client.read_event()
            if event is None:
                return ConversationResult("connection-lost", "", conversation_id, types)
            types.append(event.type)
            if Error.is_type(event.type):
                return ConversationResult("error", Error.from_event(event).text, conversation_id, types)
            if Handled.is_type(event.type):
                handled = Handled.from_event(event)
                return ConversationResult(
                    "handled", handled.text or "", conversation_id, types, dict(handled.context or {})
                )
            if NotHandled.is_type(event.type):
                return ConversationResult(
                    "not-handled", NotHandled.from_event(event).text or "", conversation_id, types
                )
