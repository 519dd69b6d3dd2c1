"""``jarvis bench soak``: satellites take voice turns for minutes while a hostile client floods every
port and STT, TTS and brain are each killed and restarted once (issue 15).

Everything runs in this process, like ``jarvis serve``: the real STT (bundled tiny.en), TTS (bundled
piper voice), brain (local intents only, no LLM, its SQLite memory in a fresh data dir) and hub on
127.0.0.1. N in-process satellites (:class:`jarvis.server.hub.client.HubClient`, authenticated with
the hub token, one user each) stream piper-spoken commands at real time, one turn after another with
a short random pause, and ask it to "remember that ..." now and then.

The hostile client connects from another loopback address (127.0.0.2, a second device on the LAN:
the connection caps are per address) and, on each of the four Wyoming ports, keeps
:data:`IDLE_PER_PORT` idle connections open, trickles :data:`SLOW_PER_PORT` slowloris frames, sends
malformed frames, and keeps trying to open more than the cap allows; on the TTS port it floods
synthesis requests past the per-connection queue, on the STT port it uploads 320 s utterances
three at a time (past the per-utterance cap and the server's audio budget), on the brain port it
asks as someone else without the peer secret, on the hub port it guesses tokens. All of it stays
within the bounds the servers enforce; the point is that the satellites are still served.

At 1/4, 1/2 and 3/4 of the run the STT, the TTS and then the brain server is stopped (every
connection cut; the brain closes its SQLite store) and, ``--down-s`` later, started again on the
same port (STT and TTS keep their loaded model, as a restarted container with a warm page cache
would load it in a second; the brain reopens its store). A *kill window* runs from the stop to
``--grace-s`` after the restart; turns that overlap one are counted apart.

Reported: turns completed vs attempted (outside and inside kill windows), latency of the satellites'
turns (endpoint decision → first answer audio, p50/p95, as in ``jarvis bench e2e``), RSS of the
process at start and end (``/proc/self/status``), and acknowledged writes lost: every fact a
satellite was told "Okay, I'll remember that" about must be in ``memory.sqlite3`` at the end.
Goals: ≥ 99% of turns completed outside the kill windows, RSS growth ≤ 10%, 0 writes lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.snd import Played
from wyoming.tts import Synthesize

from jarvis.protocol.service import DEFAULT_CONNECTION_LIMITS
from jarvis.protocol.wire import ProtocolError, encode_event, read_event

from .procs import fresh_data_dir
from .report import markdown_table, median, percentile, write_section

_LOGGER = logging.getLogger(__name__)

RATE = 16000
LEAD_S = 0.3
TAIL_S = 2.0
TURN_TIMEOUT_S = 30.0
"""A turn with no answer after this long counts as failed."""
ATTACK_ADDRESS = "127.0.0.2"
"""Where the hostile client connects from: another address than the satellites (127.0.0.1)."""
IDLE_PER_PORT = 16
SLOW_PER_PORT = 8
JUNK_PER_S = 4.0
"""Malformed frames per second per port (each on a new connection)."""
OVER_CAP_EVERY_S = 5.0
OVER_CAP_TRIES = 16
TTS_FLOODERS = 2
TTS_FLOOD_BURST = 40
"""Synthesis requests sent at once on one connection (the TTS queues 16 and refuses the rest)."""
TTS_FLOOD_PAUSE_S = 5.0
STT_UPLOADS = 3
STT_UPLOAD_S = 320
STT_UPLOAD_EVERY_S = 20.0
SPOOF_EVERY_S = 1.0
WRONG_TOKEN_EVERY_S = 2.0
RSS_EVERY_S = 5.0
ACK = "remember that"
"""What the brain's answer to a stored fact says ("Okay, I'll remember that.")."""


@dataclass(frozen=True)
class Command:
    text: str
    expect: str | None = None
    """Regex the answer should match (None: any answer is right)."""
    fact: bool = False
    """A "remember that ..." command: an acknowledged write."""


COMMANDS: tuple[Command, ...] = (
    Command("What time is it?"),
    Command("What is seven times six?", r"42|forty.two"),
    Command("Remember that the keys are in the blue bowl.", ACK, fact=True),
    Command("What is twelve plus five?", r"17|seventeen"),
    Command("What's the date today?"),
    Command("Remember that my bike is in the garage.", ACK, fact=True),
    Command("What is nine times eight?", r"72|seventy.two"),
    Command("Remember that I like green tea.", ACK, fact=True),
)

MALFORMED: tuple[bytes, ...] = (
    b"this is not json\n",
    b"\xff\xfe\xfd\n",
    b"[1, 2, 3]\n",
    b'{"type": 5}\n',
    b'{"type": "describe", "data_length": -5}\n',
    b'{"type": "describe", "data_length": 1000000000}\n',
    b'{"type": "describe", "payload_length": "10"}\n',
    b'{"type": "describe", "data_length": 8}\nnot json',
    b'{"type": "describe", "data": {"x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}}\n",
    b'{"type": "describe", "data_length": ' + b"9" * 5000 + b"}\n",
    b'{"type": "describe", "payload_length": 100}\n' + b"\x00" * 10,
)


# -- results --------------------------------------------------------------------------------------
@dataclass
class TurnRecord:
    satellite: str
    text: str
    phase: str
    """``baseline`` (before the attack) or ``soak``."""
    started: float
    ended: float = 0.0
    completed: bool = False
    understood: bool = False
    error: str | None = None
    latency_s: float | None = None
    """``voice-stopped`` → first answer audio."""
    transcript: str = ""
    answer: str = ""
    acknowledged_fact: bool = False
    in_kill_window: bool = False


@dataclass
class KillWindow:
    service: str
    killed_at: float
    restarted_at: float = 0.0
    until: float = 0.0
    restart_s: float = 0.0
    """How long the restart itself took (bind, and for the brain its store and intents)."""

    def overlaps(self, start: float, end: float) -> bool:
        return start < self.until and end > self.killed_at


@dataclass
class AttackStats:
    connections: Counter[str] = field(default_factory=Counter)
    """Connections opened, per port name."""
    connect_failures: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    """``port:code`` of every ``error`` the attacker received."""
    closed_by_server: Counter[str] = field(default_factory=Counter)
    tts_answers: int = 0
    spoof_answers: int = 0

    def error(self, port: str, event: Event | None) -> None:
        if event is not None and Error.is_type(event.type):
            self.codes[f"{port}:{Error.from_event(event).code or '-'}"] += 1


class LogCounter(logging.Handler):
    """Counts the WARNING-or-worse records logged while attached (how much an attack can log)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.by_level: Counter[str] = Counter()
        self.by_logger: Counter[str] = Counter()
        self.chars = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.by_level[record.levelname] += 1
        self.by_logger[record.name] += 1
        with contextlib.suppress(Exception):
            self.chars += len(record.getMessage())


@dataclass
class SoakResults:
    sats: int
    seconds: float
    turns: list[TurnRecord] = field(default_factory=list)
    windows: list[KillWindow] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_max_mb: float = 0.0
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    """(seconds into the attack, MiB) every few seconds."""
    log: LogCounter = field(default_factory=LogCounter)
    rss_trimmed_start_mb: float = 0.0
    rss_trimmed_end_mb: float = 0.0
    """RSS right after ``malloc_trim(0)``: what is left when glibc returns its free heap pages."""
    acknowledged_writes: int = 0
    stored_facts: int = 0
    lost_writes: list[str] = field(default_factory=list)
    attack: AttackStats = field(default_factory=AttackStats)
    attack_enabled: bool = True
    down_s: float = 0.0
    grace_s: float = 0.0
    started_at: float = 0.0
    """Monotonic time the attack (and the kill schedule) started."""
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The figures, as plain data (what the test checks and ``--json`` prints)."""
        soak = [t for t in self.turns if t.phase == "soak"]
        outside = [t for t in soak if not t.in_kill_window]
        inside = [t for t in soak if t.in_kill_window]
        base = [t for t in self.turns if t.phase == "baseline"]

        def counts(turns: list[TurnRecord]) -> dict[str, Any]:
            done = [t for t in turns if t.completed]
            lat = [t.latency_s for t in done if t.latency_s is not None]
            return {
                "attempted": len(turns),
                "completed": len(done),
                "understood": sum(t.understood for t in done),
                "completed_pct": 100.0 * len(done) / len(turns) if turns else float("nan"),
                "latency_p50_ms": median(lat) * 1000 if lat else float("nan"),
                "latency_p95_ms": percentile(lat, 95) * 1000 if lat else float("nan"),
            }

        growth = (self.rss_end_mb / self.rss_start_mb - 1) * 100 if self.rss_start_mb else float("nan")
        return {
            "satellites": self.sats,
            "seconds": self.seconds,
            "baseline": counts(base),
            "outside_kill_windows": counts(outside),
            "inside_kill_windows": counts(inside),
            "all": counts(soak),
            "kill_windows": [asdict(w) for w in self.windows],
            "rss_start_mb": self.rss_start_mb,
            "rss_end_mb": self.rss_end_mb,
            "rss_max_mb": self.rss_max_mb,
            "rss_growth_pct": growth,
            "rss_trimmed_start_mb": self.rss_trimmed_start_mb,
            "rss_trimmed_end_mb": self.rss_trimmed_end_mb,
            "rss_trimmed_growth_pct": (self.rss_trimmed_end_mb / self.rss_trimmed_start_mb - 1) * 100
            if self.rss_trimmed_start_mb
            else float("nan"),
            "rss_samples": [(round(t), round(mb)) for t, mb in self.rss_samples],
            "acknowledged_writes": self.acknowledged_writes,
            "stored_facts": self.stored_facts,
            "acknowledged_writes_lost": len(self.lost_writes),
            "attack": {
                "enabled": self.attack_enabled,
                "connections": dict(self.attack.connections),
                "connect_failures": dict(self.attack.connect_failures),
                "errors": dict(self.attack.codes),
                "closed_by_server": dict(self.attack.closed_by_server),
                "tts_answers": self.attack.tts_answers,
                "spoof_answers": self.attack.spoof_answers,
            },
            "log": {
                "by_level": dict(self.log.by_level),
                "by_logger": dict(self.log.by_logger.most_common(8)),
                "chars": self.log.chars,
            },
            "failures": [f"{t.satellite} {t.text!r}: {t.error}" for t in soak if not t.completed][:20],
            "wall_s": self.wall_s,
        }


def malloc_trim() -> bool:
    """Ask glibc to give free heap memory back to the OS (False where there is no glibc)."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def rss_mb() -> float:
    """Resident set size of this process (MiB), from /proc/self/status (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# -- the stack ------------------------------------------------------------------------------------
class Stack:
    """STT, TTS, brain and hub in this process, each server restartable on its port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.token = ""
        self.servers: dict[str, Any] = {}
        self.ports: dict[str, int] = {}
        self._stt_engine: Any = None
        self._tts_engine: Any = None
        self.hub: Any = None

    async def start(self) -> None:
        from jarvis.server.config import HubSettings, Settings
        from jarvis.server.hub.hub import Hub
        from jarvis.server.serve import use_larger_default_executor
        from jarvis.server.stt.engine import SttEngine, SttSettings
        from jarvis.server.tokens import generate_token
        from jarvis.server.tts.engine import PiperEngine, VoiceSettings

        use_larger_default_executor()  # as jarvis serve does
        self._stt_engine = SttEngine(SttSettings())
        self._tts_engine = await asyncio.to_thread(PiperEngine.load, VoiceSettings())
        for name in ("stt", "tts", "brain"):
            await self._start(name, 0)
        await self._stt_engine.model()
        self.token = generate_token()
        self.hub = Hub(
            Settings(hub=HubSettings(port=0)),
            self.token,
            stt=[self.uri("stt")],
            tts=[self.uri("tts")],
            brain=[self.uri("brain")],
        )
        await self.hub.start()
        self.ports["hub"] = self.hub.port

    def uri(self, name: str) -> str:
        return f"tcp://127.0.0.1:{self.ports[name]}"

    async def _start(self, name: str, port: int) -> None:
        uri = f"tcp://127.0.0.1:{port}"
        if name == "stt":
            from jarvis.server.stt.__main__ import start_stt

            server = await start_stt(uri, engine=self._stt_engine)
        elif name == "tts":
            from jarvis.server.tts.__main__ import start_tts

            server = await start_tts(uri, engine=self._tts_engine)
        else:
            from jarvis.server.brain.handler import BrainSettings, start_brain
            from jarvis.server.brain.llm.none import NoLLM

            # memory=None: the brain opens (and on stop closes) <data dir>/memory.sqlite3 itself
            server = await start_brain(uri, NoLLM(), probe=False, settings=BrainSettings(onboarding=False))
        self.servers[name] = server
        self.ports[name] = server.port

    async def kill(self, name: str) -> None:
        server = self.servers.pop(name)
        await server.stop()

    async def restart(self, name: str) -> None:
        for attempt in range(50):  # the port is ours; a bind can race a closing socket
            try:
                await self._start(name, self.ports[name])
                return
            except OSError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        for name in list(self.servers):
            await self.kill(name)
        if self._stt_engine is not None:
            await self._stt_engine.close()
        if self._tts_engine is not None:
            self._tts_engine.close()


# -- satellites -----------------------------------------------------------------------------------
def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


async def _turn(client: Any, pcm: bytes, record: TurnRecord) -> bool:
    """One voice turn; fills ``record``. Returns whether the connection is still in step (the turn
    ended with the hub's metrics), else the caller reconnects."""
    stopped = asyncio.Event()
    first_audio: float | None = None
    stopped_at: float | None = None
    sentences: list[str] = []
    got_metrics = False

    async def reader() -> None:
        nonlocal first_audio, stopped_at, got_metrics
        error_at: float | None = None
        while True:
            timeout = TURN_TIMEOUT_S if error_at is None else 2.0  # after an error, metrics come at once
            async with asyncio.timeout(timeout):
                event = await client.conn.read_event()
            if event is None:
                raise ConnectionError("hub closed the connection")
            now = time.monotonic()
            if event.type in ("voice-stopped", "transcript", "error"):
                stopped.set()
            if event.type == "voice-stopped" and stopped_at is None:
                stopped_at = now
            elif Transcript.is_type(event.type):
                record.transcript = Transcript.from_event(event).text or ""
            elif Synthesize.is_type(event.type):
                sentences.append(Synthesize.from_event(event).text)
            elif AudioChunk.is_type(event.type) and first_audio is None:
                first_audio = now
            elif Error.is_type(event.type) and record.error is None:
                err = Error.from_event(event)
                record.error = f"{err.code}: {err.text}"
                error_at = now
            elif event.type == "jarvis-turn-metrics":
                got_metrics = True
                return

    task = asyncio.create_task(reader())
    try:
        await client.start_turn()
        await client.stream(pcm, realtime=True, stop_on=stopped)
        await task
    except TimeoutError:
        if record.error is None:
            record.error = "no answer" if task.done() or stopped.is_set() else "timeout"
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if got_metrics:
        await client.send(AudioStop().event())
        await client.send(Played().event())
    record.answer = " ".join(sentences)
    record.completed = record.error is None and first_audio is not None and got_metrics
    if record.completed and stopped_at is not None and first_audio is not None:
        record.latency_s = first_audio - stopped_at
    return got_metrics


async def _satellite(
    index: int,
    stack: Stack,
    audio: dict[str, bytes],
    phases: list[tuple[str, float | int]],
    records: list[TurnRecord],
) -> None:
    """Turns one after another: for each (phase, limit), ``limit`` turns (int) or until a monotonic
    deadline (float)."""
    from jarvis.server.hub.client import HubClient

    rng = random.Random(index)
    name = f"soak-{index}"
    client: Any = None
    n = index
    try:
        for phase, limit in phases:
            done = 0
            while (done < limit) if isinstance(limit, int) else (time.monotonic() < limit):
                command = COMMANDS[n % len(COMMANDS)]
                n += 1
                done += 1
                record = TurnRecord(name, command.text, phase, started=time.monotonic())
                try:
                    if client is None:
                        client = await HubClient.connect(stack.uri("hub"), stack.token, name, user_id=name)
                    if not await _turn(client, audio[command.text], record):
                        await client.close()
                        client = None
                except Exception as err:  # refused, reset, timed out: a failed turn; reconnect
                    record.error = record.error or f"{type(err).__name__}: {err}"
                    record.completed = False
                    if client is not None:
                        await client.close()
                        client = None
                    await asyncio.sleep(0.5)
                record.ended = time.monotonic()
                if record.completed and command.expect:
                    record.understood = bool(re.search(command.expect, record.answer, re.I))
                elif record.completed:
                    record.understood = True
                record.acknowledged_fact = command.fact and record.completed and ACK in record.answer.lower()
                records.append(record)
                await asyncio.sleep(rng.uniform(0.3, 1.5))
    finally:
        if client is not None:
            await client.close()


# -- the hostile client ---------------------------------------------------------------------------
class Attacker:
    """Floods every port from :data:`ATTACK_ADDRESS`, within the servers' bounds, until stopped."""

    def __init__(self, stack: Stack, stats: AttackStats, rng: random.Random) -> None:
        self.stack = stack
        self.stats = stats
        self.rng = rng
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _open(self, port: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            async with asyncio.timeout(5):
                pair = await asyncio.open_connection(
                    "127.0.0.1", self.stack.ports[port], local_addr=(ATTACK_ADDRESS, 0), limit=1 << 16
                )
        except (OSError, TimeoutError):
            self.stats.connect_failures[port] += 1
            return None
        self.stats.connections[port] += 1
        return pair

    @staticmethod
    async def _close(writer: asyncio.StreamWriter) -> None:
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await writer.wait_closed()

    async def _pause(self, seconds: float) -> bool:
        """Sleep; True when the attack is over."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stopping.wait()
        return self.stopping.is_set()

    async def _drain_errors(self, port: str, reader: asyncio.StreamReader, timeout: float | None) -> None:
        """Read what the server says until it closes (or ``timeout``), counting its errors."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                while (event := await read_event(reader)) is not None:
                    self.stats.error(port, event)
        self.stats.closed_by_server[port] += 1

    def _loop(self, name: str, body: Callable[[], Awaitable[None]], pause: float) -> None:
        async def forever() -> None:
            while not self.stopping.is_set():
                try:
                    await body()
                except (OSError, ProtocolError, TimeoutError):
                    pass
                except Exception:  # an attacker's bug must not end the soak
                    _LOGGER.exception("attack %s failed", name)
                if await self._pause(pause):
                    return

        self._tasks.append(asyncio.create_task(forever(), name=f"attack {name}"))

    def start(self) -> None:
        for port in ("hub", "stt", "tts", "brain"):
            for i in range(IDLE_PER_PORT):
                self._loop(f"{port} idle {i}", lambda p=port: self._idle(p), 0.5)  # type: ignore[misc]
            for i in range(SLOW_PER_PORT):
                self._loop(f"{port} slow {i}", lambda p=port: self._slowloris(p), 0.5)  # type: ignore[misc]
            self._loop(f"{port} junk", lambda p=port: self._junk(p), 1 / JUNK_PER_S)  # type: ignore[misc]
            self._loop(f"{port} over cap", lambda p=port: self._over_cap(p), OVER_CAP_EVERY_S)  # type: ignore[misc]
        for i in range(TTS_FLOODERS):
            self._loop(f"tts flood {i}", self._tts_flood, TTS_FLOOD_PAUSE_S)
        self._loop("stt uploads", self._stt_uploads, STT_UPLOAD_EVERY_S)
        self._loop("brain spoof", self._brain_spoof, SPOOF_EVERY_S)
        self._loop("hub tokens", self._wrong_token, WRONG_TOKEN_EVERY_S)

    async def stop(self) -> None:
        self.stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _idle(self, port: str) -> None:
        """An idle connection, held until the server closes it (the hub's auth deadline) or the end."""
        pair = await self._open(port)
        if pair is None:
            return
        reader, writer = pair
        try:
            waiter = asyncio.create_task(self._drain_errors(port, reader, None))
            stop = asyncio.create_task(self.stopping.wait())
            await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, stop):
                task.cancel()
        finally:
            await self._close(writer)

    async def _slowloris(self, port: str) -> None:
        """A header that trickles in one byte a second and never ends (the frame deadline cuts it)."""
        pair = await self._open(port)
        if pair is None:
            return
        reader, writer = pair
        drain = asyncio.create_task(self._drain_errors(port, reader, None))
        try:
            writer.write(b'{"type": "describe", "data": {"x": "')
            while not drain.done() and not self.stopping.is_set():
                writer.write(b"a")
                await writer.drain()
                if await self._pause(1.0):
                    break
        finally:
            drain.cancel()
            await self._close(writer)

    async def _junk(self, port: str) -> None:
        pair = await self._open(port)
        if pair is None:
            return
        reader, writer = pair
        try:
            writer.write(self.rng.choice(MALFORMED))
            await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()
            await self._drain_errors(port, reader, 5.0)
        finally:
            await self._close(writer)

    async def _over_cap(self, port: str) -> None:
        """More connections at once than one address may hold: the extra ones are refused."""
        pairs = [p for p in await asyncio.gather(*(self._open(port) for _ in range(OVER_CAP_TRIES))) if p]
        try:
            await asyncio.gather(*(self._drain_errors(port, r, 1.0) for r, _ in pairs))
        finally:
            await asyncio.gather(*(self._close(w) for _, w in pairs))

    async def _tts_flood(self) -> None:
        pair = await self._open("tts")
        if pair is None:
            return
        reader, writer = pair
        try:
            for i in range(TTS_FLOOD_BURST):
                writer.write(encode_event(Synthesize(text=f"Flood sentence number {i}.").event()))
            await writer.drain()
            answered = 0
            async with asyncio.timeout(60):
                while answered < TTS_FLOOD_BURST and (event := await read_event(reader)) is not None:
                    if Error.is_type(event.type):
                        self.stats.error("tts", event)
                        answered += 1
                    elif AudioStop.is_type(event.type):
                        self.stats.tts_answers += 1
                        answered += 1
        finally:
            await self._close(writer)

    async def _stt_uploads(self) -> None:
        async def upload() -> None:
            pair = await self._open("stt")
            if pair is None:
                return
            reader, writer = pair
            drain = asyncio.create_task(self._drain_errors("stt", reader, None))
            try:
                writer.write(encode_event(Transcribe(language="en").event()))
                writer.write(encode_event(AudioStart(RATE, 2, 1).event()))
                second = encode_event(AudioChunk(RATE, 2, 1, bytes(RATE * 2)).event())
                for _ in range(STT_UPLOAD_S):
                    if drain.done() or self.stopping.is_set():
                        break
                    writer.write(second)
                    await writer.drain()
                await self._pause(3.0)  # hold the audio a moment, then leave without audio-stop
            finally:
                drain.cancel()
                await self._close(writer)

        await asyncio.gather(*(upload() for _ in range(STT_UPLOADS)))

    async def _brain_spoof(self) -> None:
        """Asks as soak-0 without the peer secret: answered as the default user."""
        pair = await self._open("brain")
        if pair is None:
            return
        reader, writer = pair
        try:
            context = {"user_id": "soak-0", "satellite_id": "soak-0", "conversation_id": "spoof"}
            writer.write(encode_event(Transcript(text="what is my name", context=context).event()))
            await writer.drain()
            async with asyncio.timeout(10):
                while (event := await read_event(reader)) is not None:
                    if event.type in ("handled-stop", "handled", "not-handled"):
                        self.stats.spoof_answers += 1
                        break
                    self.stats.error("brain", event)
        finally:
            await self._close(writer)

    async def _wrong_token(self) -> None:
        from jarvis.protocol.events import Auth

        pair = await self._open("hub")
        if pair is None:
            return
        reader, writer = pair
        try:
            writer.write(encode_event(Auth("not-the-token", "intruder").event()))
            await writer.drain()
            await self._drain_errors("hub", reader, 15.0)
        finally:
            await self._close(writer)


# -- the run --------------------------------------------------------------------------------------
def _check_writes(results: SoakResults, db_path: Path) -> None:
    """Every acknowledged fact must be in SQLite: matched per user against the stored facts."""
    acked = [t for t in results.turns if t.acknowledged_fact]
    results.acknowledged_writes = len(acked)
    stored: dict[str, list[str]] = {}
    if db_path.exists():
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            for user, fact in db.execute("SELECT user_id, fact FROM facts"):
                stored.setdefault(user, []).append(_squash(fact))
        finally:
            db.close()
    results.stored_facts = sum(len(v) for v in stored.values())
    for turn in acked:
        said = _squash(turn.transcript)
        facts = stored.get(turn.satellite, [])
        match = next((f for f in facts if f and f in said), None)
        if match is None:
            results.lost_writes.append(f"{turn.satellite}: {turn.transcript!r}")
        else:
            facts.remove(match)


async def run_soak(
    *,
    minutes: float = 10.0,
    sats: int = 4,
    down_s: float = 5.0,
    grace_s: float = 15.0,
    baseline_turns: int = 2,
    attack: bool = True,
    data_dir: Path | None = None,
) -> SoakResults:
    from .e2e import synthesize_command

    seconds = minutes * 60
    results = SoakResults(sats=sats, seconds=seconds, attack_enabled=attack, down_s=down_s, grace_s=grace_s)
    texts = [c.text for c in COMMANDS]
    spoken = await asyncio.to_thread(lambda: [synthesize_command(t) for t in texts])
    lead, tail = bytes(int(LEAD_S * RATE) * 2), bytes(int(TAIL_S * RATE) * 2)
    audio = {t: lead + pcm + tail for t, pcm in zip(texts, spoken, strict=True)}

    with fresh_data_dir(data_dir, prefix="jarvis-soak-") as directory:
        stack = Stack(directory)
        await stack.start()
        attacker = Attacker(stack, results.attack, random.Random(7))
        wall = time.monotonic()
        try:
            # Warm-up (first decode and synthesis allocations) and a baseline without the attack.
            warm: list[TurnRecord] = []
            await _satellite(0, stack, audio, [("warm-up", 1)], warm)
            if baseline_turns:
                await asyncio.gather(
                    *(
                        _satellite(i, stack, audio, [("baseline", baseline_turns)], results.turns)
                        for i in range(sats)
                    )
                )
            gc.collect()
            results.rss_start_mb = rss_mb()
            malloc_trim()
            results.rss_trimmed_start_mb = rss_mb()
            start = results.started_at = time.monotonic()
            deadline = start + seconds
            logging.getLogger().addHandler(results.log)
            if attack:
                attacker.start()

            async def sample_rss() -> None:
                while True:
                    value = rss_mb()
                    results.rss_samples.append((time.monotonic() - start, value))
                    results.rss_max_mb = max(results.rss_max_mb, value)
                    await asyncio.sleep(RSS_EVERY_S)

            async def kills() -> None:
                for fraction, name in ((0.25, "stt"), (0.5, "tts"), (0.75, "brain")):
                    await asyncio.sleep(max(0.0, start + fraction * seconds - time.monotonic()))
                    window = KillWindow(name, killed_at=time.monotonic())
                    results.windows.append(window)
                    _LOGGER.info("soak: stopping %s", name)
                    await stack.kill(name)
                    await asyncio.sleep(down_s)
                    before = time.monotonic()
                    await stack.restart(name)
                    window.restarted_at = time.monotonic()
                    window.restart_s = window.restarted_at - before
                    window.until = window.restarted_at + grace_s
                    _LOGGER.info("soak: %s restarted in %.2f s", name, window.restart_s)

            sampler = asyncio.create_task(sample_rss())
            killer = asyncio.create_task(kills())
            try:
                await asyncio.gather(
                    *(_satellite(i, stack, audio, [("soak", deadline)], results.turns) for i in range(sats))
                )
                await killer  # a short run may end before the last restart: wait for it
            finally:
                killer.cancel()
                sampler.cancel()
                await asyncio.gather(killer, sampler, return_exceptions=True)
                await attacker.stop()
                logging.getLogger().removeHandler(results.log)
            gc.collect()
            results.rss_end_mb = rss_mb()
            results.rss_max_mb = max(results.rss_max_mb, results.rss_end_mb)
            malloc_trim()
            results.rss_trimmed_end_mb = rss_mb()
        finally:
            results.wall_s = time.monotonic() - wall
            with contextlib.suppress(Exception):
                await attacker.stop()
            await stack.stop()
        for turn in results.turns:
            turn.in_kill_window = turn.phase == "soak" and any(
                w.overlaps(turn.started, turn.ended or turn.started) for w in results.windows
            )
        _check_writes(results, directory / "memory.sqlite3")
    return results


# -- the report -----------------------------------------------------------------------------------
def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.1f}%"  # NaN: no turns


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.0f}"


def render(results: SoakResults, command: str) -> str:
    s = results.summary()
    rows = []
    under = "under attack" if results.attack_enabled else "soak (no attack)"
    for label, key in (
        ("baseline, no attack", "baseline"),
        (f"{under}, outside kill windows", "outside_kill_windows"),
        (f"{under}, inside kill windows", "inside_kill_windows"),
        (f"{under}, all", "all"),
    ):
        c = s[key]
        rows.append(
            [
                label,
                c["attempted"],
                c["completed"],
                _pct(c["completed_pct"]),
                c["understood"],
                _ms(c["latency_p50_ms"]),
                _ms(c["latency_p95_ms"]),
            ]
        )
    turns = markdown_table(
        ["turns", "attempted", "completed", "completed %", "answer right", "p50 ms", "p95 ms"], rows
    )
    windows = markdown_table(
        ["service stopped", "at s", "down s", "restart took s", "window ends at s"],
        [
            [
                w.service,
                f"{w.killed_at - results.started_at:.0f}",
                f"{w.restarted_at - w.killed_at:.1f}",
                f"{w.restart_s:.2f}",
                f"{w.until - results.started_at:.0f}",
            ]
            for w in results.windows
        ],
    )
    attack = s["attack"]
    codes = ", ".join(f"{k} {v}" for k, v in sorted(attack["errors"].items(), key=lambda kv: -kv[1]))
    opened = ", ".join(f"{k} {v}" for k, v in sorted(attack["connections"].items()))
    outside = s["outside_kill_windows"]["completed_pct"]
    growth = s["rss_growth_pct"]
    lost = s["acknowledged_writes_lost"]
    goals = [
        f"turns completed outside the kill windows {_pct(outside)} (goal ≥ 99%: "
        f"{'met' if outside >= 99 else 'NOT met'})",
        f"RSS {s['rss_start_mb']:.0f} → {s['rss_end_mb']:.0f} MiB ({growth:+.1f}%, max "
        f"{s['rss_max_mb']:.0f} MiB; goal ≤ +10%: {'met' if growth <= 10 else 'NOT met'})",
        f"acknowledged writes lost {lost} of {s['acknowledged_writes']} "
        f"(goal 0: {'met' if lost == 0 else 'NOT met'}; {s['stored_facts']} facts stored: a write "
        "the brain committed but whose answer a kill cut off is stored and not acknowledged)",
    ]
    trimmed = s["rss_trimmed_growth_pct"]
    samples = results.rss_samples
    step = max(1, len(samples) // 10)
    curve = ", ".join(f"{t:.0f} s {mb:.0f}" for t, mb in samples[::step])
    rss_note = (
        f"RSS (MiB) over the run: {curve}; after the attack {s['rss_end_mb']:.0f}. After glibc's "
        f"`malloc_trim(0)` (free heap pages given back): {s['rss_trimmed_start_mb']:.0f} at the start, "
        f"{s['rss_trimmed_end_mb']:.0f} at the end ({trimmed:+.1f}%)."
    )
    body = [
        "## Soak: satellites under attack, services killed and restarted",
        "",
        f"In one process on 127.0.0.1, like `jarvis serve`: the real STT (bundled tiny.en), TTS "
        f"(bundled piper voice), brain (local intents only, no LLM; SQLite memory in a fresh data dir) "
        f"and hub. {results.sats} in-process satellites, each authenticated with the hub token as its own "
        f"user, take piper-spoken voice turns at real time one after another (0.3-1.5 s apart) for "
        f'{results.seconds / 60:.0f} min: the time, the date, arithmetic, and "remember that ..." '
        "(an acknowledged write). Meanwhile a hostile client on another loopback address "
        f"({ATTACK_ADDRESS}, one LAN device) holds {IDLE_PER_PORT} idle and {SLOW_PER_PORT} slowloris "
        f"connections on each of the hub, STT, TTS and brain ports, sends {JUNK_PER_S:g} malformed "
        f"frames a second to each, opens {OVER_CAP_TRIES} more every {OVER_CAP_EVERY_S:g} s than the "
        f"per-address cap ({DEFAULT_CONNECTION_LIMITS.max_per_address}) allows, floods the TTS with "
        f"bursts of {TTS_FLOOD_BURST} requests on {TTS_FLOODERS} connections, uploads {STT_UPLOADS} "
        f"× {STT_UPLOAD_S} s of audio to the STT every {STT_UPLOAD_EVERY_S:g} s, asks the brain as "
        "another user without the peer secret, and guesses hub tokens. "
        "At 1/4, 1/2 and 3/4 of the run the STT, TTS and brain server is stopped (connections cut, the "
        "brain's store closed) and restarted on its port (models kept loaded); a kill window runs "
        f"from the stop to {results.grace_s:g} s after the restart ({results.down_s:g} s down). "
        "Latency: `voice-stopped` → first answer audio at the satellite; 'answer right': the "
        "arithmetic result or the memory acknowledgement is in the answer (time and date: any answer).",
        "",
        turns,
        "",
        windows,
        "",
        "Goals: " + "; ".join(goals) + ".",
        "",
        rss_note,
        "",
        f"Attack: connections opened {opened}; errors the servers answered: {codes or 'none'}; TTS "
        f"requests synthesized for the attacker {attack['tts_answers']}; spoofed brain requests "
        f"answered (as the default user) {attack['spoof_answers']}.",
    ]
    log = s["log"]
    per_min = 60 / results.seconds if results.seconds else 0.0
    levels = ", ".join(f"{n} {level}" for level, n in sorted(log["by_level"].items())) or "none"
    loggers = ", ".join(f"`{name}` {n}" for name, n in log["by_logger"].items())
    body += [
        "",
        f"Log during the attack: {levels} ({sum(log['by_level'].values()) * per_min:.0f} lines and "
        f"{log['chars'] * per_min / 1024:.0f} KiB of messages a minute); by logger: {loggers or 'none'}.",
    ]
    if s["failures"]:
        body += ["", f"Failed turns (first {len(s['failures'])}): " + "; ".join(s["failures"][:8])]
    if results.lost_writes:
        body += ["", "Lost writes: " + "; ".join(results.lost_writes[:8])]
    body += ["", f"Command: `{command}` ({results.wall_s:.0f} s)."]
    return "\n".join(body)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the soak runs (default 10)")
    parser.add_argument("--sats", type=int, default=4, help="satellites taking turns (default 4)")
    parser.add_argument("--down-s", type=float, default=5.0, help="how long each killed service stays down")
    parser.add_argument(
        "--grace-s", type=float, default=15.0, help="the kill window lasts this long after the restart"
    )
    parser.add_argument("--baseline-turns", type=int, default=2, help="turns per satellite before the attack")
    parser.add_argument("--no-attack", action="store_true", help="no hostile client (kills still happen)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")


async def run(args: argparse.Namespace) -> int:
    results = await run_soak(
        minutes=args.minutes,
        sats=args.sats,
        down_s=args.down_s,
        grace_s=args.grace_s,
        baseline_turns=args.baseline_turns,
        attack=not args.no_attack,
    )
    command = "jarvis bench soak" + (f" --minutes {args.minutes:g}" if args.minutes != 10 else "")
    command += f" --sats {args.sats}" if args.sats != 4 else ""
    body = render(results, command)
    print(body)
    summary = results.summary()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    if not args.no_write:
        write_section("soak", body)
    ok = summary["acknowledged_writes_lost"] == 0 and summary["all"]["completed"] > 0
    return 0 if ok else 1
