"""The agent and the Brain pipeline with ScriptedLLM (a test double) and a real SQLite memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jarvis.server.brain.agent import AgentSettings, Output
from jarvis.server.brain.context import Reply, TurnContext
from jarvis.server.brain.handler import Brain, BrainSettings, TurnEnd, default_tools
from jarvis.server.brain.llm.base import ToolCall
from jarvis.server.brain.llm.scripted import ScriptedLLM, ScriptedTurn
from jarvis.server.brain.memory import MemoryStore
from jarvis.server.brain.tools.base import Tool, ToolError, ToolResult, ToolSpec
from jarvis.server.brain.tools.registry import ToolRegistry


class UnlockTool(Tool):
    """A real tool that records its calls (stands in for Home Assistant's lock tool)."""

    spec = ToolSpec(
        "unlock_door",
        "Unlock a door.",
        {"type": "object", "properties": {"door": {"type": "string"}}, "required": ["door"]},
        sensitive=True,
    )

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        self.calls.append(arguments)
        return ToolResult(f"{arguments['door']} unlocked")


class FailingTool(Tool):
    spec = ToolSpec("weather", "Weather forecast.")

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        raise ToolError("the weather service is unreachable")


def call(name: str, **arguments: Any) -> ScriptedTurn:
    return ScriptedTurn(tool_calls=[ToolCall(name, arguments, f"call_{name}")])


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[MemoryStore]:
    store = await MemoryStore.open(tmp_path / "memory.sqlite3")
    yield store
    await store.close()


def make_brain(
    llm: ScriptedLLM,
    memory: MemoryStore,
    extra: list[Tool] | None = None,
    fast_paths: list[Any] | None = None,
    **settings: Any,
) -> Brain:
    agent = AgentSettings(
        **{k: settings.pop(k) for k in list(settings) if k in AgentSettings.__annotations__}
    )
    registry = ToolRegistry(default_tools(memory) + (extra or []))
    return Brain(
        llm,
        memory,
        registry,
        fast_paths or [],
        None,
        BrainSettings(onboarding=settings.pop("onboarding", False), agent=agent, **settings),
    )


async def ask(brain: Brain, text: str, user: str = "ann", conversation: str = "c1", **kw: Any) -> TurnEnd:
    ctx = TurnContext(text=text, user_id=user, conversation_id=conversation, **kw)
    end: TurnEnd | None = None
    async with asyncio.timeout(10):
        async for item in brain.turn(ctx):
            if isinstance(item, TurnEnd):
                end = item
    assert end is not None
    return end


async def outputs(brain: Brain, text: str, **kw: Any) -> list[Output | TurnEnd]:
    ctx = TurnContext(text=text, user_id=kw.pop("user", "ann"), conversation_id=kw.pop("conversation", "c1"))
    async with asyncio.timeout(10):
        return [item async for item in brain.turn(ctx)]


async def test_multi_tool_question_time_then_date_then_one_answer(memory: MemoryStore) -> None:
    llm = ScriptedLLM([call("get_time"), call("get_date"), "It is noon on a Wednesday."])
    brain = make_brain(llm, memory)
    end = await ask(brain, "what time and what date is it?")
    assert end.handled and end.source == "agent"
    assert end.text == "It is noon on a Wednesday."
    assert len(llm.calls) == 3
    # second call saw the time tool's result, third saw both results, in order
    tool_msgs = [m for m in llm.calls[2].messages if m["role"] == "tool"]
    assert [m["name"] for m in tool_msgs] == ["get_time", "get_date"]
    assert tool_msgs[0]["content"].startswith("The time is ")
    assert tool_msgs[1]["content"].startswith("Today is ")
    assert llm.calls[0].tool_names[:2] == ["get_time", "get_date"]
    assert llm.calls[0].messages[-1] == {"role": "user", "content": "what time and what date is it?"}


async def test_tool_error_is_fed_back_to_the_model(memory: MemoryStore) -> None:
    llm = ScriptedLLM([call("weather"), "I can't reach the weather service right now."])
    brain = make_brain(llm, memory, extra=[FailingTool()])
    end = await ask(brain, "will it rain?")
    assert end.text == "I can't reach the weather service right now."
    tool_msg = [m for m in llm.calls[1].messages if m["role"] == "tool"][0]
    assert tool_msg["content"] == "Error: the weather service is unreachable"
    assert tool_msg["tool_call_id"] == "call_weather"


async def test_unknown_tool_and_bad_calculation_are_errors_for_the_model(memory: MemoryStore) -> None:
    llm = ScriptedLLM(
        [
            ScriptedTurn(
                tool_calls=[
                    ToolCall("launch_rocket", {}, "a"),
                    ToolCall("calculate", {"expression": "1/0"}, "b"),
                    ToolCall("calculate", {"expression": "23*4"}, "c"),
                ]
            ),
            "Ninety-two.",
        ]
    )
    brain = make_brain(llm, memory)
    await ask(brain, "compute")
    contents = [m["content"] for m in llm.calls[1].messages if m["role"] == "tool"]
    assert contents[0].startswith("Error: unknown tool 'launch_rocket'")
    assert contents[1].startswith("Error:") and "zero" in contents[1].lower()
    assert contents[2] == "23*4 = 92"


async def test_max_steps_then_a_forced_answer_without_tools(memory: MemoryStore) -> None:
    llm = ScriptedLLM([call("get_time")] * 3 + ["I kept checking the clock."])
    brain = make_brain(llm, memory, max_steps=3)
    end = await ask(brain, "loop forever")
    assert len(llm.calls) == 4
    assert all(c.tools for c in llm.calls[:3]) and llm.calls[3].tools == []
    assert end.text == "I kept checking the clock."


async def test_max_steps_model_still_calling_tools_gives_up_politely(memory: MemoryStore) -> None:
    llm = ScriptedLLM([call("get_time")], loop=True)
    brain = make_brain(llm, memory, max_steps=2)
    end = await ask(brain, "loop forever")
    assert len(llm.calls) == 3
    assert end.text == "Sorry, I could not finish that."


async def test_sentences_stream_before_the_model_finishes(memory: MemoryStore) -> None:
    gate = asyncio.Event()
    llm = ScriptedLLM(
        [ScriptedTurn(chunks=["First one. ", "Second one. ", "Third."], gate=gate, gate_before=2)]
    )
    brain = make_brain(llm, memory)
    ctx = TurnContext(text="talk", user_id="ann", conversation_id="c1")
    texts: list[str] = []
    async with asyncio.timeout(10):
        async for item in brain.turn(ctx):
            if isinstance(item, Output) and item.text:
                texts.append(item.text)
                if len(texts) == 1:
                    assert llm.finished == 0  # the model has not finished yet
                    gate.set()
    assert texts == ["First one.", "Second one.", "Third."]


async def test_sensitive_tool_yes_runs_it(memory: MemoryStore) -> None:
    unlock = UnlockTool()
    llm = ScriptedLLM([call("unlock_door", door="front door")])
    brain = make_brain(llm, memory, extra=[unlock])
    end = await ask(brain, "unlock the front door")
    assert end.text == "Are you sure you want me to unlock door front door?"
    assert unlock.calls == []
    end = await ask(brain, "yes, do it")
    assert end.text == "Done." and end.source == "confirm"
    assert unlock.calls == [{"door": "front door"}]
    assert len(llm.calls) == 1  # the confirmation never reached the LLM
    assert await memory.get_pending("c1", "ann") is None


async def test_a_question_to_the_user_expects_an_answer_and_nothing_else_does(memory: MemoryStore) -> None:
    """The flag behind the follow-up window (docs/hub.md): set by the brain, never guessed from '?'."""
    llm = ScriptedLLM([call("unlock_door", door="front door"), "What would you like to know?"])
    brain = make_brain(llm, memory, extra=[UnlockTool()])
    asked = await ask(brain, "unlock the front door")
    assert asked.text.endswith("?") and asked.expects_answer
    done = await ask(brain, "yes")
    assert done.source == "confirm" and not done.expects_answer
    plain = await ask(brain, "tell me something")  # a question mark, but no flag from the brain
    assert plain.source == "agent" and not plain.expects_answer
    onboarding = make_brain(ScriptedLLM(["Hello."]), memory, onboarding=True)
    first = await ask(onboarding, "hello", user="newcomer", conversation="c9")
    assert first.expects_answer and first.text.startswith("Hello.")


async def test_the_stts_runner_up_answers_when_its_best_guess_is_no_command(memory: MemoryStore) -> None:
    """ "console timer!" (the STT's best guess) is nothing; "cancel the timer." (its runner-up) is."""
    from jarvis.server.brain.intents import IntentRecognizer
    from jarvis.server.brain.timers import TimerManager

    timers = TimerManager()
    llm = ScriptedLLM(["From the model."], loop=True)
    brain = make_brain(llm, memory, fast_paths=[IntentRecognizer(timers)])
    timers.set(300, satellite_id="kitchen")
    end = await ask(brain, "console timer!", satellite_id="kitchen", alternatives=("cancel the timer.",))
    assert end.source == "intent" and end.text == "Timer cancelled." and timers.list() == []
    # The best guess wins when it is a command itself, and the runners-up never reach the model.
    end = await ask(brain, "what time is it", alternatives=("set a timer for 5 minutes",))
    assert end.text.startswith("It's") and timers.list() == []
    end = await ask(brain, "tell me a joke", alternatives=("tell me a joke?", "tell me a jug"))
    assert end.source == "agent" and end.text == "From the model."
    # Noise turns into "stop" / « c'est tout » most often: a runner-up that is only that stops nothing.
    end = await ask(
        brain, "c'est tout le monde, c'est tout le monde", language="fr", alternatives=("c'est tout",)
    )
    assert end.source == "agent" and end.text == "From the model."
    assert all("set a timer" not in str(messages) for messages in llm.calls)


async def test_a_runner_up_never_writes_the_speakers_memory(memory: MemoryStore) -> None:
    """ "come with me" (a French question misheard) had the runner-up "call me Madeline": that was
    stored as the speaker's name. A guess never changes what is remembered."""
    from jarvis.server.brain.memory_intents import MemoryIntents

    brain = make_brain(
        ScriptedLLM(["From the model."], loop=True), memory, fast_paths=[MemoryIntents(memory)]
    )
    end = await ask(brain, "come with me", alternatives=("call me Madeline.",), user="zoe")
    assert end.source == "agent" and (await memory.get_profile("zoe")).name is None
    end = await ask(brain, "member the cold is", alternatives=("remember that the code is 1234",), user="zoe")
    assert end.source == "agent" and await memory.list_facts("zoe") == []
    end = await ask(brain, "what do you remember about me", alternatives=("call me Madeline.",), user="zoe")
    assert end.source == "intent" and (await memory.get_profile("zoe")).name is None  # the best guess
    end = await ask(brain, "call me Madeline", user="zoe")  # said, not guessed: stored
    assert end.source == "intent" and (await memory.get_profile("zoe")).name == "Madeline"


async def test_the_model_flags_its_own_question_with_expect_reply(memory: MemoryStore) -> None:
    """The LLM's way to say its answer asks something: it calls ``expect_reply`` before asking."""
    llm = ScriptedLLM([call("expect_reply"), "Which room do you mean?", "The kitchen light is on."])
    brain = make_brain(llm, memory)
    asked = await ask(brain, "turn on the light")
    assert asked.text == "Which room do you mean?" and asked.expects_answer
    assert "expect_reply" in str(llm.calls[0])  # offered to the model like any tool
    answered = await ask(brain, "the kitchen")
    assert answered.text == "The kitchen light is on." and not answered.expects_answer


@pytest.mark.parametrize("answer", ["no", "Non.", "cancel"])
async def test_sensitive_tool_no_drops_it(memory: MemoryStore, answer: str) -> None:
    unlock = UnlockTool()
    brain = make_brain(ScriptedLLM([call("unlock_door", door="garage")]), memory, extra=[unlock])
    await ask(brain, "open the garage")
    end = await ask(brain, answer)
    assert end.source == "confirm" and end.text in ("Okay, I won't.",)
    assert unlock.calls == [] and await memory.get_pending("c1", "ann") is None


async def test_sensitive_tool_other_words_drop_it_and_are_answered(memory: MemoryStore) -> None:
    unlock = UnlockTool()
    llm = ScriptedLLM([call("unlock_door", door="front"), "It is sunny."])
    brain = make_brain(llm, memory, extra=[unlock])
    await ask(brain, "unlock the front door")
    end = await ask(brain, "what's the weather like?")
    assert end.source == "agent" and end.text == "It is sunny."
    end = await ask(brain, "yes")  # too late: the pending call was dropped
    assert unlock.calls == []


async def test_sensitive_tool_confirmation_expires(memory: MemoryStore) -> None:
    unlock = UnlockTool()
    brain = make_brain(
        ScriptedLLM([call("unlock_door", door="front")]), memory, extra=[unlock], confirm_timeout=0.0
    )
    await ask(brain, "unlock the front door")
    pending = await memory.get_pending("c1", "ann")
    assert pending is not None
    end = await ask(brain, "yes")
    assert end.text == "That request expired, please ask again." and unlock.calls == []


async def test_only_the_same_conversation_can_confirm(memory: MemoryStore) -> None:
    unlock = UnlockTool()
    llm = ScriptedLLM([call("unlock_door", door="front"), "Yes to what?", "Yes to what?"])
    brain = make_brain(llm, memory, extra=[unlock])
    await ask(brain, "unlock the front door", conversation="kitchen")
    end = await ask(brain, "yes", conversation="bedroom")
    assert end.source == "agent" and unlock.calls == []
    end = await ask(brain, "yes", user="bob", conversation="kitchen")
    assert end.source == "agent" and unlock.calls == []
    end = await ask(brain, "oui", conversation="kitchen")
    assert end.source == "confirm" and unlock.calls == [{"door": "front"}]


async def test_configured_sensitive_name_needs_confirmation(memory: MemoryStore) -> None:
    registry = ToolRegistry(default_tools(memory), sensitive=["remember"])
    brain = Brain(
        ScriptedLLM([call("remember", fact="the code is 1234")]),
        memory,
        registry,
        [],
        None,
        BrainSettings(onboarding=False),
    )
    end = await ask(brain, "remember the code is 1234")
    assert end.text.startswith("Are you sure you want me to remember")
    assert await memory.list_facts("ann") == []
    await ask(brain, "yeah")
    assert [f.fact for f in await memory.list_facts("ann")] == ["the code is 1234"]


class EchoIntent:
    """A real fast path (stands in for the intents engineer's recognizer in this file)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, ctx: TurnContext) -> Reply | None:
        self.seen.append(ctx.text)
        if ctx.text == "stop":
            return Reply("")
        if ctx.text.startswith("echo "):
            return Reply(ctx.text[5:])
        return None


async def test_fast_paths_in_order_then_agent(memory: MemoryStore) -> None:
    first, second = EchoIntent(), EchoIntent()
    llm = ScriptedLLM(["From the model."])
    brain = make_brain(llm, memory, fast_paths=[first, second])
    end = await ask(brain, "echo Hi there. Bye.")
    assert end.source == "intent" and end.text == "Hi there. Bye."
    assert second.seen == [] and llm.calls == []
    end = await ask(brain, "stop")
    assert end.handled and end.text == ""
    end = await ask(brain, "tell me a joke")
    assert end.source == "agent" and second.seen == ["tell me a joke"]


async def test_history_is_keyed_by_conversation_and_user(memory: MemoryStore) -> None:
    llm = ScriptedLLM(["One.", "Two.", "Three."])
    brain = make_brain(llm, memory)
    await ask(brain, "first question", conversation="c1")
    await ask(brain, "other room", conversation="c2")
    await ask(brain, "second question", conversation="c1")
    roles = [(m["role"], m["content"]) for m in llm.calls[2].messages[1:]]
    assert roles == [("user", "first question"), ("assistant", "One."), ("user", "second question")]


async def test_no_llm_intents_still_work_and_the_answer_is_honest(
    memory: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    from jarvis.server.brain.llm.ollama import OllamaBackend
    from jarvis.server.brain.llm.select import make_llm

    llm = make_llm("ollama", ollama_host="http://127.0.0.1:9", model="qwen2.5:3b")
    assert isinstance(llm.candidates[0], OllamaBackend)  # type: ignore[attr-defined]
    registry = ToolRegistry(default_tools(memory))
    brain = Brain(llm, memory, registry, [EchoIntent()], None, BrainSettings(onboarding=False))
    try:
        with caplog.at_level("WARNING"):
            end1 = await ask(brain, "write me a poem")
            end2 = await ask(brain, "tell me a story")
            end3 = await ask(brain, "echo Still here.")
    finally:
        await brain.close()
    assert end1.text == end2.text == "I need a language model for that."
    assert end3.text == "Still here."
    hints = [r for r in caplog.records if "ollama serve" in r.getMessage()]
    assert len(hints) == 1
    assert "ollama pull qwen2.5:3b" in hints[0].getMessage() and "--llm-url" in hints[0].getMessage()


async def test_no_llm_recovers_when_a_backend_appears(memory: MemoryStore) -> None:
    from jarvis.server.brain.llm.none import AutoLLM

    class LateLLM(ScriptedLLM):
        up = False

        async def available(self) -> bool:
            return self.up

    late = LateLLM(["Now I can answer."])
    auto = AutoLLM([late], "start one", reprobe_interval=0.0)
    brain = Brain(
        auto, memory, ToolRegistry(default_tools(memory)), [], None, BrainSettings(onboarding=False)
    )
    assert (await ask(brain, "hello?")).text == "I need a language model for that."
    late.up = True
    assert (await ask(brain, "hello?")).text == "Now I can answer."
    assert auto.name == "scripted"


async def test_french_fixed_sentences(memory: MemoryStore) -> None:
    from jarvis.server.brain.llm.none import NoLLM

    brain = Brain(
        NoLLM(), memory, ToolRegistry(default_tools(memory)), [], None, BrainSettings(onboarding=False)
    )
    ctx = TurnContext(text="écris un poème", language="fr", user_id="ann", conversation_id="c1")
    items = [i async for i in brain.turn(ctx)]
    assert isinstance(items[-1], TurnEnd) and items[-1].text == "J'ai besoin d'un modèle de langage pour ça."


async def test_dynamic_memory_refresh_exactly_on_the_fifth_turn(memory: MemoryStore) -> None:
    llm = ScriptedLLM(["A1.", "A2.", "A3.", "A4.", "A5.", "Likes chess and jazz."])
    brain = make_brain(llm, memory, memory_refresh_turns=5)
    for i in range(1, 5):
        await ask(brain, f"question {i} about chess")
        async with asyncio.timeout(5):
            await brain.drain()
        assert await memory.summaries("ann") == []
        assert len(llm.calls) == i
    await ask(brain, "question 5 about jazz")
    async with asyncio.timeout(5):
        await brain.drain()
    versions = await memory.summaries("ann")
    assert [v["summary"] for v in versions] == ["Likes chess and jazz."]
    refresh = llm.calls[5]
    assert refresh.tools == [] and "question 5 about jazz" in refresh.messages[-1]["content"]
    assert "question 1 about chess" in refresh.messages[-1]["content"]
    # the next prompt carries the summary
    llm.add("A6.")
    await ask(brain, "question 6")
    assert "Likes chess and jazz." in llm.calls[6].system


async def test_refresh_keeps_past_versions(memory: MemoryStore) -> None:
    llm = ScriptedLLM(["A.", "Summary one.", "A.", "Summary two."])
    brain = make_brain(llm, memory, memory_refresh_turns=1)
    await ask(brain, "q1")
    await brain.drain()
    await ask(brain, "q2")
    await brain.drain()
    assert [(v["version"], v["summary"]) for v in await memory.summaries("ann")] == [
        (1, "Summary one."),
        (2, "Summary two."),
    ]
    assert await memory.latest_summary("ann") == "Summary two."


async def test_onboarding_asks_then_stores_the_introduction_without_llm(memory: MemoryStore) -> None:
    from jarvis.server.brain.llm.none import NoLLM

    brain = Brain(NoLLM(), memory, ToolRegistry(default_tools(memory)), [EchoIntent()], None, BrainSettings())
    end = await ask(brain, "echo Hello.")
    assert end.text.startswith("Hello. By the way, I don't know you yet")
    assert (await memory.get_profile("ann")).onboarding == "asked"
    end = await ask(brain, "My name is Ann, I'm 34 and I like chess. What matters to me is my family.")
    assert end.text == "Nice to meet you, Ann! I'll remember that." and end.source == "onboarding"
    profile = await memory.get_profile("ann")
    assert (profile.name, profile.age, profile.interests, profile.what_matters, profile.onboarding) == (
        "Ann",
        "34",
        "chess",
        "my family",
        "done",
    )
    end = await ask(brain, "echo Again.")
    assert end.text == "Again."  # asked only once


async def test_onboarding_uses_the_llm_to_parse_when_available(memory: MemoryStore) -> None:
    llm = ScriptedLLM(
        [
            "Hello!",
            '{"name": "Zoé", "age": "12", "interests": "piano", "what_matters": null}',
        ]
    )
    brain = make_brain(llm, memory, onboarding=True)
    end = await ask(brain, "salut", language="fr")
    assert "dites-moi votre prénom" in end.text
    end = await ask(brain, "moi c'est Zoé, douze ans, je fais du piano", language="fr")
    assert end.text == "Enchanté, Zoé ! Je m'en souviendrai."
    profile = await memory.get_profile("ann")
    assert (profile.name, profile.age, profile.interests) == ("Zoé", "12", "piano")
    # from now on the profile is in the prompt
    llm.add("Bonjour Zoé.")
    await ask(brain, "bonjour", language="fr")
    assert "- Name: Zoé" in llm.calls[-1].system and "- Interests: piano" in llm.calls[-1].system


async def test_memory_tools_remember_and_forget_for_the_current_user(memory: MemoryStore) -> None:
    llm = ScriptedLLM(
        [call("remember", fact="my bike is blue"), "Noted.", call("forget", fact="bike"), "Forgotten."]
    )
    brain = make_brain(llm, memory)
    await ask(brain, "remember my bike is blue")
    assert [f.fact for f in await memory.list_facts("ann")] == ["my bike is blue"]
    assert await memory.list_facts("bob") == []
    await ask(brain, "forget about my bike")
    assert await memory.list_facts("ann") == []


async def test_memory_refresh_never_delays_the_answer(memory: MemoryStore) -> None:
    """The memory refresh runs after the answer: the turn ends while the refresh still waits."""
    gate = asyncio.Event()
    llm = ScriptedLLM(["Answer.", ScriptedTurn(chunks=["x", "Summary."], gate=gate)])
    brain = make_brain(llm, memory, memory_refresh_turns=1)
    end = await ask(brain, "q")
    assert end.text == "Answer." and brain._background  # refresh still pending
    gate.set()
    async with asyncio.timeout(5):
        await brain.drain()
    assert await memory.latest_summary("ann") == "xSummary."


async def test_always_listening_asks_the_llm_whether_it_was_addressed(memory: MemoryStore) -> None:
    llm = ScriptedLLM(["no", "Yes.", "It is sunny."])
    brain = make_brain(llm, memory, always_listening=True)
    end = await ask(brain, "and then she told him to leave")
    assert not end.handled and len(llm.calls) == 1
    assert "and then she told him to leave" in llm.calls[0].messages[-1]["content"]
    assert llm.calls[0].tools == []
    end = await ask(brain, "Jarvis, what's the weather like?")
    assert end.handled and end.text == "It is sunny."
    assert await memory.count_turns("ann") == 1  # the ambient sentence was not stored


async def test_always_listening_without_llm_only_fast_paths_answer(memory: MemoryStore) -> None:
    from jarvis.server.brain.llm.none import NoLLM

    settings = BrainSettings(onboarding=False, always_listening=True)
    brain = Brain(NoLLM(), memory, ToolRegistry(default_tools(memory)), [EchoIntent()], None, settings)
    assert not (await ask(brain, "so I said to the neighbour")).handled
    assert (await ask(brain, "echo Hi.")).text == "Hi."
