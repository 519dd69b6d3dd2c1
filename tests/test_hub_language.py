"""The brain answers in the language the STT heard, never in a list of languages."""

from __future__ import annotations

from typing import Any

import pytest

from jarvis.server.hub.pipeline import PipelineRun, PipelineServices, TurnInfo


async def _noop(event: Any) -> None:
    return None


def _run(session_language: str) -> PipelineRun:
    services = PipelineServices(stt=None, tts=None, brain=None)  # type: ignore[arg-type]  # unused here
    info = TurnInfo(user_id="u", satellite_id="s", conversation_id="c", language=session_language)
    return PipelineRun(services, info, _noop, start_stage="handle")


@pytest.mark.parametrize(
    ("session", "heard", "answer"),
    [
        ("en,fr", "fr", "fr"),
        ("en,fr", "en", "en"),
        ("en,fr", None, "en"),
        ("fr", None, "fr"),
        ("en", "en,fr", "en"),
    ],
)
async def test_answer_language(session: str, heard: str | None, answer: str) -> None:
    run = _run(session)
    run.heard_language = heard
    assert run.answer_language == answer
