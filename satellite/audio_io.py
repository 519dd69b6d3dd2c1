"""Audio in and out: sounddevice microphone/speaker, or WAV files for headless runs.

Sources yield 16 kHz/16-bit/mono chunks forever. Sinks take the hub's TTS audio (any format) and
feedback sounds. ``sounddevice`` is imported only when a device is opened (or listed), so
headless mode works without PortAudio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import wave
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from jarvis.protocol.audio import TARGET_FORMAT, AudioConverter, AudioFormat, convert

from .sounds import Sound

_LOGGER = logging.getLogger(__name__)


class AudioDeviceError(RuntimeError):
    """PortAudio is missing or a device cannot be opened."""


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as err:
        raise AudioDeviceError(
            f"sounddevice/PortAudio unavailable ({err}); install libportaudio2 "
            "(sudo apt install libportaudio2) or run headless with --input-wav/--output-wav"
        ) from err
    return sounddevice


def _device(value: str | int | None) -> str | int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def list_devices() -> str:
    """A table of audio devices, as ``python -m sounddevice`` prints it."""
    sd = _sounddevice()
    return str(sd.query_devices())


# ---------------------------------------------------------------------------------------------
# Sources


class AudioSource(ABC):
    """16 kHz/16-bit/mono chunks, forever, until closed."""

    @abstractmethod
    def chunks(self) -> AsyncIterator[bytes]:
        """Yield chunks; stops only when cancelled or closed."""

    def connected(self) -> None:
        """The satellite has a hub session (a file source starts playing then)."""

    async def close(self) -> None:
        """Release the device or file."""


class WavSource(AudioSource):
    """A WAV file played as the microphone, then silence forever.

    Playback starts at the first hub session (:meth:`connected`); until then it yields silence,
    so a satellite that takes a while to connect does not speak its file to nobody. The file is
    paced at real time unless ``fast``; the silence is always paced, so a satellite left running
    never floods the hub.
    """

    def __init__(self, path: Path, chunk_ms: int = 30, fast: bool = False) -> None:
        self.path = path
        self.chunk_ms = chunk_ms
        self.fast = fast
        self.pcm = self._read(path)
        self.chunk_bytes = TARGET_FORMAT.rate * chunk_ms // 1000 * TARGET_FORMAT.frame_bytes
        self.finished = asyncio.Event()
        """Set once the whole file has been yielded."""
        self._go = asyncio.Event()

    def connected(self) -> None:
        self._go.set()

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            with wave.open(str(path), "rb") as wav:
                rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
                raw = wav.readframes(wav.getnframes())
            return convert(raw, rate, width, channels)
        except (OSError, EOFError, wave.Error, ValueError) as err:
            raise ValueError(f"cannot use {path} as microphone input: {err}") from err

    async def chunks(self) -> AsyncIterator[bytes]:
        step = self.chunk_ms / 1000
        silence = bytes(self.chunk_bytes)
        start, index = time.monotonic(), 0
        while not self._go.is_set():  # silence (paced) until the first hub session
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, start + index * step - time.monotonic())):
                    await self._go.wait()
                    break
            index += 1
            yield silence
        start, index = time.monotonic(), 0
        for offset in range(0, len(self.pcm), self.chunk_bytes):
            chunk = self.pcm[offset : offset + self.chunk_bytes]
            if len(chunk) < self.chunk_bytes:
                chunk += bytes(self.chunk_bytes - len(chunk))
            if self.fast:
                await asyncio.sleep(0)
            else:
                await _sleep_until(start + index * step)
            index += 1
            yield chunk
        self.finished.set()
        _LOGGER.debug("End of %s; silence from now on", self.path)
        start, index = time.monotonic(), 0
        while True:
            await _sleep_until(start + index * step)
            index += 1
            yield silence


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    await asyncio.sleep(max(0.0, delay))


class MicrophoneSource(AudioSource):
    """A sounddevice input stream; the PortAudio callback hands chunks to the event loop."""

    def __init__(
        self,
        device: str | int | None = None,
        rate: int = 16000,
        channels: int = 1,
        chunk_ms: int = 30,
        max_queued_chunks: int = 100,
    ) -> None:
        self.device = _device(device)
        self.rate = rate
        self.channels = channels
        self.chunk_ms = chunk_ms
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=max_queued_chunks)
        self._stream: Any = None
        self._dropped = 0

    def _open(self) -> None:
        sd = _sounddevice()
        loop = asyncio.get_running_loop()

        def put(data: bytes) -> None:
            if self._queue.full():  # the consumer is behind: drop the oldest, keep the newest
                self._queue.get_nowait()
                self._dropped += 1
                if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                    _LOGGER.warning("Microphone: %d chunks dropped (event loop too slow)", self._dropped)
            self._queue.put_nowait(data)

        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            if status:
                _LOGGER.debug("Microphone status: %s", status)
            loop.call_soon_threadsafe(put, bytes(indata))

        try:
            self._stream = sd.RawInputStream(
                samplerate=self.rate,
                channels=self.channels,
                dtype="int16",
                blocksize=self.rate * self.chunk_ms // 1000,
                device=self.device,
                callback=callback,
            )
            self._stream.start()
        except Exception as err:  # PortAudioError, ValueError for a bad device name
            raise AudioDeviceError(
                f"cannot open microphone {self.device!r} at {self.rate} Hz x {self.channels}: {err} "
                "(see --list-devices, --mic-rate, --mic-channels)"
            ) from err
        _LOGGER.info(
            "Microphone %s open at %d Hz, %d channel(s)", self.device or "default", self.rate, self.channels
        )

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._stream is None:
            self._open()
        converter = AudioConverter(self.rate, 2, self.channels)
        while True:
            data = await self._queue.get()
            out = converter.convert(data)
            if out:
                yield out

    async def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            with contextlib.suppress(Exception):
                stream.stop()
                stream.close()


# ---------------------------------------------------------------------------------------------
# Sinks


class AudioSink(ABC):
    """Plays the hub's answers and feedback sounds."""

    async def start(self) -> None:
        """Open the device (called once before anything plays, so a bad device fails early)."""

    @abstractmethod
    async def start_answer(self, fmt: AudioFormat) -> None:
        """An answer begins (``audio-start``) in this format."""

    @abstractmethod
    async def play(self, pcm: bytes) -> None:
        """One chunk of the answer, in the format given to :meth:`start_answer`."""

    @abstractmethod
    async def drain(self) -> None:
        """Return when everything given so far has been heard."""

    @abstractmethod
    def stop_now(self) -> None:
        """Barge-in: silence at once and drop whatever is still buffered."""

    @abstractmethod
    async def play_sound(self, sound: Sound) -> None:
        """A feedback sound (awake, done, alarm); returns when it has been heard."""

    async def close(self) -> None:
        """Flush and release the device or file."""


class WavFileSink(AudioSink):
    """Writes every answer's audio to one WAV file: 16-bit, at the rate (and channels) of the first
    answer; later answers in another format are converted. Feedback sounds are not written.

    ``paced``: playback takes as long as it would on a speaker (so barge-in and ``played`` timing
    behave as on a device); otherwise it is instantaneous.
    """

    def __init__(self, path: Path, paced: bool = True) -> None:
        self.path = path
        self.paced = paced
        self._wav: wave.Wave_write | None = None
        self._out_fmt: AudioFormat | None = None
        self._converter: AudioConverter | None = None
        self._play_end = 0.0
        self.bytes_written = 0

    def _open(self, fmt: AudioFormat) -> None:
        self._out_fmt = AudioFormat(fmt.rate, 2, fmt.channels)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wav = wave.open(str(self.path), "wb")
        wav.setframerate(self._out_fmt.rate)
        wav.setsampwidth(2)
        wav.setnchannels(self._out_fmt.channels)
        self._wav = wav

    async def start_answer(self, fmt: AudioFormat) -> None:
        if self._wav is None:
            self._open(fmt)
        assert self._out_fmt is not None
        self._converter = AudioConverter(fmt.rate, fmt.width, fmt.channels, out=self._out_fmt)

    async def play(self, pcm: bytes) -> None:
        if self._converter is None or self._wav is None or self._out_fmt is None:
            raise RuntimeError("play() before start_answer()")
        out = self._converter.convert(pcm)
        self._write(out)

    def _write(self, out: bytes) -> None:
        assert self._wav is not None and self._out_fmt is not None
        self._wav.writeframes(out)
        self.bytes_written += len(out)
        now = time.monotonic()
        self._play_end = max(now, self._play_end) + len(out) / self._out_fmt.bytes_per_second

    async def drain(self) -> None:
        if self._converter is not None and self._wav is not None:
            tail = self._converter.flush()
            if tail:
                self._write(tail)
        if self.paced:
            await _sleep_until(self._play_end)

    def stop_now(self) -> None:
        self._play_end = time.monotonic()

    async def play_sound(self, sound: Sound) -> None:
        _LOGGER.debug("Sound of %.2f s not written to %s (answers only)", sound.duration_s, self.path)

    async def close(self) -> None:
        if self._wav is None:  # no answer ever came: still leave a valid (empty) WAV
            self._open(TARGET_FORMAT)
        assert self._wav is not None
        self._wav.close()
        _LOGGER.info("Wrote %d bytes of answer audio to %s", self.bytes_written, self.path)


class SpeakerSink(AudioSink):
    """A sounddevice output stream at one fixed rate; everything is converted to it.

    The PortAudio callback pulls from a buffer, so barge-in is a buffer clear (immediate).
    """

    def __init__(self, device: str | int | None = None, rate: int | None = None) -> None:
        self.device = _device(device)
        self.rate = rate
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._stream: Any = None
        self._fmt: AudioFormat | None = None
        self._converter: AudioConverter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._empty = asyncio.Event()

    def _ensure_open(self) -> AudioFormat:
        if self._fmt is not None:
            return self._fmt
        sd = _sounddevice()
        self._loop = asyncio.get_running_loop()
        try:
            rate = self.rate or int(sd.query_devices(self.device, "output")["default_samplerate"])
            self._fmt = AudioFormat(rate, 2, 1)

            def callback(outdata: Any, frames: int, time_info: Any, status: Any) -> None:
                need = len(outdata)
                with self._lock:
                    take = bytes(self._buffer[:need])
                    del self._buffer[:need]
                    empty = not self._buffer
                outdata[: len(take)] = take
                if len(take) < need:
                    outdata[len(take) :] = bytes(need - len(take))
                if empty and self._loop is not None:
                    self._loop.call_soon_threadsafe(self._empty.set)

            self._stream = sd.RawOutputStream(
                samplerate=rate, channels=1, dtype="int16", device=self.device, callback=callback
            )
            self._stream.start()
        except AudioDeviceError:
            raise
        except Exception as err:
            self._fmt = None
            raise AudioDeviceError(
                f"cannot open speaker {self.device!r}: {err} (see --list-devices)"
            ) from err
        _LOGGER.info("Speaker %s open at %d Hz", self.device or "default", rate)
        return self._fmt

    async def start(self) -> None:
        self._ensure_open()

    def _enqueue(self, pcm: bytes) -> None:
        if not pcm:
            return
        with self._lock:
            self._buffer.extend(pcm)
        self._empty.clear()

    async def start_answer(self, fmt: AudioFormat) -> None:
        out = self._ensure_open()
        self._converter = AudioConverter(fmt.rate, fmt.width, fmt.channels, out=out)

    async def play(self, pcm: bytes) -> None:
        if self._converter is None:
            raise RuntimeError("play() before start_answer()")
        self._enqueue(self._converter.convert(pcm))

    async def drain(self) -> None:
        if self._converter is not None:
            self._enqueue(self._converter.flush())
        with self._lock:
            pending = len(self._buffer)
        if pending:
            await self._empty.wait()
        if self._stream is not None:  # what is already in the device's own buffer
            await asyncio.sleep(float(self._stream.latency))

    def stop_now(self) -> None:
        with self._lock:
            self._buffer.clear()
        self._empty.set()

    async def play_sound(self, sound: Sound) -> None:
        out = self._ensure_open()
        self._enqueue(convert(sound.pcm, sound.fmt.rate, sound.fmt.width, sound.fmt.channels, out=out))
        await self.drain()

    async def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            with contextlib.suppress(Exception):
                stream.stop()
                stream.close()
