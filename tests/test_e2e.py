"""End to end: ``jarvis serve`` and headless ``jarvis satellite`` processes, real models, real sockets.

The satellite hears a piper-synthesized "Hey Jarvis, ..." from a WAV file, the answer it would play
is written to a WAV file, and that answer is transcribed by the server's own STT to check what Jarvis
said. The brain runs with ``--llm none`` (local intents only: time and timers need no LLM).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from speech import normalize, silence, speak, wer
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop

from jarvis.protocol.audio import convert
from jarvis.protocol.service import Connection
from jarvis.server.bench.procs import free_port
from jarvis.server.hub.client import HubClient, TurnResult

pytestmark = pytest.mark.slow

STARTUP_S = 120.0
TURN_S = 90.0


@dataclass
class Served:
    process: asyncio.subprocess.Process
    uris: dict[str, str]
    token: str
    data_dir: Path
    log: list[str] = field(default_factory=list)
    new_line: asyncio.Event = field(default_factory=asyncio.Event)
    _pump: asyncio.Task[None] | None = None

    async def wait_for_log(self, needle: str, timeout: float = 30.0) -> str:
        """The first log line that contains ``needle`` (waits for it)."""
        async with asyncio.timeout(timeout):
            seen = 0
            while True:
                for line in self.log[seen:]:
                    if needle in line:
                        return line
                seen = len(self.log)
                self.new_line.clear()
                await self.new_line.wait()


def _quiet_brain_config(data_dir: Path) -> None:
    """Short answers (no "tell me about yourself" after each) are transcribed more reliably."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "jarvis.toml"
    if not config.exists():
        config.write_text("[brain]\nonboarding = false\n")


@contextlib.asynccontextmanager
async def jarvis_serve(
    data_dir: Path,
    ports: dict[str, int] | None = None,
    extra: list[str] | None = None,
    zeroconf: bool = False,
) -> AsyncIterator[Served]:
    """``jarvis serve`` in a subprocess (ports 0 unless given), until it printed "Ready."."""
    ports = ports or {}
    argv = [
        sys.executable, "-m", "jarvis.protocol.cli", "serve", "--llm", "none", "--no-web",
        "--stt-port", str(ports.get("stt", 0)), "--tts-port", str(ports.get("tts", 0)),
        "--brain-port", str(ports.get("brain", 0)), "--hub-port", str(ports.get("hub", 0)),
        *(extra or []), *([] if zeroconf else ["--no-zeroconf"]),
    ]  # fmt: skip
    env = {**os.environ, "JARVIS_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    _quiet_brain_config(data_dir)
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    assert process.stdout is not None
    served = Served(process, {}, "", data_dir)
    try:
        async with asyncio.timeout(STARTUP_S):
            while True:
                raw = await process.stdout.readline()
                if not raw:
                    raise RuntimeError("jarvis serve exited:\n" + "\n".join(served.log[-30:]))
                line = raw.decode(errors="replace").rstrip()
                served.log.append(line)
                if match := re.match(r"\s+(stt|tts|brain|hub)\s+(tcp://\S+)", line):
                    served.uris[match[1]] = match[2]
                if match := re.match(r"Token(?: \(new\))?: (\S+)", line):
                    served.token = match[1]
                if line.startswith("Ready."):
                    break

        async def pump() -> None:
            assert process.stdout is not None
            while raw := await process.stdout.readline():
                served.log.append(raw.decode(errors="replace").rstrip())
                served.new_line.set()

        served._pump = asyncio.create_task(pump())
        yield served
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if served._pump is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(served._pump, 5)


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return path


def command_wav(path: Path, command: str) -> Path:
    pcm = silence(0.5) + speak("Hey Jarvis.") + silence(0.25) + speak(command) + silence(2.0)
    return write_wav(path, pcm)


async def run_satellite(served: Served, satellite_id: str, wav_in: Path, wav_out: Path) -> str:
    """Run ``jarvis satellite --once`` headless; returns its log. Fails on a non-zero exit."""
    argv = [
        sys.executable, "-m", "jarvis.protocol.cli", "satellite", "--server", served.uris["hub"],
        "--token", served.token, "--satellite-id", satellite_id, "--input-wav", str(wav_in),
        "--output-wav", str(wav_out), "--once", "--turn-timeout", str(TURN_S),
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(TURN_S + 30):
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = out.decode(errors="replace")
    assert process.returncode == 0, log[-3000:]
    return log


async def transcribe_wav(stt_uri: str, path: Path) -> str:
    """What the server's STT hears in a WAV file."""
    with wave.open(str(path), "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        pcm = wav.readframes(wav.getnframes())
    assert pcm, f"{path} is empty"
    pcm = convert(pcm, rate, width, channels)
    async with await Connection.open(stt_uri) as conn:
        await conn.write_event(Transcribe(language="en").event())
        await conn.write_event(AudioStart(16000, 2, 1).event())
        for offset in range(0, len(pcm), 32000):
            await conn.write_event(AudioChunk(16000, 2, 1, pcm[offset : offset + 32000]).event())
        await conn.write_event(AudioStop().event())
        while (event := await conn.read_event(timeout=60)) is not None:
            if Transcript.is_type(event.type):
                return Transcript.from_event(event).text
    raise AssertionError("STT closed without a transcript")


def time_phrases(before: datetime, after: datetime) -> list[str]:
    """How the brain says each minute from a minute before ``before`` to a minute after ``after``."""
    phrases = []
    t = (before - timedelta(minutes=1)).replace(second=0, microsecond=0)
    while t <= after + timedelta(minutes=1):
        phrases.append(f"It's {t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}")
        t += timedelta(minutes=1)
    return phrases


def says_the_time(heard: str, before: datetime, after: datetime) -> bool:
    """The answer says a time within a minute of [before, after].

    Whisper writes times as "8:41 AM", "8.41am", "842 AM", "8 41 AM", "9 0 3 AM" or "8:41 a.m.";
    any such numeric time must match exactly. When it wrote no numeric time (tiny.en sometimes
    mishears a word: "eight aching" for "eight eighteen"), the first words must match "it's H MM am"
    with the hour right and at most one other (non-number) word wrong.
    """
    phrases = time_phrases(before, after)
    # "9 0 3 AM" / "9 oh 3 AM" -> "9:03 AM"; "9 03 AM" -> "9:03 AM"
    heard = re.sub(r"\b(\d{1,2})\s+(?:0|oh)\s*(\d)\s*(?=[ap]\.?\s*m\b)", r"\1:0\2 ", heard, flags=re.I)
    heard = re.sub(r"\b(\d{1,2})\s+(\d{2})\s*(?=[ap]\.?\s*m\b)", r"\1:\2 ", heard, flags=re.I)
    numeric = re.search(r"\b(\d{1,2})[.:]?(\d{2})\s*([ap])\.?\s*m\b", heard, flags=re.I)
    if numeric:
        said = f"{int(numeric[1])}:{numeric[2]} {numeric[3].upper()}M"
        return any(phrase.endswith(said) for phrase in phrases)
    words = normalize(heard.replace("It is", "It's").replace("it is", "it's"))
    for phrase in phrases:
        expected = normalize(phrase)
        head = words[: len(expected)]
        hour_ok = len(head) > 1 and head[1] == expected[1]
        if not hour_ok or wer(" ".join(expected), " ".join(head)) > 1 / len(expected) + 1e-9:
            continue
        # the one wrong word must not be a number (a misheard minute would be a wrong time)
        wrong = [h for h, e in zip(head, expected, strict=False) if h != e]
        if not any(w in NUMBER_WORDS for w in wrong):
            return True
    return False


def confirms_timer(heard: str, amount: str, unit: str) -> bool:
    """ "Timer set for 3 seconds." as heard by tiny.en (which may write "Time reset for ...")."""
    words = normalize(heard)
    said_timer = any(w.startswith("time") or "set" in w for w in words)  # "Timer set", "I'merset"
    return amount in words and unit in words and said_timer


NUMBER_WORDS = set(normalize(" ".join(str(n) for n in range(60)))) | {"oh"}


@pytest.fixture(scope="module")
def module_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jarvis-e2e")


async def test_what_time_is_it_and_a_timer(tmp_path: Path) -> None:
    async with jarvis_serve(tmp_path / "data") as served:
        assert set(served.uris) == {"stt", "tts", "brain", "hub"}
        assert len(served.token) >= 32
        # what time is it?
        before = datetime.now()
        await run_satellite(served, "kitchen", command_wav(tmp_path / "q1.wav", "What time is it?"),
                            tmp_path / "a1.wav")  # fmt: skip
        after = datetime.now()
        heard = await transcribe_wav(served.uris["stt"], tmp_path / "a1.wav")
        assert says_the_time(heard, before, after), (heard, time_phrases(before, after))

        # a second turn: a timer, set from the same satellite
        await run_satellite(served, "kitchen", command_wav(tmp_path / "q2.wav", "Set a timer for 3 seconds."),
                            tmp_path / "a2.wav")  # fmt: skip
        heard = await transcribe_wav(served.uris["stt"], tmp_path / "a2.wav")
        assert confirms_timer(heard, "three", "seconds"), heard
        # the satellite exited after its turn (--once); the hub rings it when it comes back
        async with await HubClient.connect(served.uris["hub"], served.token, "kitchen") as back:
            ring = TurnResult()
            await back.read_turn(ring, timeout=30, until="timer-finished")
            assert ring.types()[-1] == "timer-finished"


async def test_two_satellites_at_once_get_their_own_answers(tmp_path: Path) -> None:
    async with jarvis_serve(tmp_path / "data") as served:
        before = datetime.now()
        await asyncio.gather(
            run_satellite(served, "kitchen", command_wav(tmp_path / "k.wav", "What time is it?"),
                          tmp_path / "k-out.wav"),
            run_satellite(served, "office", command_wav(tmp_path / "o.wav", "Set a timer for 10 minutes."),
                          tmp_path / "o-out.wav"),
        )  # fmt: skip
        after = datetime.now()
        kitchen = await transcribe_wav(served.uris["stt"], tmp_path / "k-out.wav")
        office = await transcribe_wav(served.uris["stt"], tmp_path / "o-out.wav")
        assert says_the_time(kitchen, before, after) and "timer" not in kitchen.lower(), kitchen
        assert confirms_timer(office, "ten", "minutes"), office


async def test_satellite_reconnects_after_a_server_restart(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("stt", "tts", "brain", "hub")}
    idle = write_wav(tmp_path / "idle.wav", silence(1.0))
    data = tmp_path / "data"
    async with jarvis_serve(data, ports) as served:
        argv = [
            sys.executable, "-m", "jarvis.protocol.cli", "satellite", "--server", served.uris["hub"],
            "--token", served.token, "--satellite-id", "roamer", "--input-wav", str(idle),
            "--output-wav", str(tmp_path / "out.wav"), "--reconnect-min", "0.2", "--reconnect-max", "1",
        ]  # fmt: skip
        satellite = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            await served.wait_for_log("Satellite roamer", timeout=60)
        except BaseException:
            satellite.kill()
            await satellite.wait()
            raise
    try:
        assert satellite.returncode is None, "the satellite exited when the server went away"
        async with jarvis_serve(data, ports) as again:
            await again.wait_for_log("Satellite roamer", timeout=60)
            async with await HubClient.connect(again.uris["hub"], again.token, "probe") as probe:
                result = await probe.text_turn("what time is it", end_stage="handle")
                assert result.sentences
        assert satellite.returncode is None
    finally:
        if satellite.returncode is None:
            satellite.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await satellite.wait()
            except TimeoutError:
                satellite.kill()
                await satellite.wait()
