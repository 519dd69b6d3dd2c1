"""The LLM agent: a ReAct-style loop over the model's tool calls, with memory in every prompt.

One turn: system prompt (persona + this user's profile, dynamic memory, facts + the tool list) and
the conversation's last turns, then the user's words. The model may call tools (several, in
sequence, over up to ``max_steps`` rounds); results, errors included, go back to it as ``tool``
messages until it answers in text. Text leaves sentence by sentence as soon as each is complete.

Sensitive tool calls are not run: the agent asks "Are you sure you want me to ...?" and stores the
call as pending on (conversation, user); the NEXT turn's yes/no runs or drops it without the LLM
(:meth:`Agent.take_pending`). Every ``memory_refresh_turns`` user turns, :meth:`refresh_memory`
rewrites the user's dynamic summary (run in the background by the caller).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from sentence_stream import SentenceBoundaryDetector
from wyoming.event import Event

from jarvis.protocol.logs import private

from .context import Reply, TurnContext
from .feedback_log import Trace, TraceLog
from .llm import LLMBackend, LLMError, Message, ToolCall, complete
from .memory import MemoryStore, Pending, UserSnapshot
from .persona import PROFILE_PROMPT, SUMMARY_PROMPT, parse_introduction, say, system_prompt, yes_no
from .tools.base import Tool, ToolError, ToolResult
from .tools.conversation import EXPECT_REPLY
from .tools.registry import ToolRegistry

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentSettings:
    max_steps: int = 5
    """LLM rounds that may call tools; one more round without tools forces an answer."""
    history_turns: int = 10
    """Past turns of the conversation sent with every prompt."""
    confirm_timeout: float = 60.0
    """Seconds a pending sensitive call can be confirmed."""
    memory_refresh_turns: int = 5
    """Rewrite the dynamic memory every N user turns (0 = never)."""


@dataclass
class Output:
    """A piece of the answer: a complete sentence to speak and/or Wyoming events for the hub."""

    text: str = ""
    events: list[Event] = field(default_factory=list)
    expects_answer: bool = False
    """This piece asks the user something (a confirmation, the onboarding question, an LLM's
    question): the satellite then listens for the reply without the wake word (docs/hub.md)."""


def describe_action(tool: Tool, arguments: dict[str, Any]) -> str:
    """Words for "Are you sure you want me to <action>?" (a tool may define ``describe_action``)."""
    custom = getattr(tool, "describe_action", None)
    if callable(custom):
        return str(custom(arguments))
    words = tool.spec.name.replace("_", " ")
    values = [str(v) for v in arguments.values() if v not in (None, "")]
    return f"{words} {' '.join(values)}".strip() if values else words


def _json_object(text: str) -> dict[str, Any]:
    match = re.search(r"\{.*\}", text, re.S)
    if not match:
        return {}
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


class Agent:
    def __init__(
        self,
        llm: LLMBackend,
        tools: ToolRegistry,
        memory: MemoryStore,
        settings: AgentSettings | None = None,
    ) -> None:
        self.llm = llm
        self.tools = tools
        self.memory = memory
        self.settings = settings or AgentSettings()
        self.llm_b: LLMBackend | None = None
        """A/B: the second model (``--llm-b``); it answers ``ab_share`` of the LLM turns."""
        self.ab_share = 0.0
        self.rng = random.Random()
        self.trace_log: TraceLog | None = None
        """Where each LLM turn's model, memory, tools and latency go (``jarvis feedback``)."""

    # -- the loop ---------------------------------------------------------------------------------

    def build_messages(self, ctx: TurnContext, snap: UserSnapshot) -> list[Message]:
        system = system_prompt(
            snap.profile, snap.summary, snap.facts, self.tools.prompt_lines(), ctx.now(), ctx.area
        )
        messages: list[Message] = [{"role": "system", "content": system}]
        for turn in snap.history:
            messages.append({"role": "user", "content": turn.user_text})
            if turn.assistant_text:
                messages.append({"role": "assistant", "content": turn.assistant_text})
        messages.append({"role": "user", "content": ctx.text})
        return messages

    async def _pick(self) -> tuple[LLMBackend, str]:
        """This turn's model: B for ``ab_share`` of the turns (when B is reachable), else A."""
        b = self.llm_b
        if b is not None and self.ab_share > 0 and self.rng.random() < self.ab_share and await b.available():
            return b, "b"
        return self.llm, "a"

    async def answer(
        self, ctx: TurnContext, snap: UserSnapshot | None = None
    ) -> AsyncGenerator[Output, None]:
        """Answer with the LLM and tools; yields sentences as soon as they are complete."""
        llm, arm = await self._pick()
        if arm == "a" and not await llm.available():
            yield Output(text=say("need_llm", ctx.language))
            return
        trace = Trace(ctx.user_id, ctx.conversation_id, ctx.text, llm.name, arm)
        async with contextlib.aclosing(self._answer(ctx, snap, llm, trace)) as items:
            async for item in items:
                yield item
        if self.trace_log is not None:
            await self.trace_log.record(trace)

    async def _answer(
        self, ctx: TurnContext, snap: UserSnapshot | None, llm: LLMBackend, trace: Trace
    ) -> AsyncGenerator[Output, None]:
        if snap is None:
            snap = await self.memory.snapshot(ctx.user_id, ctx.conversation_id, self.settings.history_turns)
        messages = self.build_messages(ctx, snap)
        trace.memory = str(messages[0]["content"])
        spoken = False
        asks = False
        """The model called ``expect_reply``: what it says next asks the user something."""
        for step in range(self.settings.max_steps + 1):
            final_round = step == self.settings.max_steps
            tools = [] if final_round else self.tools.llm_tools()
            detector = SentenceBoundaryDetector()
            text_parts: list[str] = []
            calls: list[ToolCall] = []
            try:
                async for delta in llm.chat(messages, tools):
                    if delta.text:
                        text_parts.append(delta.text)
                        for sentence in detector.add_chunk(delta.text):
                            spoken = True
                            yield Output(text=sentence, expects_answer=asks)
                    calls.extend(delta.tool_calls)
            except LLMError as err:
                _LOGGER.error("LLM %s failed: %s", llm.name, err)
                if not spoken:
                    yield Output(text=say("llm_failed", ctx.language))
                return
            if tail := detector.finish():
                spoken = True
                yield Output(text=tail, expects_answer=asks)
            text = "".join(text_parts)
            if not calls:
                return
            if final_round:
                _LOGGER.warning("Agent gave up after %d tool rounds", self.settings.max_steps)
                if not spoken:
                    yield Output(text=say("gave_up", ctx.language))
                return
            messages.append(
                {"role": "assistant", "content": text, "tool_calls": [c.as_message_call() for c in calls]}
            )
            for call in calls:
                trace.tools.append({"name": call.name, "arguments": call.arguments})
                asks = asks or call.name == EXPECT_REPLY
                tool = self.tools.get(call.name)
                if tool is not None and self.tools.needs_confirmation(tool, call.arguments):
                    action = describe_action(tool, call.arguments)
                    await self.memory.set_pending(
                        Pending(
                            ctx.conversation_id, ctx.user_id, call.name, call.arguments, action, time.time()
                        )
                    )
                    _LOGGER.info(
                        "Sensitive call %s(%s) waits for confirmation",
                        call.name,
                        private(call.arguments, _LOGGER),
                    )
                    yield Output(text=say("confirm", ctx.language, action=action), expects_answer=True)
                    return
                result = await self.run_tool(tool, call, ctx)
                if result.events:
                    yield Output(events=list(result.events))
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "name": call.name,
                        "content": f"Error: {result.text}" if result.is_error else result.text,
                    }
                )

    async def run_tool(self, tool: Tool | None, call: ToolCall, ctx: TurnContext) -> ToolResult:
        """Run one call; every failure becomes an error result the model can read."""
        if tool is None:
            known = ", ".join(self.tools.names)
            return ToolResult(f"unknown tool {call.name!r}; available: {known}", is_error=True)
        try:
            result = await tool.call(dict(call.arguments), ctx)
        except ToolError as err:
            _LOGGER.info("Tool %s failed: %s", call.name, err)
            return ToolResult(str(err), is_error=True)
        except Exception as err:  # a broken tool must not kill the turn; the model hears about it
            _LOGGER.exception("Tool %s crashed", call.name)
            return ToolResult(f"internal error: {err}", is_error=True)
        _LOGGER.debug("Tool %s(%s) -> %s", call.name, call.arguments, result.text)
        return result

    # -- confirmations ----------------------------------------------------------------------------

    async def take_pending(self, ctx: TurnContext, pending: Pending | None) -> Reply | None:
        """Resolve this conversation's pending sensitive call with this turn's yes/no.

        Returns the reply for a yes/no (or an expired yes); None when there is nothing pending
        or the words are something else (the pending call is dropped and the turn goes on).
        """
        if pending is None:
            return None
        if pending.user_id != ctx.user_id or pending.conversation_id != ctx.conversation_id:
            return None  # the store only returns matching rows; belt and braces
        await self.memory.clear_pending(ctx.conversation_id, ctx.user_id)
        answer = yes_no(ctx.text)
        if answer is None:
            _LOGGER.info("Pending %s dropped: the next turn was not a yes/no", pending.tool)
            return None
        if not answer:
            _LOGGER.info("Pending %s declined", pending.tool)
            return Reply(say("confirm_dropped", ctx.language))
        if time.time() - pending.created_at > self.settings.confirm_timeout:
            _LOGGER.info("Pending %s expired", pending.tool)
            return Reply(say("confirm_expired", ctx.language))
        tool = self.tools.get(pending.tool)
        call = ToolCall(pending.tool, dict(pending.arguments), "confirmed")
        result = await self.run_tool(tool, call, ctx)
        if result.is_error:
            return Reply(say("tool_failed", ctx.language, error=result.text), list(result.events))
        _LOGGER.info("Confirmed %s ran: %s", pending.tool, private(result.text, _LOGGER))
        return Reply(say("confirm_done", ctx.language), list(result.events))

    # -- memory -----------------------------------------------------------------------------------

    async def refresh_memory(self, user_id: str) -> int | None:
        """Rewrite the user's dynamic summary from recent turns; returns the new version (None: skipped)."""
        if not await self.llm.available():
            _LOGGER.debug("Memory refresh for %s skipped: no language model", user_id)
            return None
        previous = await self.memory.latest_summary(user_id)
        turns = await self.memory.recent_turns(user_id, None, max(self.settings.memory_refresh_turns * 2, 10))
        requests = "\n".join(f"- {t.user_text}" for t in turns)
        messages: list[Message] = [
            {"role": "system", "content": SUMMARY_PROMPT},
            {
                "role": "user",
                "content": f"Previous summary: {previous or '(none)'}\n\nRecent requests:\n{requests}",
            },
        ]
        try:
            summary = (await complete(self.llm, messages)).strip()
        except LLMError as err:
            _LOGGER.warning("Memory refresh for %s failed: %s", user_id, err)
            return None
        if not summary:
            return None
        version = await self.memory.add_summary(user_id, summary)
        _LOGGER.info("Dynamic memory of %s rewritten (version %d)", user_id, version)
        return version

    async def extract_introduction(self, text: str) -> dict[str, str]:
        """Name/age/interests/what matters from a self-introduction (the LLM if any, then patterns)."""
        found: dict[str, str] = {}
        if await self.llm.available():
            try:
                raw = await complete(
                    self.llm,
                    [{"role": "system", "content": PROFILE_PROMPT}, {"role": "user", "content": text}],
                )
                for key, value in _json_object(raw).items():
                    if key in ("name", "age", "interests", "what_matters") and value not in (
                        None,
                        "",
                        "null",
                    ):
                        found[key] = str(value).strip()
            except LLMError as err:
                _LOGGER.warning("Profile extraction by LLM failed: %s", err)
        for key, value in parse_introduction(text).items():
            found.setdefault(key, value)
        return found
