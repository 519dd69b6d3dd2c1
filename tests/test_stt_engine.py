"""STT engine pieces: the priority worker slots, settings, language rules, the decode options (tiny.en)."""

from __future__ import annotations

import asyncio

import pytest

from jarvis.server.stt.engine import (
    Priority,
    PrioritySlots,
    SttEngine,
    SttSettings,
    is_english_only,
    model_display_name,
)


async def _let_tasks_start() -> None:
    """One pass of the event loop: tasks created before this ran up to their first wait."""
    await asyncio.sleep(0)


async def test_waiters_served_by_priority_then_arrival() -> None:
    slots = PrioritySlots(1)
    await slots.acquire(Priority.PARTIAL)
    order: list[str] = []

    async def want(priority: Priority, name: str) -> None:
        await slots.acquire(priority)
        order.append(name)
        slots.release()

    names = [(Priority.PARTIAL, "partial-1"), (Priority.FINAL, "final-1"), (Priority.ENDPOINT, "endpoint"),
             (Priority.FINAL, "final-2"), (Priority.PARTIAL, "partial-2")]  # fmt: skip
    tasks = [asyncio.create_task(want(p, n)) for p, n in names]
    await _let_tasks_start()
    assert slots.waiting == len(names)
    slots.release()
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    assert order == ["final-1", "final-2", "endpoint", "partial-1", "partial-2"]
    assert slots.free == 1


async def test_cancelled_waiter_gives_up_its_place() -> None:
    slots = PrioritySlots(1)
    await slots.acquire(Priority.FINAL)
    cancelled = asyncio.create_task(slots.acquire(Priority.FINAL))
    later = asyncio.create_task(slots.acquire(Priority.PARTIAL))
    await _let_tasks_start()
    assert slots.waiting == 2
    cancelled.cancel()
    await asyncio.wait([cancelled])
    slots.release()
    async with asyncio.timeout(5):
        await later
    assert cancelled.cancelled() and slots.free == 0
    slots.release()
    assert slots.free == 1


def test_settings_and_names() -> None:
    settings = SttSettings()
    assert settings.resolved_compute_type == "int8"
    assert SttSettings(device="cuda").resolved_compute_type == "default"
    assert settings.resolved_cpu_threads >= 1
    assert model_display_name("") == "tiny.en"
    assert model_display_name("small.en") == "small.en"
    assert is_english_only("") and is_english_only("base.en") and not is_english_only("medium")


async def test_language_rules() -> None:
    english = SttEngine(SttSettings())
    assert english.resolve_language("de") == "en"  # an English-only model cannot do German
    multi = SttEngine(SttSettings(model="small", language="auto"))
    assert multi.resolve_language(None) is None
    assert multi.resolve_language("de") == "de"
    await english.close()
    await multi.close()


def test_bad_settings_rejected() -> None:
    with pytest.raises(ValueError):
        SttEngine(SttSettings(workers=0))
    with pytest.raises(ValueError):
        SttEngine(SttSettings(beam_size=0))


def test_command_line_flags() -> None:
    from jarvis.protocol.cli import build_parser
    from jarvis.server.stt.__main__ import DEFAULT_URI, settings_from_args

    argv = ["stt", "--model", "small.en", "--device", "cuda", "--compute-type", "float16", "--beam-size", "5"]
    argv += ["--workers", "3", "--language", "auto", "--zeroconf"]
    args = build_parser(argv).parse_args(argv)
    settings, streaming = settings_from_args(args)
    assert args.uri == DEFAULT_URI and args.zeroconf == ""
    assert (settings.model, settings.device, settings.compute_type) == ("small.en", "cuda", "float16")
    assert (settings.beam_size, settings.workers, settings.language) == (5, 3, "auto")
    assert streaming.max_audio_seconds == 300.0

    defaults = build_parser(["stt"]).parse_args(["stt"])
    assert defaults.zeroconf is None
    settings, _ = settings_from_args(defaults)
    assert settings.model == "tiny.en" and settings.beam_size == 5 and settings.workers == 2

    # No --model: the languages choose it (tiny.en for English alone, the multilingual base otherwise)
    for language, model in (("en", "tiny.en"), ("en,fr", "base"), ("fr", "base"), ("auto", "base")):
        argv = ["stt", "--language", language]
        settings, _ = settings_from_args(build_parser(argv).parse_args(argv))
        assert settings.model == model, language

    for bad in (["--workers", "0"], ["--beam-size", "0"], ["--partial-interval", "-1"]):
        args = build_parser(["stt", *bad]).parse_args(["stt", *bad])
        with pytest.raises(SystemExit):
            settings_from_args(args)


async def test_initial_prompts_per_language_from_the_command_line() -> None:
    from jarvis.protocol.cli import build_parser
    from jarvis.server.stt.__main__ import settings_from_args

    argv = [
        "stt",
        "--initial-prompt",
        "en=Set a timer.",
        "--initial-prompt",
        "Bonjour=salut",
        "--language",
        "en,fr",
    ]
    settings, _ = settings_from_args(build_parser(argv).parse_args(argv))
    # "Bonjour=salut" names no language code: the whole text is the prompt for every language
    assert settings.initial_prompts == (("en", "Set a timer."), ("*", "Bonjour=salut"))
    engine = SttEngine(settings)
    assert engine.initial_prompt("en") == "Set a timer."
    assert engine.initial_prompt("fr") == "Bonjour=salut"
    plain = SttEngine(SttSettings())
    assert plain.initial_prompt("en") is None
    await engine.close()
    await plain.close()
    for bad in (["--initial-prompt", "fr="], ["--initial-prompt", " "]):
        args = build_parser(["stt", *bad]).parse_args(["stt", *bad])
        with pytest.raises(SystemExit):
            settings_from_args(args)


async def test_the_initial_prompt_reaches_the_decoder_with_a_wake_prefix() -> None:
    """The bundled tiny.en: the decode's options carry the prompt, and the prefix beside it."""
    import numpy as np

    engine = SttEngine(SttSettings(initial_prompts=(("en", "Set a timer."),)))
    model = await engine.model()
    _, info = engine._start_decode(model, np.zeros(16000, np.float32), "en", "Hey Jarvis,")
    assert info.transcription_options.initial_prompt == "Set a timer."
    assert info.transcription_options.prefix == "Hey Jarvis,"
    await engine.close()
