"""The brain as a Wyoming ``handle`` service: ``transcript`` in, a streamed spoken answer out.

Per turn: pending confirmation (yes/no) -> prefilter (hallucinations, foreign scripts; in
always-listening mode an LLM "was that for me?" check) -> self-introduction (first conversation)
-> fast paths in order (local intents, Home Assistant...) -> the LLM agent. Output to the client:
Wyoming events from tools/intents (``timer-started``...) as they happen, then ``handled-start``,
one ``handled-chunk`` per sentence as soon as it is complete, the compatibility ``handled`` with the
full text (Home Assistant reads only that), and ``handled-stop``. A rejected transcript gets
``not-handled``; a failure an ``error`` event, and the connection stays usable.

Who is speaking: only a connection that opened with ``jarvis-peer-auth`` and the peer secret (the hub,
:mod:`jarvis.protocol.peer_auth`) may say so in the transcript's ``context`` (``user_id``,
``satellite_id``, ``area``). Any other client (Home Assistant, a raw client) is the default user unless
*configuration* (``user_map``) maps its ``device_id``/``satellite_id`` to a user; its timers live in a
namespace of their own (``unverified:<id>``), so it never sees, sets, cancels or hears a real
satellite's timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sentence_stream import stream_to_sentences
from wyoming.asr import Transcript
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled
from wyoming.info import Attribution, Describe, HandleModel, HandleProgram, Info

from jarvis.protocol import __version__
from jarvis.protocol.endpoint import IntentProbe, IntentVerdict
from jarvis.protocol.events import EXPECTS_ANSWER_KEY, alternatives_of
from jarvis.protocol.logs import private
from jarvis.protocol.peer_auth import UNVERIFIED_PREFIX, PeerAuth, PeerAuthed, secrets_match
from jarvis.protocol.service import ServiceHandler, WyomingServer

from ..timer_file import TimerFile
from .agent import Agent, AgentSettings, Output
from .completeness import judge
from .context import Reply, TurnContext
from .intents import IntentRecognizer, is_stop
from .llm import LLMBackend, complete
from .memory import MemoryStore, MemoryWriteError, UserSnapshot
from .memory_intents import MemoryIntents
from .normalize import normalize_transcript, wake_like_leads
from .persona import say
from .timers import TimerManager
from .tools.base import Tool
from .tools.registry import ToolRegistry

_LOGGER = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10500"
LANGUAGES = ["en", "fr"]


class FastPath(Protocol):
    """A recognizer tried before the LLM: a :class:`Reply`, or None for "not mine"."""

    async def handle(self, ctx: TurnContext) -> Reply | None: ...


class PrefilterLike(Protocol):
    def check(self, text: str, language: str = "en", always_listening: bool = False) -> Any: ...


@dataclass(frozen=True)
class BrainSettings:
    always_listening: bool = False
    """No wake word: an LLM check decides whether each utterance was meant for Jarvis."""
    onboarding: bool = True
    """Ask a new user to introduce themselves in their first conversation."""
    default_user: str = "default"
    user_map: Mapping[str, str] = field(default_factory=dict)
    """satellite_id / device_id -> ``user`` or ``user@area``."""
    timezone: str | None = None
    """IANA name of the users' timezone (None: the server's)."""
    agent: AgentSettings = field(default_factory=AgentSettings)


@dataclass
class TurnEnd:
    """The last item of :meth:`Brain.turn`."""

    handled: bool
    text: str = ""
    turn_id: int | None = None
    source: str = ""
    """prefilter, confirm, onboarding, intent, agent"""
    expects_answer: bool = False
    """The answer asks the user something; ``handled``'s context says so (docs/satellite-protocol.md)."""


def parse_user_map(items: Iterable[str]) -> dict[str, str]:
    """``["kitchen-sat=ann@kitchen", "abc123=bob"]`` -> a dict; raises ValueError on a bad item."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"--user-map wants DEVICE_OR_SATELLITE_ID=USER[@AREA], got {item!r}")
        out[key.strip()] = value.strip()
    return out


class Brain:
    """Everything a turn needs, shared by every connection."""

    ADDRESSEE_PROMPT = (
        "You are the gatekeeper of a voice assistant named Jarvis that hears everything in a room. "
        "Given the recent conversation and the new utterance, answer yes if the utterance is a coherent "
        "request or question addressed to the assistant, no otherwise. Reply with yes or no only."
    )

    def __init__(
        self,
        llm: LLMBackend,
        memory: MemoryStore,
        tools: ToolRegistry,
        fast_paths: Sequence[FastPath] = (),
        prefilter: PrefilterLike | None = None,
        settings: BrainSettings | None = None,
        peer_secret: str = "",
    ) -> None:
        self.llm = llm
        self.memory = memory
        self.tools = tools
        self.fast_paths = list(fast_paths)
        self.prefilter = prefilter
        self.settings = settings or BrainSettings()
        self.agent = Agent(llm, tools, memory, self.settings.agent)
        self.tz = ZoneInfo(self.settings.timezone) if self.settings.timezone else None
        self.peer_secret = peer_secret
        """What a peer (the hub) must present in ``jarvis-peer-auth``; empty: no peer is trusted."""
        self.timers: Any = None
        """The TimerManager whose ``timer-finished`` events :meth:`timer_event` routes (closed with us)."""
        self._background: set[asyncio.Task[Any]] = set()
        self._subscribers: dict[str | None, set[ServiceHandler]] = {}

    # -- context ----------------------------------------------------------------------------------

    def context_from(self, transcript: Transcript, trusted: bool = False) -> TurnContext:
        """Map a Wyoming transcript (and HA's device/satellite ids) to a Jarvis user, area, conversation.

        ``trusted``: the connection proved it is the hub (``jarvis-peer-auth``), so its ``user_id``,
        ``satellite_id`` and ``area`` are believed. Otherwise only configuration (``user_map``) can make
        the turn someone other than the default user, and its satellite is ``unverified:<id>``.
        """
        context = transcript.context if isinstance(transcript.context, dict) else {}
        satellite_id = _str_or_none(context.get("satellite_id"))
        device_id = _str_or_none(context.get("device_id"))
        user_id = _str_or_none(context.get("user_id")) if trusted else None
        area = _str_or_none(context.get("area")) if trusted else None
        for key in (satellite_id, device_id):
            if key and (mapped := self.settings.user_map.get(key)):
                mapped_user, _, mapped_area = mapped.partition("@")
                user_id = user_id or mapped_user or None
                area = area or mapped_area or None
                break
        user = str(user_id or self.settings.default_user)
        where = satellite_id or device_id
        if not trusted:
            where = f"{UNVERIFIED_PREFIX}{where or 'default'}"
        conversation = _str_or_none(context.get("conversation_id")) or f"{user}:{where or 'default'}"
        language = transcript.language or "en"
        alternatives = tuple(normalize_transcript(a, language) for a in alternatives_of(context))
        return TurnContext(
            text=normalize_transcript(transcript.text or "", language),
            language=language,
            user_id=user,
            conversation_id=conversation,
            satellite_id=where or None,
            area=area or None,
            tz=self.tz,
            alternatives=alternatives,
        )

    async def judge(self, text: str, language: str | None) -> IntentVerdict:
        """``jarvis-intent-probe``: is ``text`` a complete local command? Parses only, runs nothing."""
        recognizer = next((p for p in self.fast_paths if isinstance(p, IntentRecognizer)), None)
        verdict = await asyncio.to_thread(judge, recognizer, text, language)
        _LOGGER.debug("Intent probe %r: %s", private(text, _LOGGER), verdict.verdict)
        return verdict

    def peer_trusted(self, secret: object) -> bool:
        """Whether ``secret`` (from ``jarvis-peer-auth``) is this brain's peer secret (constant time)."""
        return secrets_match(self.peer_secret, secret)

    # -- one turn ---------------------------------------------------------------------------------

    async def turn(
        self, ctx: TurnContext, always_listening: bool | None = None
    ) -> AsyncGenerator[Output | TurnEnd, None]:
        """Answer one turn: :class:`Output` items as they are ready, then one :class:`TurnEnd`.

        ``always_listening`` overrides the setting for this turn (the transcript's context may say
        the satellite has no wake word).
        """
        settings = self.settings
        ambient = settings.always_listening if always_listening is None else always_listening
        snap = await self.memory.snapshot(ctx.user_id, ctx.conversation_id, settings.agent.history_turns)
        spoken: list[str] = []
        asks = False  # the last sentence said asks the user something (only the last one decides)

        def out(item: Output) -> Output:
            nonlocal asks
            if item.text:
                spoken.append(item.text)
                asks = item.expects_answer
            return item

        source = ""
        reply = await self.agent.take_pending(ctx, snap.pending)
        if reply is not None:
            source = "confirm"
            for item in _reply_outputs(reply):
                yield out(item)
        else:
            if self.prefilter is not None:
                verdict = self.prefilter.check(ctx.text, ctx.language, ambient)
                if not verdict.accepted:
                    _LOGGER.info(
                        "Prefilter rejected %r (%s)",
                        private(ctx.text, _LOGGER),
                        getattr(verdict, "reason", ""),
                    )
                    yield TurnEnd(False, source="prefilter")
                    return
            if ambient and not await self._addressed(ctx, snap):
                yield TurnEnd(False, source="prefilter")
                return
            if settings.onboarding and snap.profile.onboarding == "asked":
                reply = await self._introduction(ctx)
                if reply is not None:
                    source = "onboarding"
                    for item in _reply_outputs(reply):
                        yield out(item)
            if not source:
                reply = await self._fast_path(ctx)
                if reply is not None:
                    source = "intent"
                    for item in _reply_outputs(reply):
                        yield out(item)
            if not source:
                if ambient and not await self.llm.available():
                    yield TurnEnd(False, source="prefilter")  # ambient talk, nothing to answer it with
                    return
                source = "agent"
                async with contextlib.aclosing(self.agent.answer(ctx, snap)) as answer:
                    async for item in answer:
                        yield out(item)
            if settings.onboarding and snap.profile.onboarding == "new" and spoken and source != "onboarding":
                if snap.profile.is_empty():
                    yield out(Output(text=say("intro_question", ctx.language), expects_answer=True))
                    await self.memory.set_onboarding(ctx.user_id, "asked")
                else:
                    await self.memory.set_onboarding(ctx.user_id, "done")

        text = " ".join(spoken)
        turn_id = await self.memory.add_turn(
            ctx.user_id, ctx.conversation_id, ctx.text, text, ctx.language, source
        )
        self._maybe_refresh(ctx.user_id, snap.user_turns + 1)
        yield TurnEnd(True, text, turn_id, source, expects_answer=asks)

    async def _fast_path(self, ctx: TurnContext) -> Reply | None:
        reply = await self._first_fast_path(ctx)
        if reply is not None:
            return reply
        # Nothing matched: maybe what whisper made of "hey jarvis" hides the command ("They jar
        # this, remember that ..."). Each fast path must still recognise the rest as a whole.
        for rest in wake_like_leads(ctx.text):
            reply = await self._first_fast_path(replace(ctx, text=rest))
            if reply is not None:
                return reply
        # Still nothing: what the STT nearly heard instead ("console timer!" was its best guess, "cancel
        # the timer." its second). Only a whole local command in one of them counts; else the agent.
        for alternative in ctx.alternatives:
            reply = await self._first_fast_path(replace(ctx, text=alternative, alternatives=()), guess=True)
            # A bare "stop" / « c'est tout » is what noise turns into most often: never from a runner-up.
            if reply is not None and not is_stop(reply):
                _LOGGER.debug("Answered from the STT's runner-up %r", private(alternative, _LOGGER))
                return reply
        return None

    async def _first_fast_path(self, ctx: TurnContext, guess: bool = False) -> Reply | None:
        """The first fast path's reply. ``guess`` (an STT runner-up): the speaker's memory is not
        offered it, since a memory command writes as it answers ("come with me" had the runner-up
        "call me Madeline", stored as the speaker's name)."""
        for recognizer in self.fast_paths:
            if guess and isinstance(recognizer, MemoryIntents):
                continue
            try:
                reply = await recognizer.handle(ctx)
            except Exception:  # a broken recognizer must not cost the user the answer
                _LOGGER.exception(
                    "Fast path %s failed on %r", type(recognizer).__name__, private(ctx.text, _LOGGER)
                )
                continue
            if reply is not None:
                return reply
        return None

    async def _introduction(self, ctx: TurnContext) -> Reply | None:
        """The turn after "tell me about yourself": store what the user said about themselves."""
        await self.memory.set_onboarding(ctx.user_id, "done")
        found = await self.agent.extract_introduction(ctx.text)
        if not found:
            return None  # not an introduction: answer it like any other turn
        try:
            await self.memory.update_profile(ctx.user_id, **found)
        except MemoryWriteError as err:  # e.g. a read-only data dir: say so, do not fail the turn
            _LOGGER.warning("Could not store the self-introduction of %s: %s", ctx.user_id, err)
            return Reply(err.apology(ctx.language))
        _LOGGER.info("Stored the self-introduction of %s: %s", ctx.user_id, sorted(found))
        if name := found.get("name"):
            return Reply(say("nice_to_meet", ctx.language, name=name))
        return Reply(say("noted", ctx.language))

    async def _addressed(self, ctx: TurnContext, snap: UserSnapshot) -> bool:
        """Always-listening layer 3: ask the LLM whether the utterance was meant for Jarvis."""
        if not await self.llm.available():
            return True  # cannot tell; only fast paths will answer (see turn())
        recent = "\n".join(f"User: {t.user_text}\nJarvis: {t.assistant_text}" for t in snap.history[-3:])
        messages = [
            {"role": "system", "content": self.ADDRESSEE_PROMPT},
            {
                "role": "user",
                "content": f"Recent conversation:\n{recent or '(none)'}\n\nNew utterance: {ctx.text}",
            },
        ]
        try:
            answer = (await complete(self.llm, messages)).strip().lower()
        except Exception as err:  # noqa: BLE001 - an unanswerable check must not drop the user's words
            _LOGGER.warning("Addressee check failed (%s); accepting", err)
            return True
        accepted = answer.startswith(("yes", "oui"))
        if not accepted:
            _LOGGER.info("Always-listening check: %r was not for Jarvis", private(ctx.text, _LOGGER))
        return accepted

    def _maybe_refresh(self, user_id: str, user_turns: int) -> None:
        every = self.settings.agent.memory_refresh_turns
        if every <= 0 or user_turns % every:
            return
        task = asyncio.create_task(self.agent.refresh_memory(user_id), name=f"memory-refresh-{user_id}")
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.error("Background task %s failed: %s", task.get_name(), err)

    # -- events that happen later (timer-finished) -----------------------------------------------

    def subscribe(self, satellite_id: str | None, handler: ServiceHandler) -> None:
        """``handler``'s connection receives later events (``timer-finished``) of this satellite."""
        self._subscribers.setdefault(satellite_id, set()).add(handler)

    def unsubscribe(self, handler: ServiceHandler) -> None:
        for satellite_id, handlers in list(self._subscribers.items()):
            handlers.discard(handler)
            if not handlers:  # never let one entry per satellite id ever seen pile up
                del self._subscribers[satellite_id]

    def timer_event(self, satellite_id: str | None, event: Event) -> None:
        """TimerManager callback: send the event on every open connection of that satellite."""
        handlers = list(self._subscribers.get(satellite_id, ()))
        if not handlers:
            # The usual case: the hub counts its satellites' timers down itself and rings them
            # (server/hub/timers.py); the brain's countdown answers "how long is left".
            _LOGGER.debug("%s for satellite %s: no connection of it open here", event.type, satellite_id)
            return
        for handler in handlers:
            task = asyncio.create_task(handler.write_event(event), name=f"{event.type}-{satellite_id}")
            self._background.add(task)
            task.add_done_callback(self._background_done)

    async def drain(self) -> None:
        """Wait for background work (memory refreshes) to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.timers is not None and hasattr(self.timers, "close"):
            await self.timers.close()
        await self.llm.close()


def _str_or_none(value: object) -> str | None:
    """A context value as a non-empty string (numbers allowed), else None (dicts, lists, "")."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)
    return text if text else None


def _reply_outputs(reply: Reply) -> list[Output]:
    outputs = [Output(events=list(reply.events))] if reply.events else []
    outputs += [Output(text=s) for s in stream_to_sentences([reply.speech or ""]) if s.strip()]
    return outputs


# -- Wyoming --------------------------------------------------------------------------------------


_ATTRIBUTION = Attribution(name="Jarvis, on the Wyoming protocol", url="https://github.com/OHF-Voice/wyoming")
"""Jarvis has no public home page; credit the protocol, as the hub's ``info`` does."""


def build_info(llm_name: str, home_control: bool = False) -> Info:
    """``home_control``: the brain can control a home (Home Assistant tools), which HA 2025.x shows."""
    return Info(
        handle=[
            HandleProgram(
                name="jarvis-brain",
                description="Jarvis: local intents, an LLM agent with tools, and per-user memory",
                attribution=_ATTRIBUTION,
                installed=True,
                version=__version__,
                models=[
                    HandleModel(
                        name=llm_name,
                        description="language model" if llm_name != "intents only" else "no LLM reachable",
                        attribution=_ATTRIBUTION,
                        installed=True,
                        version=None,
                        languages=list(LANGUAGES),
                    )
                ],
                supports_handled_streaming=True,
                supports_home_control=home_control,
            )
        ]
    )


class InfoCache:
    """``describe`` answers from a cached Info, rebuilt only when the LLM in use changes."""

    def __init__(self, llm: LLMBackend, home_control: bool = False) -> None:
        self.llm = llm
        self.home_control = home_control
        self._name = ""
        self._event: Event | None = None

    def event(self) -> Event:
        name = self.llm.name
        if self._event is None or name != self._name:
            self._name = name
            self._event = build_info(name, self.home_control).event()
        return self._event


class BrainHandler(ServiceHandler):
    """One connection: ``jarvis-peer-auth`` (the hub), ``describe``, ``transcript`` (one turn at a time),
    ``jarvis-intent-probe`` (the hub's semantic endpoint; peer-authenticated connections only)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, brain: Brain, info: InfoCache
    ) -> None:
        super().__init__(reader, writer)
        self.brain = brain
        self.info = info
        self.trusted = False
        """The peer proved it is the hub: its context's user_id/satellite_id are believed."""
        self._answered = False

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self.info.event())
            return True
        if PeerAuth.is_type(event.type):
            return await self._peer_auth(PeerAuth.from_event(event))
        if Transcript.is_type(event.type):
            if not isinstance(event.data.get("text"), str):
                await self.write_error("transcript needs a 'text' string", "bad-event")
                return True
            self._answered = True
            await self.answer(Transcript.from_event(event))
            return True
        if IntentProbe.is_type(event.type):
            return await self._probe(IntentProbe.from_event(event))
        return await self.unsupported(event)

    async def _probe(self, probe: IntentProbe) -> bool:
        """The hub's semantic endpoint asks; only the hub (a peer-authenticated connection) may."""
        if not self.trusted:
            await self.write_error("jarvis-intent-probe needs jarvis-peer-auth first", "unauthorized")
            return True
        await self.write_event((await self.brain.judge(probe.text, probe.language)).event())
        return True

    async def _peer_auth(self, auth: PeerAuth) -> bool:
        if self._answered or self.trusted:
            await self.write_error("jarvis-peer-auth must be the first event of a connection", "bad-event")
            return True
        if not self.brain.peer_trusted(auth.secret):
            _LOGGER.warning("%s: wrong peer secret in jarvis-peer-auth; closing", self.peer)
            await self.write_error("wrong peer secret", "unauthorized")
            return False
        self.trusted = True
        mark = getattr(self, "mark_authenticated", None)  # connection caps: keep a reserved slot
        if mark is not None:
            mark()
        await self.write_event(PeerAuthed().event())
        return True

    async def disconnect(self) -> None:
        self.brain.unsubscribe(self)

    async def answer(self, transcript: Transcript) -> None:
        started = time.monotonic()
        ctx = self.brain.context_from(transcript, trusted=self.trusted)
        self.brain.subscribe(ctx.satellite_id, self)
        try:
            context = transcript.context if isinstance(transcript.context, dict) else {}
            ambient = context.get("always_listening")
            turn = self.brain.turn(ctx, bool(ambient) if ambient is not None else None)
            async with contextlib.aclosing(turn) as items:
                await self._send(ctx, items, started)
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as err:
            _LOGGER.exception("Turn %r failed", ctx.text)
            await self.write_error(f"the brain failed on this turn: {err}", "brain-error")

    async def _send(self, ctx: TurnContext, items: AsyncIterator[Output | TurnEnd], started: float) -> None:
        sent_start = False
        reply_context: dict[str, Any] = {"conversation_id": ctx.conversation_id}
        async for item in items:
            if isinstance(item, TurnEnd):
                if not item.handled:
                    await self.write_event(NotHandled(context=reply_context).event())
                    return
                if not sent_start:
                    await self.write_event(HandledStart(context=reply_context).event())
                reply_context = {**reply_context, "turn_id": item.turn_id, "user_id": ctx.user_id}
                if item.expects_answer:
                    # Ours, and the name Home Assistant's conversation result uses for the same thing.
                    reply_context |= {EXPECTS_ANSWER_KEY: True, "continue_conversation": True}
                await self.write_event(Handled(text=item.text, context=reply_context).event())
                await self.write_event(HandledStop().event())
                _LOGGER.info(
                    "%s %s/%s %r -> %r (%s, %.0f ms)",
                    self.peer,
                    ctx.user_id,
                    ctx.conversation_id,
                    private(ctx.text, _LOGGER),  # the words: DEBUG or JARVIS_LOG_TRANSCRIPTS=1
                    private(item.text, _LOGGER),
                    item.source,
                    (time.monotonic() - started) * 1000,
                )
                return
            for extra in item.events:
                await self.write_event(extra)
            if item.text:
                if not sent_start:
                    await self.write_event(HandledStart(context=reply_context).event())
                    sent_start = True
                await self.write_event(HandledChunk(text=item.text).event())


class BrainServer(WyomingServer):
    """A started brain; :meth:`stop` also stops background work and closes the LLM backend."""

    def __init__(self, uri: str, brain: Brain, own_memory: bool) -> None:
        self.brain = brain
        self.info_cache = InfoCache(brain.llm, home_control="ha_call_service" in brain.tools)
        self._own_memory = own_memory
        super().__init__(uri, partial(BrainHandler, brain=brain, info=self.info_cache))

    @property
    def info(self) -> Info:
        """What ``describe`` answers now (zeroconf names the service from it)."""
        return build_info(self.brain.llm.name)

    async def stop(self) -> None:
        try:
            await super().stop()
            await self.brain.close()
        finally:
            if self._own_memory:
                await self.brain.memory.close()


def default_tools(memory: MemoryStore, timers: Any = None) -> list[Tool]:
    """Time, date, calculator, memory, ``expect_reply``, and timers when a TimerManager is given."""
    from .tools.calculator_tool import CalculatorTool
    from .tools.conversation import AnnounceTool, ExpectReplyTool
    from .tools.memory_tools import ForgetTool, RememberTool
    from .tools.time_date import DateTool, TimeTool

    tools: list[Tool] = [
        TimeTool(),
        DateTool(),
        CalculatorTool(),
        RememberTool(memory),
        ForgetTool(memory),
        ExpectReplyTool(),
        AnnounceTool(),
    ]
    if timers is not None:
        from .tools.timer_tools import timer_tools

        tools.extend(timer_tools(timers))
    return tools


async def start_brain(
    uri: str = DEFAULT_URI,
    llm: LLMBackend | None = None,
    *,
    memory: MemoryStore | None = None,
    fast_paths: Sequence[FastPath] | None = None,
    extra_fast_paths: Sequence[FastPath] = (),
    extra_tools: Iterable[Tool] = (),
    sensitive_tools: Iterable[str] = (),
    prefilter: PrefilterLike | None = None,
    timers: Any = None,
    settings: BrainSettings | None = None,
    probe: bool = True,
    peer_secret: str | None = None,
) -> BrainServer:
    """Start the brain and return the started server (``server.brain``, ``server.uri``).

    ``llm`` defaults to auto-detection (Ollama). ``fast_paths`` default to the local intents
    (with ``timers``, a TimerManager, created if None); ``extra_fast_paths`` (Home Assistant's
    recognizer) are tried after them. ``extra_tools`` join the built-in tools. ``prefilter`` defaults to
    :class:`jarvis.server.brain.prefilter.Prefilter`. ``peer_secret`` is what the hub must present
    to be believed about who is speaking; None = the one in the data dir (``<data dir>/peer-secret``,
    made if missing), ``""`` = believe no one.
    """
    if llm is None:
        from .llm.select import make_llm

        llm = make_llm("auto")
    own_memory = memory is None
    if memory is None:
        memory = await MemoryStore.open()
    brain_ref: list[Brain] = []
    if timers is None:
        timers = _default_timers(
            lambda sat, event: brain_ref[0].timer_event(sat, event) if brain_ref else None,
            TimerFile(memory.path.parent / TIMERS_FILENAME),
        )
        timers.restore()
    if fast_paths is None:  # compiling the intent templates takes a moment: not on the loop
        fast_paths = await asyncio.to_thread(_default_fast_paths, timers, memory)
    fast_paths = [*fast_paths, *extra_fast_paths]
    if prefilter is None:
        from .prefilter import Prefilter

        prefilter = await asyncio.to_thread(Prefilter)
    registry = ToolRegistry(default_tools(memory, timers), sensitive=sensitive_tools)
    registry.extend(extra_tools)
    if peer_secret is None:
        from ..tokens import load_or_create_peer_secret

        peer_secret = load_or_create_peer_secret()
    brain = Brain(llm, memory, registry, fast_paths, prefilter, settings, peer_secret=peer_secret)
    brain.timers = timers
    brain_ref.append(brain)
    if probe and hasattr(llm, "probe"):
        await llm.probe()
    server = BrainServer(uri, brain, own_memory)
    await server.start()
    _LOGGER.info("Brain ready on %s with %s and %d tools", server.uri, llm.name, len(registry))
    return server


TIMERS_FILENAME = "timers-brain.json"
"""The brain's timers, kept across restarts beside its memory (server/timer_file.py)."""


def _default_timers(on_event: Any, store: TimerFile | None = None) -> TimerManager:
    return TimerManager(on_event=on_event, store=store)


def _default_fast_paths(timers: TimerManager, memory: MemoryStore) -> list[FastPath]:
    return [IntentRecognizer(timers, memory_lookup(memory)), MemoryIntents(memory)]


def memory_lookup(memory: MemoryStore) -> Any:
    """What the intents ask memory ("what's my name?"): the current user's profile field, or None."""

    async def lookup(user_id: str, key: str = "name") -> str | None:
        profile = await memory.get_profile(user_id)
        value = getattr(profile, key, None)
        return str(value) if value else None

    return lookup
