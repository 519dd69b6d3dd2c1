"""The satellite against a hub test double speaking docs/satellite-protocol.md over real TCP.

``HubTestDouble`` is a test double of the hub (``jarvis.server.hub``): it authenticates with a
token, waits for a turn's audio, answers with a fixed transcript, sentence and PCM, and records
everything it receives. ``SilentHubTestDouble`` accepts the token and then never answers (a hung
hub), for the ping timeout. The satellite itself is real: real wake word model on piper speech,
real WAV files, real sockets on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from speech import silence, speak
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.pipeline import RunPipeline
from wyoming.snd import Played
from wyoming.timer import TimerFinished, TimerStarted
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped

from jarvis.protocol.events import Auth, AuthOk, TurnMetrics
from jarvis.protocol.service import ServiceHandler, WyomingServer
from jarvis.protocol.wire import read_event, write_event
from jarvis.satellite.__main__ import add_arguments, settings_from_args
from jarvis.satellite.audio_io import WavFileSink, WavSource
from jarvis.satellite.satellite import ExitCode, Satellite, State
from jarvis.satellite.settings import (
    IdentitySettings,
    LinkSettings,
    MicSettings,
    RunSettings,
    SatelliteSettings,
    ServerSettings,
    SettingsError,
    SndSettings,
    SoundSettings,
)
from jarvis.satellite.sounds import Sound, awake_tone

TOKEN = "test-token-0123456789abcdef"
ANSWER_RATE = 22050
WAIT = 20.0  # bound for every wait in these tests (s)


def answer_pcm(seconds: float = 0.8) -> bytes:
    """A deterministic 'answer': a 440 Hz tone with a little noise, 16-bit mono at 22050 Hz."""
    t = np.arange(int(seconds * ANSWER_RATE)) / ANSWER_RATE
    rng = np.random.default_rng(7)
    wave_ = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(len(t))
    return (wave_ * 32767).astype("<i2").tobytes()


class HubTestDouble:
    """Hub test double: scripted answers, records what satellites send. One instance per test."""

    def __init__(
        self,
        answer: bytes,
        answer_after_s: float = 0.6,
        script: list[Event] | None = None,
        later_answer: bytes | None = None,
    ) -> None:
        self.answer = answer
        self.later_answer = answer if later_answer is None else later_answer
        """Answer for every turn after the first."""
        self.answer_after_bytes = int(answer_after_s * 32000)
        self.script = script or []
        """Events sent right after auth-ok (timers, errors)."""
        self.connections = 0
        self.auths: list[Auth] = []
        self.received: list[Event] = []
        self.played = asyncio.Event()
        self.connected = asyncio.Event()
        self.run_pipelines: list[RunPipeline] = []
        self.server: WyomingServer | None = None

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> ServiceHandler:
        return _HubHandler(reader, writer, self)

    async def start(self, port: int = 0) -> str:
        self.server = WyomingServer(f"tcp://127.0.0.1:{port}", self.handler)
        await self.server.start()
        return self.server.uri

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    def audio_bytes(self) -> int:
        return sum(len(e.payload or b"") for e in self.received if AudioChunk.is_type(e.type))


class _HubHandler(ServiceHandler):
    def __init__(self, reader, writer, hub: HubTestDouble) -> None:  # type: ignore[no-untyped-def]
        super().__init__(reader, writer)
        self.hub = hub
        self.authed = False
        self.turn_audio: int | None = None
        self.answer_task: asyncio.Task[None] | None = None

    async def handle_event(self, event: Event) -> bool:
        self.hub.received.append(event)
        if not self.authed:
            auth = Auth.from_event(event) if Auth.is_type(event.type) else None
            if auth is None or auth.token != TOKEN:
                await self.write_error("wrong or missing token", "unauthorized")
                return False
            self.authed = True
            self.hub.auths.append(auth)
            self.hub.connections += 1
            await self.write_event(AuthOk(session_id="s1", user_id="alice", server_name="double").event())
            self.hub.connected.set()
            for scripted in self.hub.script:
                await self.write_event(scripted)
            return True
        if RunPipeline.is_type(event.type):
            self.hub.run_pipelines.append(RunPipeline.from_event(event))
            self.turn_audio = 0
            if self.answer_task is not None:  # barge-in: stop the current answer
                self.answer_task.cancel()
        elif AudioChunk.is_type(event.type) and self.turn_audio is not None:
            self.turn_audio += len(event.payload or b"")
            if self.turn_audio >= self.hub.answer_after_bytes:
                self.turn_audio = None
                self.answer_task = asyncio.create_task(self._answer())
        elif Played.is_type(event.type):
            self.hub.played.set()
        return True

    async def _answer(self) -> None:
        try:
            await self.write_event(VoiceStarted().event())
            await self.write_event(VoiceStopped().event())
            await self.write_event(Transcript(text="what time is it").event())
            await self.write_event(Synthesize(text="It is nine o'clock.").event())
            answer = self.hub.answer if len(self.hub.run_pipelines) <= 1 else self.hub.later_answer
            await self.write_event(AudioStart(rate=ANSWER_RATE, width=2, channels=1).event())
            for offset in range(0, len(answer), 2048):
                chunk = answer[offset : offset + 2048]
                await self.write_event(AudioChunk(rate=ANSWER_RATE, width=2, channels=1, audio=chunk).event())
            await self.write_event(AudioStop().event())
            await self.write_event(TurnMetrics(turn_id="t1", stages_ms={"endpoint": 1.0}).event())
        except asyncio.CancelledError:
            await self.write_event(AudioStop().event())
            raise


class SilentHubTestDouble:
    """A hung hub: accepts the token, then reads forever and never answers (not even pong)."""

    def __init__(self) -> None:
        self.connections = 0
        self.pings = 0
        self.server: asyncio.AbstractServer | None = None

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            first = await read_event(reader)
            assert first is not None and Auth.is_type(first.type)
            await write_event(AuthOk(session_id=f"s{self.connections}", user_id="alice").event(), writer)
            while (event := await read_event(reader)) is not None:
                if event.type == "ping":
                    self.pings += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        return f"tcp://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


class RecordingSink(WavFileSink):
    """The real WAV sink that also keeps the feedback sounds it was asked to play."""

    def __init__(self, path: Path, paced: bool = True) -> None:
        super().__init__(path, paced)
        self.sounds: list[Sound] = []
        self.sound_played = asyncio.Event()
        self.stops = 0

    async def play_sound(self, sound: Sound) -> None:
        self.sounds.append(sound)
        self.sound_played.set()

    def stop_now(self) -> None:
        self.stops += 1
        super().stop_now()


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return path


def read_wav(path: Path) -> tuple[int, bytes]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2 and wav.getnchannels() == 1
        return wav.getframerate(), wav.readframes(wav.getnframes())


@pytest.fixture(scope="module")
def question_pcm() -> bytes:
    return silence(0.5) + speak("Hey Jarvis, what time is it?") + silence(0.5)


def make_settings(
    uri: str | None, tmp_path: Path, input_wav: Path | None = None, **changes: object
) -> SatelliteSettings:
    settings = SatelliteSettings(
        server=ServerSettings(uri=uri, token=TOKEN, connect_timeout_s=5.0),
        identity=IdentitySettings(satellite_id="test-sat", area="kitchen"),
        mic=MicSettings(input_wav=input_wav, fast=True),
        snd=SndSettings(output_wav=tmp_path / "out.wav"),
        link=LinkSettings(reconnect_min_s=0.05, reconnect_max_s=0.2),
        run=RunSettings(once=True, turn_timeout_s=WAIT),
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Settings and argparse


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_settings_from_flags() -> None:
    args = parse(
        ["--server", "tcp://10.0.0.2:10600", "--token", "t" * 20, "--area", "kitchen", "--name", "Kitchen"]
        + ["--user", "bob", "--satellite-id", "pi-1", "--no-wake", "--sounds", "--ping-interval", "2"]
    )
    s = settings_from_args(args, env={})
    assert s.server.uri == "tcp://10.0.0.2:10600" and s.server.token == "t" * 20
    assert (s.identity.satellite_id, s.identity.area, s.identity.name, s.identity.user_id) == (
        "pi-1",
        "kitchen",
        "Kitchen",
        "bob",
    )
    assert s.wake.local is False and s.sounds.enabled is True
    assert s.link.ping_interval_s == 2 and s.link.pong_timeout_s == 10
    assert s.wake.model == "hey_jarvis" and s.wake.preroll_s == 1.5


def test_settings_precedence_file_env_flags(tmp_path: Path) -> None:
    config = tmp_path / "sat.toml"
    config.write_text(
        'token = "from-file-0000000000"\nserver = "tcp://file:1"\narea = "attic"\npreroll = 0.4\n'
    )
    s = settings_from_args(parse(["--config", str(config)]), env={})
    assert (s.server.token, s.server.uri, s.identity.area, s.wake.preroll_s) == (
        "from-file-0000000000",
        "tcp://file:1",
        "attic",
        0.4,
    )
    s = settings_from_args(parse(["--config", str(config)]), env={"JARVIS_TOKEN": "from-env-000000000"})
    assert s.server.token == "from-env-000000000"
    s = settings_from_args(
        parse(["--config", str(config), "--token", "from-flag-00000000", "--area", "hall"]),
        env={"JARVIS_TOKEN": "from-env-000000000"},
    )
    assert (s.server.token, s.identity.area) == ("from-flag-00000000", "hall")


def test_language_pin_from_flags_and_its_validation() -> None:
    s = settings_from_args(parse(["--token", "x" * 20, "--language", "fr"]), env={})
    assert s.identity.language == "fr"
    assert settings_from_args(parse(["--token", "x" * 20]), env={}).identity.language is None
    for bad in ("en,fr", "french!", "../x"):
        with pytest.raises(SettingsError, match="--language"):
            settings_from_args(parse(["--token", "x" * 20, "--language", bad]), env={})


def test_wake_engine_from_file_and_flags(tmp_path: Path) -> None:
    assert settings_from_args(parse(["--token", "x" * 20]), env={}).wake.engine == "auto"
    config = tmp_path / "sat.toml"
    config.write_text('token = "from-file-0000000000"\nwake_engine = "micro"\n')
    assert settings_from_args(parse(["--config", str(config)]), env={}).wake.engine == "micro"
    argv = ["--config", str(config), "--wake-engine", "openwakeword"]
    assert settings_from_args(parse(argv), env={}).wake.engine == "openwakeword"
    config.write_text('token = "from-file-0000000000"\nwake_engine = "snowboy"\n')
    with pytest.raises(SettingsError, match="--wake-engine must be one of auto, micro, openwakeword, both"):
        settings_from_args(parse(["--config", str(config)]), env={})


def test_settings_default_satellite_id_is_hostname() -> None:
    import socket

    s = settings_from_args(parse(["--token", "x" * 20]), env={})
    assert s.identity.satellite_id == socket.gethostname()
    assert s.server.uri is None  # zeroconf


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no hub token"),
        (["--token", "x" * 20, "--server", "http://h:1"], "--server"),
        (["--token", "x" * 20, "--input-wav", "/nonexistent.wav"], "no such file"),
        (["--token", "x" * 20, "--turn-timeout", "0"], "--turn-timeout must be positive"),
        (["--token", "x" * 20, "--fast"], "--fast only applies"),
    ],
)
def test_settings_errors_are_clear(argv: list[str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from_args(parse(argv), env={})


def test_config_file_unknown_key(tmp_path: Path) -> None:
    config = tmp_path / "sat.toml"
    config.write_text('tokn = "typo"\n')
    with pytest.raises(SettingsError, match="unknown setting 'tokn'"):
        settings_from_args(parse(["--config", str(config)]), env={})


def test_satellite_never_imports_server_side_packages() -> None:
    import subprocess

    code = (
        "import sys, jarvis.satellite.__main__, jarvis.satellite.satellite, jarvis.satellite.audio_io\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('faster_whisper', 'piper', 'onnxruntime', 'aiohttp', 'ctranslate2')"
        " or m.startswith('jarvis.server')]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# Headless satellite against the hub test double


@pytest.mark.slow
async def test_one_turn_output_wav_equals_hub_audio(tmp_path: Path, question_pcm: bytes) -> None:
    hub = HubTestDouble(answer_pcm())
    uri = await hub.start()
    lines: list[str] = []
    settings = make_settings(uri, tmp_path, write_wav(tmp_path / "in.wav", question_pcm))
    sat = Satellite(settings, WavSource(settings.mic.input_wav, fast=True), WavFileSink(tmp_path / "out.wav"))
    sat.printer = lines.append
    try:
        async with asyncio.timeout(WAIT):
            code = await sat.run()
    finally:
        await hub.stop()
    assert code is ExitCode.OK, sat.exit_message
    rate, pcm = read_wav(tmp_path / "out.wav")
    assert rate == ANSWER_RATE
    assert pcm == hub.answer
    # The documented turn: auth (local_wake), detection, run-pipeline asr->tts, audio, audio-stop, played.
    assert hub.auths[0].local_wake is True and hub.auths[0].satellite_id == "test-sat"
    types = [e.type for e in hub.received if e.type not in ("audio-chunk", "ping")]
    assert types == ["jarvis-auth", "detection", "run-pipeline", "audio-start", "audio-stop", "played"]
    assert hub.run_pipelines[0].start_stage.value == "asr" and hub.run_pipelines[0].end_stage.value == "tts"
    assert "transcript: what time is it" in lines and "answer: It is nine o'clock." in lines
    assert any(line.startswith("metrics: ") and '"endpoint": 1.0' in line for line in lines)
    timing = json.loads(next(line for line in lines if line.startswith("timing: ")).removeprefix("timing: "))
    order = ["wake", "voice_stopped", "transcript", "audio_start", "first_audio", "audio_stop", "played"]
    assert list(timing) == order and [timing[k] for k in order] == sorted(timing.values())
    # Audio only left after the wake word, and its first chunk is the pre-roll: the microphone's audio
    # from before the detection, reaching back past the onset of "hey" (0.5 s in), so STT hears the
    # whole wake phrase.
    # (Before the hub session the WAV source plays digital silence, so the pre-roll may start with more.)
    first = next(e for e in hub.received if AudioChunk.is_type(e.type)).payload or b""
    speech, heard = question_pcm.lstrip(b"\0"), first.lstrip(b"\0")
    assert first[:2] == b"\0\0" and heard, len(first)  # starts in the silence before "hey" ...
    assert speech.startswith(heard)  # ... and holds the speech from its first sample on
    assert hub.audio_bytes() < len(question_pcm)


@pytest.mark.slow
async def test_no_wake_streams_to_hub_wake_word(tmp_path: Path, question_pcm: bytes) -> None:
    hub = HubTestDouble(answer_pcm(0.3), answer_after_s=1.0)
    uri = await hub.start()
    settings = make_settings(uri, tmp_path, write_wav(tmp_path / "in.wav", question_pcm))
    settings = replace(settings, wake=replace(settings.wake, local=False))
    sat = Satellite(settings, WavSource(settings.mic.input_wav, fast=True), WavFileSink(tmp_path / "out.wav"))
    sat.printer = lambda line: None
    try:
        async with asyncio.timeout(WAIT):
            code = await sat.run()
    finally:
        await hub.stop()
    assert code is ExitCode.OK, sat.exit_message
    assert hub.auths[0].local_wake is False
    start = hub.run_pipelines[0]
    assert start.start_stage.value == "wake" and start.restart_on_end is True
    types = [e.type for e in hub.received if e.type != "audio-chunk"]
    assert "detection" not in types and "audio-stop" not in types  # streaming never stops
    assert read_wav(tmp_path / "out.wav")[1] == hub.answer


async def test_auth_refused_exit_code_cli(tmp_path: Path) -> None:
    """The real `jarvis satellite` process: a wrong token exits 3 with a clear message."""
    hub = HubTestDouble(answer_pcm())
    uri = await hub.start()
    wav = write_wav(tmp_path / "in.wav", silence(0.5))
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jarvis.protocol.cli", "satellite", "--server", uri, "--token",
            "wrong-token-000000000", "--input-wav", str(wav), "--output-wav", str(tmp_path / "o.wav"),
            "--once", "--turn-timeout", "20",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(WAIT):
            out, err = await proc.communicate()
    finally:
        await hub.stop()
    assert proc.returncode == int(ExitCode.UNAUTHORIZED), err.decode()
    assert "refused the token" in err.decode()


async def test_auth_ok_then_timeout_without_wake_word(tmp_path: Path) -> None:
    """Auth accepted, but the input never says the wake word: --once ends with TIMEOUT, clearly."""
    hub = HubTestDouble(answer_pcm())
    uri = await hub.start()
    settings = make_settings(
        uri,
        tmp_path,
        write_wav(tmp_path / "in.wav", silence(0.3)),
        run=RunSettings(once=True, turn_timeout_s=1.0),
    )
    sat = Satellite(settings, WavSource(settings.mic.input_wav, fast=True), WavFileSink(tmp_path / "out.wav"))
    try:
        async with asyncio.timeout(WAIT):
            code = await sat.run()
    finally:
        await hub.stop()
    assert hub.connections == 1 and hub.auths[0].token == TOKEN
    assert code is ExitCode.TIMEOUT
    assert "no complete turn within --turn-timeout 1 s (state: idle)" in sat.exit_message


@pytest.mark.slow
async def test_hub_error_during_turn_exits_4(tmp_path: Path, question_pcm: bytes) -> None:
    hub = HubTestDouble(answer_pcm(), script=[Error(text="STT is down", code="stt-unavailable").event()])
    uri = await hub.start()
    settings = make_settings(uri, tmp_path, write_wav(tmp_path / "in.wav", question_pcm))
    sat = Satellite(settings, WavSource(settings.mic.input_wav, fast=True), WavFileSink(tmp_path / "out.wav"))
    sat.printer = lambda line: None
    try:
        async with asyncio.timeout(WAIT):
            code = await sat.run()
    finally:
        await hub.stop()
    assert code is ExitCode.HUB_ERROR
    assert "stt-unavailable: STT is down" in sat.exit_message


async def test_reconnects_with_backoff_after_hub_restart(tmp_path: Path) -> None:
    hub = HubTestDouble(answer_pcm())
    uri = await hub.start()
    port = hub.server.port if hub.server else 0
    settings = make_settings(uri, tmp_path, write_wav(tmp_path / "in.wav", silence(0.2)), run=RunSettings())
    sat = Satellite(settings, WavSource(settings.mic.input_wav), WavFileSink(tmp_path / "out.wav"))
    task = asyncio.create_task(sat.run())
    try:
        async with asyncio.timeout(WAIT):
            await sat.wait_until(lambda s: s.state is State.IDLE)
            await hub.stop()  # the hub goes away...
            await sat.wait_until(lambda s: s.state is State.CONNECTING)
            hub2 = HubTestDouble(answer_pcm())
            await hub2.start(port)  # ...and comes back on the same port
            try:
                await sat.wait_until(lambda s: s.connections == 2 and s.state is State.IDLE)
            finally:
                await hub2.stop()
        assert sat.connections == 2
        assert not task.done()  # never exits on its own
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_keeps_retrying_while_hub_is_down(tmp_path: Path) -> None:
    """Nothing listens yet: the satellite retries with growing delays, then connects when it appears."""
    probe = HubTestDouble(answer_pcm())
    await probe.start()
    port = probe.server.port if probe.server else 0
    await probe.stop()
    settings = make_settings(
        f"tcp://127.0.0.1:{port}", tmp_path, write_wav(tmp_path / "in.wav", silence(0.2)), run=RunSettings()
    )
    sat = Satellite(settings, WavSource(settings.mic.input_wav), WavFileSink(tmp_path / "out.wav"))
    task = asyncio.create_task(sat.run())
    hub = HubTestDouble(answer_pcm())
    try:
        async with asyncio.timeout(WAIT):  # several failed attempts, 0.05, 0.1, 0.2 s apart
            await sat.wait_until(lambda s: s.connect_attempts >= 4)
        assert sat.state is State.CONNECTING and sat.connections == 0 and not task.done()
        await hub.start(port)
        async with asyncio.timeout(WAIT):
            await hub.connected.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await hub.stop()


async def test_ping_timeout_reconnects(tmp_path: Path) -> None:
    hub = SilentHubTestDouble()
    uri = await hub.start()
    settings = make_settings(
        uri,
        tmp_path,
        write_wav(tmp_path / "in.wav", silence(0.2)),
        run=RunSettings(),
        link=LinkSettings(ping_interval_s=0.1, pong_timeout_s=0.3, reconnect_min_s=0.05, reconnect_max_s=0.1),
    )
    sat = Satellite(settings, WavSource(settings.mic.input_wav), WavFileSink(tmp_path / "out.wav"))
    task = asyncio.create_task(sat.run())
    try:
        async with asyncio.timeout(WAIT):
            await sat.wait_until(lambda s: s.connections >= 2)
        assert hub.pings >= 1
        assert sat.connections >= 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await hub.stop()


async def test_timer_events_logged_and_alarm_played(tmp_path: Path) -> None:
    script = [
        Event(type="timer-started", data={"name": "no id"}),  # malformed: ignored, link kept
        TimerStarted(id="t1", total_seconds=300, name="pasta").event(),
        TimerFinished(id="t1").event(),
    ]
    hub = HubTestDouble(answer_pcm(), script=script)
    uri = await hub.start()
    settings = make_settings(uri, tmp_path, write_wav(tmp_path / "in.wav", silence(0.2)), run=RunSettings())
    sink = RecordingSink(tmp_path / "out.wav")
    sat = Satellite(settings, WavSource(settings.mic.input_wav), sink)
    lines: list[str] = []
    sat.printer = lines.append
    task = asyncio.create_task(sat.run())
    try:
        async with asyncio.timeout(WAIT):
            await sink.sound_played.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await hub.stop()
    assert "timer-started: t1 300 pasta" in lines and "timer-finished: t1" in lines
    assert sink.sounds[0].duration_s > 1.0  # the alarm, not a short tone
    assert sat.connections == 1


@pytest.mark.slow
async def test_barge_in_stops_playback_and_starts_new_turn(tmp_path: Path) -> None:
    """A long answer is playing when the user says the wake word again: playback stops at once,
    a new turn starts, and its answer is played and `played` closes it."""
    hey = speak("Hey Jarvis, what time is it?")
    # Second wake word 1.5 s after the first utterance ends, while the 4 s answer is playing.
    mic = silence(0.3) + hey + silence(1.5) + speak("Hey Jarvis, stop.") + silence(0.5)
    hub = HubTestDouble(answer_pcm(4.0), answer_after_s=0.5, later_answer=answer_pcm(0.5))
    uri = await hub.start()
    settings = make_settings(uri, tmp_path, write_wav(tmp_path / "in.wav", mic))
    settings = replace(settings, mic=replace(settings.mic, fast=False))
    sink = RecordingSink(tmp_path / "out.wav", paced=True)
    sat = Satellite(settings, WavSource(settings.mic.input_wav), sink)
    sat.printer = lambda line: None
    try:
        async with asyncio.timeout(WAIT):
            code = await sat.run()
    finally:
        await hub.stop()
    assert code is ExitCode.OK, sat.exit_message
    assert len(hub.run_pipelines) == 2
    assert sink.stops >= 1
    played = [e for e in hub.received if Played.is_type(e.type)]
    assert len(played) == 1  # only the second turn's answer was played to the end
    # The WAV holds the audio the hub sent: (all of) the first answer, then the second one.
    assert read_wav(tmp_path / "out.wav")[1] == hub.answer + hub.later_answer


async def test_finds_hub_over_zeroconf(tmp_path: Path) -> None:
    """No --server: the satellite browses _jarvis._tcp on loopback and connects to the named hub."""
    import uuid

    from jarvis.protocol.discovery import Advertiser

    hub = HubTestDouble(answer_pcm())
    await hub.start()
    port = hub.server.port if hub.server else 0
    name = f"jarvis-hub-test-{uuid.uuid4().hex[:8]}"
    settings = make_settings(None, tmp_path, write_wav(tmp_path / "in.wav", silence(0.2)), run=RunSettings())
    settings = replace(
        settings,
        server=replace(
            settings.server, hub_name=name, discovery_interfaces=("127.0.0.1",), discovery_timeout_s=1.0
        ),
    )
    sat = Satellite(settings, WavSource(settings.mic.input_wav), WavFileSink(tmp_path / "out.wav"))
    try:
        async with Advertiser(["127.0.0.1"]) as advertiser:
            await advertiser.advertise(name, "_jarvis._tcp.local.", port, host="127.0.0.1")
            task = asyncio.create_task(sat.run())
            try:
                async with asyncio.timeout(WAIT):
                    await sat.wait_until(lambda s: s.connections == 1 and s.state is State.IDLE)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    finally:
        await hub.stop()
    assert hub.auths[0].satellite_id == "test-sat"


@pytest.mark.slow
async def test_awake_and_done_sounds_around_a_turn(tmp_path: Path, question_pcm: bytes) -> None:
    hub = HubTestDouble(answer_pcm(0.3))
    uri = await hub.start()
    done_wav = write_wav(tmp_path / "done.wav", answer_pcm(0.2), rate=ANSWER_RATE)
    settings = make_settings(uri, tmp_path, write_wav(tmp_path / "in.wav", question_pcm))
    settings = replace(settings, sounds=SoundSettings(enabled=True, done_wav=done_wav))
    sink = RecordingSink(tmp_path / "out.wav", paced=False)
    sat = Satellite(settings, WavSource(settings.mic.input_wav, fast=True), sink)
    sat.printer = lambda line: None
    try:
        async with asyncio.timeout(WAIT):
            code = await sat.run()
    finally:
        await hub.stop()
    assert code is ExitCode.OK, sat.exit_message
    awake, done = sink.sounds
    assert awake == awake_tone()  # generated
    assert done.pcm == answer_pcm(0.2) and done.fmt.rate == ANSWER_RATE  # from --done-wav
