"""``jarvis bench understand``: does Jarvis do what people ask, said by voices it has never heard?

The real path, in this process on 127.0.0.1: the real STT (tiny.en; ``--stt base`` is the
multilingual base model with ``--language en,fr``), the real TTS, the real brain with **no** language
model, and the hub; each trial is one fresh in-process :class:`jarvis.satellite.satellite.Satellite`
(its own local pymicro-wakeword, pre-roll and satellite protocol) whose microphone plays
``"hey jarvis, " + command`` in a test voice (see :mod:`.voices`), paced at real time. The setup
utterances of an item (set a timer before cancelling it) are said first, on the same satellite, in
the same voice and condition.

A trial succeeds when the wake word was heard, the hub sent no error, the answer text the satellite
received (its ``synthesize`` events) matches the item's regex, and the timer events the item asks
for arrived. Open questions must get the brain's "I need a language model" answer: any other
answer is a false accept (a local intent answered a question it does not understand).

Items are spread over voice x condition cells by a seeded balanced design: every item goes to
``--reps`` different cells of its language, and the trials are ordered so that any prefix
(``--limit``) gives every cell the same number of trials, give or take one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jarvis.server.brain.normalize import strip_wake_phrase

from .procs import fresh_data_dir
from .report import markdown_table, median, percentile, write_section
from .voices import (
    CONDITIONS,
    PAUSE_MARK,
    RATE,
    Voice,
    apply_condition,
    seed_for,
    select,
    synthesize,
    wake_voice,
)
from .wer import number_words, wer

_LOGGER = logging.getLogger(__name__)

CORPUS = Path(__file__).resolve().parent / "data" / "understand.yaml"
WAKE_PHRASE = "hey jarvis, "
LEAD_S = 0.5
"""Audio (silence, or the condition's noise) before the wake word."""
TAIL_S = 1.5
"""Audio after the command (the hub ends the utterance after 0.6 s of silence); then digital silence."""
TURN_TIMEOUT_S = 45.0
GOALS = {"en": 0.95, "fr": 0.85}
"""Task success goal per language, at 20 dB SNR."""
FALSE_ACCEPT_GOAL = 0.01

# ------------------------------------------------------------------------------------------------
# Corpus


@dataclass(frozen=True)
class Item:
    id: str
    lang: str
    intent: str
    text: str
    expect: str
    """A regex, possibly with {hour}, {weekday}, {month}, {day} placeholders."""
    kind: str = "local"
    """``local`` (a local intent must answer) or ``open`` (none may: the need-a-model answer)."""
    timer_s: int | None = None
    event: str | None = None
    setup: tuple[str, ...] = ()


def load_corpus(path: Path = CORPUS) -> list[Item]:
    import yaml

    data = yaml.safe_load(path.read_text())
    checks: dict[str, str] = data.get("checks", {})
    items = []
    for n, raw in enumerate(data["items"]):
        expect = str(raw["expect"])
        items.append(
            Item(
                id=f"{raw['lang']}-{n:03d}",
                lang=raw["lang"],
                intent=raw.get("intent", "?"),
                text=raw["text"],
                expect=checks.get(expect, expect),
                kind=raw.get("kind", "local"),
                timer_s=raw.get("timer_s"),
                event=raw.get("event"),
                setup=tuple(raw.get("setup", ())),
            )
        )
    return items


_FR_UNITS = (
    "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize".split()
)
_FR_TENS = {20: "vingt", 30: "trente", 40: "quarante", 50: "cinquante"}
WEEKDAYS = {
    "en": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
MONTHS = {
    "en": ("january february march april may june july august september october november december").split(),
    "fr": ("janvier février mars avril mai juin juillet août septembre octobre novembre décembre").split(),
}


def french_number(n: int) -> str:
    """0-59 in French words (what a time or a day of the month needs)."""
    if n <= 16:
        return _FR_UNITS[n]
    if n < 20:
        return f"dix-{_FR_UNITS[n - 10]}"
    tens, unit = divmod(n, 10)
    word = _FR_TENS[tens * 10]
    if unit == 0:
        return word
    if unit == 1:
        return f"{word} et un"
    return f"{word}-{_FR_UNITS[unit]}"


_ORDINAL_ENDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
    "ty": "tieth",
}


def ordinal_words(n: int) -> str:
    """3 -> "third", 21 -> "twenty first" (as :func:`number_words` spells the cardinal)."""
    words = number_words(n)
    for end, ordinal in _ORDINAL_ENDS.items():
        if words.endswith(end):
            return words[: -len(end)] + ordinal
    return words + "th"


def _words(n: int) -> list[str]:
    en = number_words(n)
    return [str(n), f"0{n}" if n < 10 else str(n), en, en.replace(" ", "-"), french_number(n)]


def placeholders(moments: Sequence[datetime]) -> dict[str, str]:
    """Regex alternations for the answer checks, true at any of ``moments``."""
    hours: set[str] = set()
    days: set[str] = set()
    weekdays: set[str] = set()
    months: set[str] = set()
    for m in moments:
        for h in {m.hour, m.hour % 12 or 12}:
            hours.update(_words(h))
        if m.hour == 12:
            hours.update(("noon", "midday", "midi"))
        if m.hour == 0:
            hours.update(("midnight", "minuit"))
        days.update(_words(m.day))
        suffix = "th" if 11 <= m.day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(m.day % 10, "th")
        days.add(f"{m.day}{suffix}")
        days.add(ordinal_words(m.day))
        if m.day == 1:
            days.add("premier")
        for lang in ("en", "fr"):
            weekdays.add(WEEKDAYS[lang][m.weekday()])
            months.add(MONTHS[lang][m.month - 1])

    def alt(values: set[str]) -> str:
        return "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))

    years = {str(m.year) for m in moments} | {_year_words(m.year) for m in moments}
    return {
        "hour": alt(hours),
        "weekday": alt(weekdays),
        "month": alt(months),
        "day": alt(days),
        "year": alt(years),
    }


def _year_words(year: int) -> str:
    """2026 -> "twenty twenty six" (how people and the TTS reader say it)."""
    return f"{number_words(year // 100)} {number_words(year % 100)}"


def expand(pattern: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(hour|weekday|month|day|year)\}", lambda m: values[m.group(1)], pattern)


# ------------------------------------------------------------------------------------------------
# Design


@dataclass(frozen=True)
class Trial:
    item: Item
    voice: Voice
    condition: str


def design(
    items: Sequence[Item],
    voices: Sequence[Voice],
    conditions: Sequence[str],
    reps: int,
    seed: int,
    limit: int | None = None,
) -> list[Trial]:
    """Each item in ``reps`` distinct cells of its language; any prefix balances the cells."""
    rng = random.Random(seed)
    by_cell: dict[tuple[str, str], list[Trial]] = defaultdict(list)
    cells_all: list[tuple[Voice, str]] = []
    for lang in sorted({i.lang for i in items}):
        cells = [(v, c) for v in voices if v.lang == lang for c in conditions]
        if not cells:
            continue
        rng.shuffle(cells)
        cells_all += cells
        lang_items = [i for i in items if i.lang == lang]
        rng.shuffle(lang_items)
        k = 0
        for item in lang_items:
            for _ in range(min(reps, len(cells))):
                voice, condition = cells[k % len(cells)]
                by_cell[(voice.name, condition)].append(Trial(item, voice, condition))
                k += 1
    ordered: list[tuple[int, float, Trial]] = []
    for trials in by_cell.values():
        for rank, trial in enumerate(trials):
            ordered.append((rank, rng.random(), trial))
    ordered.sort(key=lambda t: (t[0], t[1]))
    out = [t for _, _, t in ordered]
    return out[:limit] if limit else out


# ------------------------------------------------------------------------------------------------
# The satellite's microphone and speaker


class ScriptedMic:
    """An :class:`AudioSource`: silence, paced at ``speed`` x real time, except what :meth:`say` queues."""

    def __init__(self, chunk_ms: int = 30, speed: float = 1.0) -> None:
        self.chunk_bytes = RATE * chunk_ms // 1000 * 2
        self.step = chunk_ms / 1000 / speed
        """Seconds between chunks: ``speed`` times faster than real time (the hub counts audio time)."""
        self._pending = bytearray()
        self._marks: list[tuple[int, asyncio.Future[float]]] = []
        self._sent = 0
        self.sent = 0
        """Bytes yielded so far: the satellite has processed all but the last chunk of them."""
        self.idle = asyncio.Event()
        """Set while nothing queued is left to play."""
        self.idle.set()

    def connected(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def say(self, pcm: bytes, speech_end: int) -> asyncio.Future[float]:
        """Queue ``pcm``; the future gets the monotonic time its byte ``speech_end`` was yielded."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._marks.append((self._sent + len(self._pending) + speech_end, future))
        self._pending += pcm
        self.idle.clear()
        return future

    async def chunks(self) -> AsyncIterator[bytes]:
        start, index = time.monotonic(), 0
        silence = bytes(self.chunk_bytes)
        while True:
            delay = start + index * self.step - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:  # fell far behind (a loaded machine): do not burst to catch up
                start, index = time.monotonic(), 0
            index += 1
            if self._pending:
                chunk = bytes(self._pending[: self.chunk_bytes])
                del self._pending[: self.chunk_bytes]
                chunk += bytes(self.chunk_bytes - len(chunk))
                if not self._pending:
                    self.idle.set()
            else:
                chunk = silence
            self._sent += self.chunk_bytes
            self.sent = self._sent
            now = time.monotonic()
            while self._marks and self._marks[0][0] <= self._sent:
                _, future = self._marks.pop(0)
                if not future.done():
                    future.set_result(now)
            yield chunk


class NullSpeaker:
    """An :class:`AudioSink` that plays nothing and notes when the first answer audio came."""

    def __init__(self) -> None:
        self.first_audio: float | None = None

    async def start(self) -> None:
        pass

    async def start_answer(self, fmt: Any) -> None:
        pass

    async def play(self, pcm: bytes) -> None:
        if self.first_audio is None:
            self.first_audio = time.monotonic()

    async def drain(self) -> None:
        pass

    def stop_now(self) -> None:
        pass

    async def play_sound(self, sound: Any) -> None:
        pass

    async def close(self) -> None:
        pass


def _satellite_class() -> type:
    from jarvis.satellite.satellite import Satellite

    class CountingSatellite(Satellite):
        """The real satellite, counting its local wake word detections."""

        wakes = 0
        streaming_ended = 0.0
        """Monotonic time the satellite last stopped streaming (the hub's ``voice-stopped``)."""

        async def _start_turn(self) -> None:
            self.wakes += 1
            self._notify()
            await super()._start_turn()

        def _set_state(self, state: Any) -> None:
            if self.state.value == "streaming" and state.value != "streaming":
                self.streaming_ended = time.monotonic()
            super()._set_state(state)

    return CountingSatellite


# ------------------------------------------------------------------------------------------------
# Running


@dataclass
class Utterance:
    text: str
    woke: bool = False
    transcript: str = ""
    answer: str = ""
    events: list[str] = field(default_factory=list)
    timers_s: list[int] = field(default_factory=list)
    error: str = ""
    latency_s: float | None = None
    """Acoustic end of speech (last speech sample sent) -> first answer audio at the satellite."""
    extra_wakes: int = 0
    endpoint_s: float | None = None
    """Acoustic end of speech -> the hub stopped listening (``voice-stopped``); negative: cut off."""

    @property
    def cut_off(self) -> bool:
        """The hub stopped listening before the last speech sample was sent."""
        return self.endpoint_s is not None and self.endpoint_s < 0


@dataclass
class Outcome:
    """One trial: the satellite path (``utterance``), and push-to-talk when its wake word missed."""

    stt: str
    trial: Trial
    utterance: Utterance
    setup_ok: bool
    success: bool
    reason: str
    wer: float | None
    ptt: Utterance | None = None
    """The same audio as push-to-talk turns, when the wake word missed."""
    ptt_success: bool = False
    ptt_reason: str = ""

    @property
    def woke(self) -> bool:
        return self.utterance.woke

    @property
    def understood(self) -> bool:
        """Success through the wake word, or (wake word missed) through push-to-talk."""
        return self.success or (self.ptt is not None and self.ptt_success)

    @property
    def false_accept(self) -> bool:
        """An open question answered by a local intent (on whichever path reached the brain)."""
        if self.trial.item.kind != "open":
            return False
        utt = self.utterance if self.utterance.woke else self.ptt
        if utt is None or not utt.woke or utt.error:
            return False
        return not re.search(self.trial.item.expect, utt.answer)


def judge(item: Item, utt: Utterance, moments: Sequence[datetime]) -> tuple[bool, str]:
    """(success, why not) for one answer."""
    if not utt.woke:
        return False, "wake word missed"
    if utt.error:
        return False, f"hub error {utt.error}"
    pattern = expand(item.expect, placeholders(moments))
    if not re.search(pattern, utt.answer):
        return False, "answer does not match"
    if item.timer_s is not None and item.timer_s not in utt.timers_s:
        got = ", ".join(f"{s} s" for s in utt.timers_s) or "none"
        return False, f"timer of {item.timer_s} s expected (got {got})"
    if item.event and item.event not in utt.events:
        return False, f"no {item.event} event"
    return True, ""


def strip_wake(transcript: str) -> str:
    """The transcript without its wake phrase, removed the way the brain removes it."""
    return strip_wake_phrase(transcript.strip())


def clean_text(text: str) -> str:
    return PAUSE_MARK.sub(" ", text).strip()


AudioFor = Callable[[Voice, str, str], bytes]


class Bench:
    """One hub stack (STT, TTS, brain without LLM, hub) and the satellites that talk to it."""

    def __init__(self, stt_name: str, audio_for: AudioFor, speed: float = 1.0) -> None:
        self.stt_name = stt_name
        self.audio_for = audio_for
        self.speed = speed
        self._stack = contextlib.AsyncExitStack()
        self.hub_uri = ""
        self.token = ""
        self.user_map: dict[str, str] = {}
        self.stt_uri = ""
        self._n = 0

    async def __aenter__(self) -> Bench:
        from jarvis.server.brain.handler import BrainSettings, start_brain
        from jarvis.server.brain.llm.none import NoLLM
        from jarvis.server.brain.memory import MemoryStore
        from jarvis.server.config import HubSettings, Settings, SttSettings
        from jarvis.server.hub.hub import Hub
        from jarvis.server.stt.__main__ import start_stt
        from jarvis.server.tokens import generate_token
        from jarvis.server.tts.__main__ import start_tts

        stack = self._stack
        try:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jarvis-understand-")))
            # the servers' timers, peer secret and device list: the bench's own, never the user's
            stack.enter_context(fresh_data_dir(tmp))
            engine_settings = stt_settings(self.stt_name)
            stt = await start_stt("tcp://127.0.0.1:0", engine_settings)
            stack.push_async_callback(stt.stop)
            await stt.engine.model()
            tts = await start_tts("tcp://127.0.0.1:0")
            stack.push_async_callback(tts.stop)
            memory = await MemoryStore.open(tmp / "memory.db")
            stack.push_async_callback(memory.close)
            settings = BrainSettings(onboarding=False, user_map=self.user_map)
            brain = await start_brain(
                "tcp://127.0.0.1:0", NoLLM(), memory=memory, probe=False, settings=settings
            )
            stack.push_async_callback(brain.stop)
            self.token = generate_token()
            hub_settings = HubSettings(port=0, **hub_endpoint_settings(split_choice(self.stt_name)[1]))
            hub = Hub(
                # the hub asks the STT for the languages it was started with, as `jarvis serve` does
                Settings(hub=hub_settings, stt=SttSettings(language=engine_settings.language or "en")),
                self.token,
                stt=[stt.uri],
                tts=[tts.uri],
                brain=[brain.uri],
            )
            await hub.start()
            stack.push_async_callback(hub.stop)
            self.hub_uri = hub.uri
            self.stt_uri = stt.uri
        except BaseException:
            await stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def run_trial(self, trial: Trial) -> Outcome:
        from jarvis.satellite.satellite import State
        from jarvis.satellite.settings import (
            IdentitySettings,
            LinkSettings,
            RunSettings,
            SatelliteSettings,
            ServerSettings,
            WakeSettings,
        )

        self._n += 1
        sat_id = f"understand-{self._n}"
        self.user_map[sat_id] = f"user-{self._n}"  # a fresh user: no name or timer left from others
        settings = SatelliteSettings(
            server=ServerSettings(uri=self.hub_uri, token=self.token),
            identity=IdentitySettings(satellite_id=sat_id),
            wake=WakeSettings(local=True),
            link=LinkSettings(reconnect_min_s=0.1, reconnect_max_s=1.0),
            run=RunSettings(once=False, turn_timeout_s=TURN_TIMEOUT_S),
        )
        mic, speaker, lines = ScriptedMic(settings.mic.chunk_ms, self.speed), NullSpeaker(), list[str]()
        sat: Any = _satellite_class()(settings, mic, speaker, printer=lines.append)
        task = asyncio.create_task(sat.run(), name=sat_id)
        item = trial.item
        try:
            async with asyncio.timeout(20):
                await sat.wait_until(lambda s: s.state is State.IDLE)
            setup_ok = True
            for text in item.setup:
                pre = await self._say(sat, mic, speaker, lines, trial, text)
                setup_ok = setup_ok and pre.woke and not pre.error and "language model" not in pre.answer
            moments = [datetime.now()]
            utt = await self._say(sat, mic, speaker, lines, trial, item.text)
            moments.append(datetime.now() + timedelta(seconds=1))
        finally:
            sat.stop()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        success, reason = judge(item, utt, moments)
        if not success and not setup_ok:
            reason += " (a setup utterance failed too)"
        outcome = Outcome(self.stt_name, trial, utt, setup_ok, success, reason, None)
        if not (utt.woke and setup_ok):
            # The wake word missed (here or in a setup turn): say the same audio again as if a button
            # had been pressed, so the STT and the brain are still measured on this voice. Reported
            # apart: it never counts as an end-to-end success.
            outcome.ptt, outcome.ptt_success, outcome.ptt_reason = await self._ptt_trial(trial)
        heard = utt if utt.woke else outcome.ptt
        if heard is not None and (heard.woke or heard.transcript):
            outcome.wer = wer(clean_text(item.text), strip_wake(heard.transcript))
        return outcome

    async def decode_whole(self, voice: Voice, text: str) -> str:
        """The clean ``"hey jarvis, " + text`` decoded in one piece, the language pinned to the voice's."""
        from wyoming.asr import Transcribe, Transcript
        from wyoming.audio import AudioChunk, AudioStart, AudioStop

        from jarvis.protocol.service import Connection

        pcm = await asyncio.to_thread(self.audio_for, voice, text, "clean")
        async with await Connection.open(self.stt_uri) as stt:
            await stt.write_event(Transcribe(language=voice.lang).event())
            await stt.write_event(AudioStart(RATE, 2, 1).event())
            for offset in range(0, len(pcm), 32000):
                await stt.write_event(AudioChunk(RATE, 2, 1, pcm[offset : offset + 32000]).event())
            await stt.write_event(AudioStop().event())
            while (event := await stt.read_event(timeout=120)) is not None:
                if Transcript.is_type(event.type):
                    return Transcript.from_event(event).text
        raise ConnectionError("STT closed")

    async def _ptt_trial(self, trial: Trial) -> tuple[Utterance, bool, str]:
        """The trial's utterances as push-to-talk turns (``run-pipeline`` from ``asr``, no wake word)."""
        from jarvis.server.hub.client import HubClient

        self._n += 1
        sat_id = f"understand-ptt-{self._n}"
        self.user_map[sat_id] = f"user-ptt-{self._n}"
        item = trial.item
        utt = Utterance(item.text)
        async with await HubClient.connect(self.hub_uri, self.token, sat_id) as sat:
            for text in (*item.setup, item.text):
                pcm = await asyncio.to_thread(self.audio_for, trial.voice, text, trial.condition)
                moments = [datetime.now()]
                utt = Utterance(text, woke=True)
                try:
                    result = await sat.voice_turn(pcm, realtime=False, timeout=TURN_TIMEOUT_S)
                except (TimeoutError, ConnectionError) as err:
                    utt.error = f"push-to-talk turn failed: {err!r}"
                    return utt, False, utt.error
                moments.append(datetime.now() + timedelta(seconds=1))
                utt.transcript = result.transcript or ""
                utt.answer = " ".join(result.sentences)
                if (error := result.error) is not None:
                    utt.error = f"{error.code}: {error.text}"
                for _, event in result.events:
                    if event.type.startswith("timer-"):
                        utt.events.append(event.type)
                        if event.type == "timer-started":
                            with contextlib.suppress(KeyError, TypeError, ValueError):
                                utt.timers_s.append(int(event.data["total_seconds"]))
        success, reason = judge(item, utt, moments)
        return utt, success, reason

    @staticmethod
    async def _woke(sat: Any, mic: ScriptedMic, wakes: int) -> bool:
        """Whether the wake word fired on what the mic just queued. Counted in audio, not wall time:
        the satellite's microphone loop takes the next chunk only after its detector is done with
        the last, so once 1 s of audio past the utterance went out the detector has heard it all,
        however loaded the machine (two wake word engines, several satellites, STT beside them)."""
        deadline = time.monotonic() + TURN_TIMEOUT_S
        after: int | None = None
        while time.monotonic() < deadline:
            if sat.wakes > wakes:
                return True
            if after is None and mic.idle.is_set():
                after = mic.sent + RATE * 2
            if after is not None and mic.sent >= after:
                return sat.wakes > wakes
            await asyncio.sleep(0.02)
        return False

    async def _say(
        self, sat: Any, mic: ScriptedMic, speaker: NullSpeaker, lines: list[str], trial: Trial, text: str
    ) -> Utterance:
        pcm = await asyncio.to_thread(self.audio_for, trial.voice, text, trial.condition)
        speech_end = len(pcm) - int(TAIL_S * RATE) * 2
        utt = Utterance(text)
        start_line, wakes, started = len(lines), sat.wakes, time.monotonic()
        speaker.first_audio = None
        spoken = mic.say(pcm, speech_end)
        if not await self._woke(sat, mic, wakes):
            await mic.idle.wait()
            return utt
        utt.woke = True
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while time.monotonic() < deadline:
            if any(line.startswith(("metrics: ", "error: ")) for line in lines[start_line:]):
                break
            await asyncio.sleep(0.05)
        else:
            utt.error = "no turn metrics within the turn timeout"
        await mic.idle.wait()  # let the rest of the audio go out before the next utterance
        await asyncio.sleep(0.2)  # timer events that follow the answer
        answers = []
        for line in lines[start_line:]:
            kind, _, rest = line.partition(": ")
            if kind == "transcript":
                utt.transcript = rest
            elif kind == "answer":
                answers.append(rest)
            elif kind == "error":
                utt.error = rest
            elif kind.startswith("timer-"):
                utt.events.append(kind)
                if kind == "timer-started":
                    with contextlib.suppress(IndexError, ValueError):
                        utt.timers_s.append(int(rest.split()[1]))
        utt.answer = " ".join(answers)
        utt.extra_wakes = sat.wakes - wakes - 1
        if speaker.first_audio is not None and spoken.done():
            utt.latency_s = speaker.first_audio - spoken.result()
        if sat.streaming_ended > started and spoken.done():
            utt.endpoint_s = sat.streaming_ended - spoken.result()
        return utt


BIAS_OPTIONS = ("--hotwords", "--prompt", "--initial-prompt")
"""The STT's biasing option, whichever this tree has."""
BIAS_TEXT = "Hey Jarvis"
"""What the ``base+bias`` column passes as hotwords: only the wake phrase."""
PROMPTS = (
    "en=Hey Jarvis, start a soup timer, eight minutes. Cancel my timers. Give me the time, then the day. "
    "Nine times three. Call me Alex. Remember my bike is in the garage. Stop.",
    "fr=Hey Jarvis, lance un minuteur riz, huit minutes. Annule mes minuteurs. Donne-moi l'heure, puis le "
    "jour. Neuf fois trois. Appelle-moi Alex. Souviens-toi que mon vélo est au garage. Arrête.",
)
"""``base+prompt``: the decoder's initial prompt, a few ordinary commands per language (the intents'
vocabulary, in none of the benchmark's wordings)."""


class SttUnavailable(Exception):
    """The STT choice cannot run in this tree (yet)."""


_ENDPOINT = re.compile(r"fixed|semantic(?::\d+(?:\.\d+)?)?")
"""The hub's endpoint settings a choice may name after ``@`` (``base@fixed``; ``semantic:1.0`` is the
semantic one waiting at most 1.0 s of silence for its verdict); docs/hub.md."""


def known_endpoint(endpoint: str) -> bool:
    return _ENDPOINT.fullmatch(endpoint) is not None


def split_choice(name: str) -> tuple[str, str | None]:
    """``"base@fixed"`` -> ``("base", "fixed")``; ``"base"`` -> ``("base", None)`` (the hub's default)."""
    stt, sep, endpoint = name.partition("@")
    if sep and not known_endpoint(endpoint):
        raise SttUnavailable(
            f"unknown endpoint {endpoint!r} in {name!r} (fixed, semantic or semantic:SECONDS)"
        )
    return stt, endpoint or None


def hub_endpoint_settings(endpoint: str | None) -> dict[str, Any]:
    """The :class:`~jarvis.server.config.HubSettings` fields an endpoint choice sets."""
    if endpoint is None:
        return {}
    kind, _, wait = endpoint.partition(":")
    return {"endpoint": kind, **({"verdict_wait_s": float(wait)} if wait else {})}


def stt_settings(name: str) -> Any:
    """The engine settings for ``tiny.en`` (bundled) or ``base`` (multilingual, en+fr); an
    ``@endpoint`` suffix is the hub's, not the STT's (:func:`split_choice`)."""
    from jarvis.server.stt import __main__ as stt_main

    name = split_choice(name)[0]

    parser = argparse.ArgumentParser()
    stt_main.add_arguments(parser)
    if name == "tiny.en":
        args = parser.parse_args([])
    elif name == "base":
        try:
            from jarvis.server.stt import models
        except ImportError as err:
            raise SttUnavailable(f"--stt base needs server/stt/models.py ({err})") from err
        if "base" not in getattr(models, "EMBEDDED_MODELS", ()):
            raise SttUnavailable("--stt base: this tree has no embedded multilingual base model yet")
        try:
            args = parser.parse_args(["--model", "base", "--language", "en,fr"])
        except SystemExit as err:
            raise SttUnavailable("--stt base: `--language en,fr` is not accepted yet") from err
    elif name == "base-beam1":
        stt_settings("base")
        args = parser.parse_args(["--model", "base", "--language", "en,fr", "--beam-size", "1"])
    elif name == "base-noalt":
        stt_settings("base")
        args = parser.parse_args(["--model", "base", "--language", "en,fr", "--no-alternatives"])
    elif name == "base-nohint":
        stt_settings("base")
        args = parser.parse_args(["--model", "base", "--language", "en,fr", "--ignore-wake-hint"])
    elif name == "base+prompt":
        stt_settings("base")
        args = parser.parse_args(
            ["--model", "base", "--language", "en,fr", *(f"--initial-prompt={p}" for p in PROMPTS)]
        )
    elif name == "base+bias":
        option = next((o for o in BIAS_OPTIONS if o in parser._option_string_actions), None)
        if option is None:
            raise SttUnavailable(f"--stt base+bias: jarvis stt has none of {', '.join(BIAS_OPTIONS)} yet")
        stt_settings("base")  # raises if base itself is not there
        args = parser.parse_args(["--model", "base", "--language", "en,fr", option, BIAS_TEXT])
    else:
        raise SttUnavailable(
            f"unknown --stt {name!r} (tiny.en, base, base-beam1, base-noalt, base-nohint, base+prompt or "
            "base+bias)"
        )
    try:
        settings, _ = stt_main.settings_from_args(args)
    except (SystemExit, ValueError) as err:
        raise SttUnavailable(f"--stt {name}: {err}") from err
    return settings


WAKE_GAP_S = 0.12
"""Silence between a wake phrase said by another voice (see :func:`.voices.wake_voice`) and the command."""


def clean_audio(voice: Voice, text: str) -> bytes:
    """``"hey jarvis, " + text`` in ``voice``; the wake phrase in its wake voice where it has one."""
    waker = wake_voice(voice)
    if waker is voice:
        return synthesize(voice, WAKE_PHRASE + text)
    gap = b"\0\0" * int(WAKE_GAP_S * RATE)
    return synthesize(waker, WAKE_PHRASE.strip(" ,")) + gap + synthesize(voice, text)


def cached_audio(voice: Voice, text: str, condition: str) -> bytes:
    clean = clean_audio(voice, text)
    return apply_condition(clean, condition, LEAD_S, TAIL_S, seed_for(voice.name, condition, text))


@dataclass
class Results:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    stt_names: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    trials: int = 0
    stt_wall_s: dict[str, float] = field(default_factory=dict)
    ceiling: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    """(STT, voice) -> (mean WER, files) of whole clean files decoded with the language pinned."""
    speed: float = 1.0
    parallel: int = 1


ENGLISH_ONLY = {"tiny.en"}


def english_only(name: str) -> bool:
    return split_choice(name)[0] in ENGLISH_ONLY


async def _ceiling(
    bench: Bench, name: str, trials: Sequence[Trial], per_voice: int, results: Results
) -> None:
    """How intelligible each voice is at best: whole clean files, language pinned."""
    for voice in sorted({t.voice for t in trials}, key=lambda v: v.name):
        texts = sorted({t.item.text for t in trials if t.voice.lang == voice.lang})
        sample = random.Random(voice.name).sample(texts, min(per_voice, len(texts)))
        scores = []
        for text in sample:
            heard = await bench.decode_whole(voice, text)
            scores.append(wer(clean_text(text), strip_wake(heard)))
        results.ceiling[(name, voice.name)] = (sum(scores) / len(scores), len(scores))


async def run_bench(
    trials: Sequence[Trial],
    stt_names: Sequence[str],
    audio_for: AudioFor = cached_audio,
    *,
    speed: float = 1.0,
    parallel: int = 1,
    ceiling: int = 0,
) -> Results:
    """Every trial through each STT choice in turn; ``parallel`` satellites at once."""
    from jarvis.server.serve import use_larger_default_executor

    use_larger_default_executor()
    results = Results(stt_names=list(stt_names), trials=len(trials))
    start = time.monotonic()
    for name in stt_names:
        try:
            stt_settings(name)
        except SttUnavailable as err:
            _LOGGER.warning("Skipping STT %s: %s", name, err)
            results.skipped[name] = str(err)
            continue
        mine = [t for t in trials if not english_only(name) or t.item.lang == "en"]
        try:
            bench = await Bench(name, audio_for, speed).__aenter__()
        except Exception as err:  # e.g. the base model cannot be assembled here
            _LOGGER.warning("Skipping STT %s: %s", name, err)
            results.skipped[name] = f"--stt {name} did not start: {err}"
            continue
        t0 = time.monotonic()
        queue: asyncio.Queue[tuple[int, Trial]] = asyncio.Queue()
        for n, trial in enumerate(mine, 1):
            queue.put_nowait((n, trial))

        async def worker(
            stt: str = name, bench: Bench = bench, total: int = len(mine), queue: Any = queue
        ) -> None:
            while not queue.empty():
                n, trial = queue.get_nowait()
                outcome = await bench.run_trial(trial)
                results.outcomes.append(outcome)
                u = outcome.utterance if outcome.woke or outcome.ptt is None else outcome.ptt
                _LOGGER.info(
                    "[%s %d/%d] %s/%s %s: %s | heard %r | answer %r",
                    stt,
                    n,
                    total,
                    trial.voice.name,
                    trial.condition,
                    trial.item.text,
                    "ok"
                    if outcome.success
                    else f"FAIL ({outcome.reason}"
                    + (
                        f"; push-to-talk {'ok' if outcome.ptt_success else outcome.ptt_reason}"
                        if outcome.ptt is not None
                        else ""
                    )
                    + ")",
                    u.transcript,
                    u.answer[:80],
                )

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, parallel))))
            results.stt_wall_s[name] = time.monotonic() - t0
            if ceiling and not english_only(name):
                await _ceiling(bench, name, mine, ceiling, results)
        finally:
            await bench.__aexit__(None, None, None)
    results.wall_s = time.monotonic() - start
    return results


# ------------------------------------------------------------------------------------------------
# Report


def _pct(values: Sequence[bool]) -> str:
    return f"{100 * sum(values) / len(values):.0f}% ({sum(values)}/{len(values)})" if values else "–"


def _rate(values: Sequence[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _wer_text(outs: Sequence[Outcome]) -> str:
    values = [o.wer for o in outs if o.wer is not None]
    return f"{100 * sum(values) / len(values):.0f}%" if values else "–"


def _summary(outs: Sequence[Outcome]) -> list[object]:
    """trials, end-to-end success, success given wake, understood (wake or push-to-talk), WER, FA."""
    woke = [o for o in outs if o.woke]
    opens = [o for o in outs if o.trial.item.kind == "open"]
    return [
        len(outs),
        _pct([o.success for o in outs]),
        _pct([o.success for o in woke]),
        _pct([o.understood for o in outs]),
        _wer_text(outs),
        _pct([o.false_accept for o in opens]),
    ]


SUMMARY_HEADERS = ("trials", "success e2e", "success given wake", "understood (wake or PTT)", "WER", "FA")


def _side_by_side(outs: Sequence[Outcome], stts: Sequence[str], key: str, values: Sequence[str]) -> str:
    """One row per value of ``key`` (voice or condition), each STT's summary side by side."""
    headers = [key] + [f"{s}: {h}" for s in stts for h in SUMMARY_HEADERS]
    rows = []
    for value in values:
        row: list[object] = [value]
        for s in stts:
            sel = [o for o in outs if o.stt == s and _key(o, key) == value]
            row += _summary(sel) if sel else ["–"] * len(SUMMARY_HEADERS)
        rows.append(row)
    return markdown_table(headers, rows)


def _key(o: Outcome, key: str) -> str:
    if key == "voice":
        return o.trial.voice.name
    if key == "condition":
        return o.trial.condition
    return f"{o.trial.voice.name} / {o.trial.condition}"


def render(results: Results, conditions: Sequence[str]) -> str:
    outs = results.outcomes
    stts = [s for s in results.stt_names if s not in results.skipped]
    body = [
        "## Understanding: spoken commands in unfamiliar voices",
        "",
        "In one process on 127.0.0.1: real STT, TTS (bundled piper voice), brain with **no** language "
        "model, and hub; every trial is a fresh in-process `jarvis.satellite` (its own local wake "
        'word, pymicro-wakeword `hey_jarvis`, pre-roll and protocol) whose microphone plays `"hey jarvis, '
        "<command>\"` in a voice that is not the assistant's (espeak-ng, flite, festival, SVOX Pico, piper "
        "joe slowed and noisier; French: espeak-ng and Pico, their wake phrase said by an English voice of "
        "the same engine), in one of: clean, pink noise at 20 and 10 dB SNR, reverb "
        f"(sox), fed at {results.speed:g}× real time (the hub counts audio time), {results.parallel} "
        "satellites at once. Setup turns (set a timer before cancelling it, say a name before asking "
        "it) are said first by the same satellite, same voice and condition; each trial is a fresh user. "
        "Corpus: `server/bench/data/understand.yaml`, written from how people speak, not from the "
        "intent templates.",
        "",
        "- **success e2e**: the wake word fired (on every turn of the trial), no hub error, the answer "
        "text the satellite received matches the item's check and the timer events it asks for "
        "arrived. A missed wake word is a failure.",
        "- **success given wake**: the same, over the trials whose wake word fired.",
        "- **understood (wake or PTT)**: when the wake word missed, the same audio (wake phrase "
        "included) was sent again as push-to-talk turns (`run-pipeline` from `asr`), so STT + brain "
        "are still measured on voices the wake word does not fire on. Never counted as e2e success.",
        "- **WER**: the transcript (wake phrase removed) against the command text, mean per trial.",
        "- **FA** (false accepts): open questions answered by a local intent instead of the honest "
        "“I need a language model” answer.",
        "- **latency**: last speech sample sent → first answer audio at the satellite (wake path "
        "only); with faster-than-real-time feeding the hub's 0.6 s end-of-speech silence passes "
        "faster too, so this is mostly STT + brain + TTS time.",
        "",
    ]
    rows = []
    for stt in stts:
        for lang in ("en", "fr"):
            sel = [o for o in outs if o.stt == stt and o.trial.item.lang == lang]
            if not sel:
                continue
            lat = [o.utterance.latency_s for o in sel if o.utterance.latency_s is not None]
            local = [o for o in sel if o.trial.item.kind == "local"]
            rows.append(
                [
                    stt,
                    lang,
                    *_summary(sel),
                    _pct([o.understood for o in local]),
                    _pct([o.woke for o in sel]),
                    f"{median(lat) * 1000:.0f}" if lat else "–",
                    f"{percentile(lat, 95) * 1000:.0f}" if lat else "–",
                ]
            )
    body += [
        "Overall:",
        "",
        markdown_table(
            [
                "STT",
                "lang",
                *SUMMARY_HEADERS,
                "commands understood",
                "wake heard",
                "latency median ms",
                "p95 ms",
            ],
            rows,
        ),
        "",
    ]
    voices = sorted({o.trial.voice.name for o in outs}, key=lambda v: (v.startswith("espeak-fr"), v))
    body += [
        "Per voice (all conditions), STT choices side by side:",
        "",
        _side_by_side(outs, stts, "voice", voices),
        "",
        "Per condition (all voices), STT choices side by side:",
        "",
        _side_by_side(
            outs, stts, "condition", [c for c in conditions if any(o.trial.condition == c for o in outs)]
        ),
        "",
        "Per voice × condition cell:",
        "",
        _side_by_side(outs, stts, "cell", sorted({_key(o, "cell") for o in outs})),
        "",
    ]
    wake_rows = []
    for v in voices:
        row: list[object] = [v]
        for c in conditions:
            heard = [o.woke for o in outs if o.trial.voice.name == v and o.trial.condition == c]
            row.append(_pct(heard))
        row.append(_pct([o.woke for o in outs if o.trial.voice.name == v]))
        wake_rows.append(row)
    body += [
        "Wake word fired on the satellite (every turn of the trial), per voice, all STT runs:",
        "",
        markdown_table(["voice", *conditions, "all"], wake_rows),
        "",
    ]
    if results.ceiling:
        ceiling_rows = [
            [stt, voice, f"{100 * value:.0f}%", n]
            for (stt, voice), (value, n) in sorted(results.ceiling.items())
        ]
        body += [
            "How intelligible each voice is at best (its ceiling): clean `hey jarvis, <command>` files "
            "decoded whole by the multilingual STT with the language pinned to the voice's (no "
            "streaming, no endpointing, no language detection):",
            "",
            markdown_table(["STT", "voice", "WER (whole file, language pinned)", "files"], ceiling_rows),
            "",
        ]
    intent_rows = []
    for intent in sorted({o.trial.item.intent for o in outs}):
        row = [intent]
        for s in stts:
            sel = [o for o in outs if o.stt == s and o.trial.item.intent == intent]
            row.append(_pct([o.understood for o in sel]))
        intent_rows.append(row)
    body += [
        "Understood (wake or PTT) per intent:",
        "",
        markdown_table(["intent", *stts], intent_rows),
        "",
    ]
    goals = []
    for s in stts:
        for lang, goal in GOALS.items():
            at20 = [
                o for o in outs if o.stt == s and o.trial.item.lang == lang and o.trial.condition == "noise20"
            ]
            if not at20:
                goals.append(f"{s}: {lang.upper()} at 20 dB ≥ {goal:.0%}: not measured")
                continue
            e2e = _rate([o.success for o in at20]) or 0.0
            und = _rate([o.understood for o in at20]) or 0.0
            verdict = "met" if e2e >= goal else "NOT met"
            goals.append(
                f"{s}: {lang.upper()} at 20 dB {e2e:.0%} end to end, {und:.0%} understood, of "
                f"{len(at20)} (goal ≥ {goal:.0%}: {verdict})"
            )
        fa = [o.false_accept for o in outs if o.stt == s and o.trial.item.kind == "open"]
        rate = _rate(fa)
        if rate is not None:
            goals.append(
                f"{s}: false accepts {rate:.1%} of {len(fa)} (goal ≤ {FALSE_ACCEPT_GOAL:.0%}: "
                f"{'met' if rate <= FALSE_ACCEPT_GOAL else 'NOT met'})"
            )
    body += ["Goals: " + "; ".join(goals) + ".", ""]
    for name, why in results.skipped.items():
        body += [f"Skipped STT {name}: {why}", ""]
    missed = [o for o in outs if not o.understood]
    if missed:
        body += [f"Not understood ({len(missed)} of {len(outs)}), first 40:", ""]
        for o in missed[:40]:
            u = o.utterance if o.woke or o.ptt is None else o.ptt
            why = o.reason if o.woke else f"wake missed; PTT: {o.ptt_reason}"
            body.append(
                f"- {o.stt}, {o.trial.voice.name}/{o.trial.condition}: “{o.trial.item.text}” → "
                f"heard “{strip_wake(u.transcript)}” → “{u.answer[:90]}” ({why})"
            )
        body.append("")
    walls = ", ".join(f"{s} {t:.0f} s" for s, t in results.stt_wall_s.items())
    body.append(f"Command: `jarvis bench understand` ({results.trials} trials; {walls}).")
    return "\n".join(body)


LATENCY_GOAL_S = 0.3
CUT_OFF_GOAL = 0.02
"""Issue goals: median end of speech -> first answer audio for a local intent; turns cut off."""


def _ms(values: Sequence[float], q: float | None = None) -> str:
    if not values:
        return "–"
    return f"{(median(values) if q is None else percentile(values, q)) * 1000:.0f}"


def render_endpoint(results: Results) -> str:
    """The endpoint settings side by side: cut-offs and the time from end of speech to the answer."""
    outs = results.outcomes
    names = [s for s in results.stt_names if s not in results.skipped]
    rows, goals = [], []
    for name in names:
        woke = [o for o in outs if o.stt == name and o.woke]
        measured = [o for o in woke if o.utterance.endpoint_s is not None]
        waits = [w for w in (o.utterance.endpoint_s for o in woke) if w is not None and w >= 0]
        local_ok = [
            o.utterance.latency_s
            for o in woke
            if o.success and o.trial.item.kind == "local" and o.utterance.latency_s is not None
        ]
        every = [o.utterance.latency_s for o in woke if o.utterance.latency_s is not None]
        cut = [o.utterance.cut_off for o in measured]
        paused_cut = [o.utterance.cut_off for o in measured if PAUSE_MARK.search(o.trial.item.text)]
        rows.append(
            [
                name,
                len(woke),
                _pct([o.success for o in woke]),
                _pct(cut),
                _pct(paused_cut),
                _ms(waits),
                _ms(local_ok),
                _ms(local_ok, 95),
                _ms(every),
            ]
        )
        if local_ok:
            value = median(local_ok)
            verdict = "met" if value <= LATENCY_GOAL_S else "NOT met"
            goals.append(
                f"{name}: median {value * 1000:.0f} ms for a local intent "
                f"(goal ≤ {LATENCY_GOAL_S * 1000:.0f} ms: {verdict})"
            )
        if cut:
            rate = sum(cut) / len(cut)
            verdict = "met" if rate <= CUT_OFF_GOAL else "NOT met"
            goals.append(f"{name}: {rate:.1%} cut off (goal ≤ {CUT_OFF_GOAL:.0%}: {verdict})")
    body = [
        "## Endpointing: cut-offs and end of speech → answer, spoken commands",
        "",
        "`jarvis bench understand --endpoint …`: the same path as the understanding benchmark (an "
        "in-process `jarvis.satellite` with its own wake word, hub, real STT, brain without a language "
        f"model, TTS), fed at {results.speed:g}× real time, {results.parallel} satellite(s) at once; "
        "one hub per setting, the settings run one after the other on the same trials. The hub's "
        "endpoint settings (docs/hub.md): `fixed` waits 0.6 s of silence; `semantic` asks the brain "
        "whether the words so far are a complete local command (0.2 s) or unfinished (1.0 s). The "
        "end-of-turn audio model (smart-turn) is not a setting: measured and not adopted (docs/hub.md).",
        "",
        "- **cut off**: the hub stopped listening (`voice-stopped`) before the last speech sample was "
        "sent; *with a pause*: the commands said with a mid-sentence pause (“set a timer for… ten "
        "minutes”).",
        "- **speech end → stop**: last speech sample sent → the satellite stops streaming (turns not "
        "cut off).",
        "- **→ first audio**: last speech sample sent → first answer audio at the satellite; *local "
        "intent*: over the commands answered right.",
        "",
        markdown_table(
            [
                "setting",
                "trials (woke)",
                "success e2e",
                "cut off",
                "cut off, with a pause",
                "speech end → stop, median ms",
                "→ first audio, local intent, median ms",
                "p95 ms",
                "→ first audio, every turn, median ms",
            ],
            rows,
        ),
        "",
    ]
    if goals:
        body += ["Goals: " + "; ".join(goals) + ".", ""]
    walls = ", ".join(f"{s} {t:.0f} s" for s, t in results.stt_wall_s.items())
    body.append(f"Command: `jarvis bench understand --endpoint …` ({results.trials} trials; {walls}).")
    return "\n".join(body)


def dump(results: Results, path: Path) -> None:
    rows = [
        {
            "stt": o.stt,
            "voice": o.trial.voice.name,
            "condition": o.trial.condition,
            "id": o.trial.item.id,
            "lang": o.trial.item.lang,
            "intent": o.trial.item.intent,
            "kind": o.trial.item.kind,
            "text": o.trial.item.text,
            "woke": o.utterance.woke,
            "transcript": o.utterance.transcript,
            "answer": o.utterance.answer,
            "events": o.utterance.events,
            "timers_s": o.utterance.timers_s,
            "error": o.utterance.error,
            "latency_s": o.utterance.latency_s,
            "endpoint_s": o.utterance.endpoint_s,
            "wer": o.wer,
            "success": o.success,
            "reason": o.reason,
            "setup_ok": o.setup_ok,
            "ptt_transcript": o.ptt.transcript if o.ptt else None,
            "ptt_answer": o.ptt.answer if o.ptt else None,
            "ptt_success": o.ptt_success if o.ptt else None,
            "ptt_reason": o.ptt_reason if o.ptt else None,
        }
        for o in results.outcomes
    ]
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=0, help="at most N trials per STT (default: all)")
    parser.add_argument("--voices", help="comma-separated voice names (default: all installed)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help=f"default {','.join(CONDITIONS)}")
    parser.add_argument(
        "--stt",
        default="tiny.en,base,base+bias",
        help="STT choices, comma-separated: tiny.en, base, base-beam1 (greedy decoding), base-noalt (no "
        "runners-up sent to the brain), base-nohint "
        "(base ignoring the hub's wake hint), base+bias (unavailable ones are skipped)",
    )
    parser.add_argument("--reps", type=int, default=2, help="cells (voice x condition) per item (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the design and the noise (default 1)")
    parser.add_argument("--lang", choices=["en", "fr"], help="only this language")
    parser.add_argument(
        "--speed", type=float, default=3.0, help="feed the microphone this many times real time (default 3)"
    )
    parser.add_argument(
        "--ceiling", type=int, default=15, help="per voice, clean files decoded whole (source WER; 0: none)"
    )
    parser.add_argument("--parallel", type=int, default=2, help="satellites at once (default 2)")
    parser.add_argument(
        "--endpoint",
        help="compare the hub's endpoint settings instead (comma-separated: fixed, semantic, semantic:S "
        "= waiting at most S seconds of silence for the verdict); writes the "
        "endpointing section of docs/benchmarks.md (latency and cut-offs); run it with --speed 1",
    )
    parser.add_argument("--json", type=Path, help="also write every trial to this JSON file")
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")


async def run(args: argparse.Namespace) -> int:
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise SystemExit(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
    voices = select(args.voices, args.lang)
    items = [i for i in load_corpus() if args.lang is None or i.lang == args.lang]
    items = [i for i in items if any(v.lang == i.lang for v in voices)]
    trials = design(items, voices, conditions, args.reps, args.seed, args.limit or None)
    stt_names = [s.strip() for s in args.stt.split(",") if s.strip()]
    endpoints = [e.strip() for e in (args.endpoint or "").split(",") if e.strip()]
    if unknown := [e for e in endpoints if not known_endpoint(e)]:
        raise SystemExit(
            f"unknown endpoint(s) {', '.join(unknown)}; known: fixed, semantic, semantic:SECONDS"
        )
    if endpoints:
        stt_names = [f"{s}@{e}" for s in stt_names for e in endpoints]
    _LOGGER.info(
        "%d trials x %d STT, %d voices, %d conditions",
        len(trials),
        len(stt_names),
        len(voices),
        len(conditions),
    )
    results = await run_bench(
        trials, stt_names, speed=args.speed, parallel=args.parallel, ceiling=args.ceiling
    )
    results.speed, results.parallel = args.speed, args.parallel
    if endpoints:
        section, body = "endpoint", render_endpoint(results)
    else:
        section, body = "understand", render(results, conditions)
    print(body)
    if args.json:
        dump(results, args.json)
    if not args.no_write and results.outcomes:
        write_section(section, body)
    return 0 if results.outcomes else 1
