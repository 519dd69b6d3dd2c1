"""Reading and writing Wyoming frames with hard limits.

`wyoming.event.async_read_event` trusts its peer: it allocates whatever ``data_length`` or
``payload_length`` says and turns a bad header into a silent EOF. Nothing on the network is
trusted here, so :func:`read_event` caps every length, and raises :class:`ProtocolError` (with a
machine-readable ``code``) for anything malformed, so the caller can answer with an ``error``
event and close the connection instead of mistaking garbage for a clean disconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from wyoming.event import Event, async_write_event
from wyoming.version import __version__ as _WYOMING_VERSION

_LOGGER = logging.getLogger(__name__)

#: Longest header line accepted (bytes, including the newline). Also used as StreamReader limit.
MAX_HEADER_BYTES = 64 * 1024
#: Largest ``data`` block accepted (bytes).
MAX_DATA_BYTES = 1024 * 1024
#: Largest binary payload accepted (bytes); one second of 48 kHz/32-bit/stereo is 384 KB.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class WireLimits:
    """Size caps for one connection, in bytes."""

    max_header_bytes: int = MAX_HEADER_BYTES
    max_data_bytes: int = MAX_DATA_BYTES
    max_payload_bytes: int = MAX_PAYLOAD_BYTES


DEFAULT_LIMITS = WireLimits()


class ProtocolError(Exception):
    """The peer sent something that is not a valid Wyoming frame; the stream cannot continue."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _length(header: dict[str, Any], key: str, cap: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError("bad-header", f"{key} must be a non-negative integer, got {value!r}")
    if value > cap:
        raise ProtocolError("too-large", f"{key}={value} exceeds the limit of {cap} bytes")
    return value


async def read_event(
    reader: asyncio.StreamReader,
    limits: WireLimits = DEFAULT_LIMITS,
    *,
    frame_deadline_s: float | None = None,
    idle_timeout_s: float | None = None,
) -> Event | None:
    """Read one event. Returns None on a clean EOF between frames.

    Raises :class:`ProtocolError` for a malformed or oversized frame, or EOF inside a frame.
    With ``idle_timeout_s``, no new frame starting within that many seconds raises code
    ``idle-timeout``; with ``frame_deadline_s``, a frame whose first byte has arrived but which is
    not complete that many seconds later (a slowloris peer trickling bytes) raises ``frame-timeout``.
    """
    if frame_deadline_s is None and idle_timeout_s is None:
        return await _read_frame(reader, limits, b"")
    try:
        async with asyncio.timeout(idle_timeout_s):
            first = await reader.read(1)
    except TimeoutError as err:
        raise ProtocolError("idle-timeout", f"no request for {idle_timeout_s:g} s") from err
    if not first:
        return None
    try:
        async with asyncio.timeout(frame_deadline_s):
            return await _read_frame(reader, limits, first)
    except TimeoutError as err:
        raise ProtocolError(
            "frame-timeout", f"frame not completed within {frame_deadline_s:g} s of its first byte"
        ) from err


async def _read_frame(reader: asyncio.StreamReader, limits: WireLimits, first: bytes) -> Event | None:
    try:
        line = first + await reader.readuntil(b"\n") if first != b"\n" else first
    except asyncio.IncompleteReadError as err:
        if not err.partial and not first:
            return None
        raise ProtocolError("truncated", "connection closed in the middle of a header") from err
    except asyncio.LimitOverrunError as err:
        raise ProtocolError("too-large", f"header line longer than {limits.max_header_bytes} bytes") from err
    if len(line) > limits.max_header_bytes:
        raise ProtocolError("too-large", f"header line longer than {limits.max_header_bytes} bytes")
    try:
        header = json.loads(line)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, an integer over 4,300 digits
        raise ProtocolError("bad-header", f"header is not valid JSON: {err}") from err
    except RecursionError as err:  # e.g. 30,000 nested arrays: malformed, not an internal fault
        raise ProtocolError("bad-header", "header JSON is nested too deeply") from err
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ProtocolError("bad-header", "header must be a JSON object with a string 'type'")

    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise ProtocolError("bad-header", "'data' must be a JSON object")
    data_length = _length(header, "data_length", limits.max_data_bytes)
    payload_length = _length(header, "payload_length", limits.max_payload_bytes)

    try:
        if data_length:
            data_bytes = await reader.readexactly(data_length)
            try:
                extra = json.loads(data_bytes)
            except ValueError as err:
                raise ProtocolError("bad-data", f"data block is not valid JSON: {err}") from err
            except RecursionError as err:
                raise ProtocolError("bad-data", "data block JSON is nested too deeply") from err
            if not isinstance(extra, dict):
                raise ProtocolError("bad-data", "data block must be a JSON object")
            data = {**data, **extra}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError as err:
        raise ProtocolError("truncated", "connection closed in the middle of a frame") from err

    return Event(type=header["type"], data=data, payload=payload)


def encode_event(event: Event) -> bytes:
    """One event as the bytes :func:`write_event` sends (for a raw socket, e.g. a refusal)."""
    header: dict[str, Any] = {"type": event.type, "version": _WYOMING_VERSION}
    data = b""
    if event.data:
        data = json.dumps(event.data, ensure_ascii=False).encode("utf-8")
        header["data_length"] = len(data)
    if event.payload:
        header["payload_length"] = len(event.payload)
    line = json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n"
    return line + data + (event.payload or b"")


async def write_event(event: Event, writer: asyncio.StreamWriter) -> None:
    """Write one event (wyoming's encoder; kept here so callers import one module)."""
    await async_write_event(event, writer)
