"""The web page in a real headless chromium against the whole stack on 127.0.0.1.

STT (faster-whisper tiny.en), TTS (piper), the brain (local intents; its LLM is the brain's
``ScriptedLLM`` test double, only reached for non-intent questions), the hub and the web app all run
in this test's event loop on port 0. Chromium's fake microphone plays a piper-synthesized
"Hey Jarvis, what time is it?"; the page must show the transcript and the answer and play the audio.

Chromium is the Debian package (``script/test`` installs it); playwright only drives it (no browser
download). Screenshots go to ``tmp_path``, or to ``docs/`` with ``JARVIS_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
import shutil
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from speech import silence, speak

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = os.environ.get("JARVIS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "browser-test-token-0123456789abcdef"
DOCS = Path(__file__).resolve().parent.parent / "docs"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--ignore-certificate-errors",
    "--autoplay-policy=no-user-gesture-required",
]

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no chromium at {CHROMIUM}: install it with `apt-get install -y chromium` (script/test does)",
        allow_module_level=True,
    )
async_api = pytest.importorskip("playwright.async_api", reason="pip install playwright (dev extra)")


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


def screenshot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("JARVIS_UPDATE_SCREENSHOTS") == "1":
        return DOCS / name
    return tmp_path / name


# -- the stack, models loaded once per module ---------------------------------------------------


@pytest.fixture(scope="module")
def whisper_model() -> Any:
    from jarvis.server.stt.engine import ModelLoader, SttSettings

    return ModelLoader.load_sync(SttSettings(workers=1))


@pytest.fixture(scope="module")
def piper_engine() -> Iterator[Any]:
    from jarvis.server.tts.engine import PiperEngine, VoiceSettings

    engine = PiperEngine.load(VoiceSettings(workers=1, threads=1))
    yield engine
    engine.close()


@dataclass
class Stack:
    web: Any
    hub: Any
    services: dict[str, list[str]]

    @property
    def url(self) -> str:
        return str(self.web.url)


@pytest.fixture
async def stack(whisper_model: Any, piper_engine: Any, _isolated_data_dir: Path) -> AsyncIterator[Stack]:
    from jarvis.server.brain.handler import start_brain
    from jarvis.server.brain.llm.scripted import ScriptedLLM
    from jarvis.server.config import HubSettings, Settings
    from jarvis.server.hub.hub import Hub
    from jarvis.server.stt.__main__ import start_stt
    from jarvis.server.stt.engine import ModelLoader, SttEngine, SttSettings
    from jarvis.server.tts.__main__ import start_tts
    from jarvis.server.web.__main__ import start_web

    settings = SttSettings(workers=1)
    engine = SttEngine(settings, loader=ModelLoader.preloaded(settings, whisper_model))
    stt = await start_stt("tcp://127.0.0.1:0", engine=engine)
    tts = await start_tts("tcp://127.0.0.1:0", engine=piper_engine)
    llm = ScriptedLLM(["Here you go. This answer came from the scripted test model."], loop=True)
    brain = await start_brain("tcp://127.0.0.1:0", llm, probe=False)
    hub = Hub(Settings(hub=HubSettings(port=0)), TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri])
    await hub.start()
    web = await start_web(token=TOKEN, hub_uri=hub.uri, port=0, data_dir=_isolated_data_dir)
    services = {"stt": [stt.uri], "tts": [tts.uri], "brain": [brain.uri]}
    state = Stack(web, hub, services)
    try:
        yield state
    finally:
        await web.stop()
        await state.hub.stop()
        await brain.stop()
        await tts.stop()
        await stt.stop()
        await engine.close()


@pytest.fixture
def spoken_command(tmp_path: Path) -> Path:
    # Leading silence: the page is listening before the words start; trailing silence: the endpoint.
    pcm = silence(1.5) + speak("Hey Jarvis, what time is it?") + silence(6.0)
    return write_wav(tmp_path / "hey-jarvis-what-time-is-it.wav", pcm)


async def launch(playwright: Any, wav: Path) -> Any:
    args = [*LAUNCH_ARGS, f"--use-file-for-fake-audio-capture={wav}%noloop"]
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)


async def wait_state(page: Any, states: tuple[str, ...], timeout_ms: int = 20000) -> str:
    handle = await page.wait_for_function(
        "states => window.jarvis && states.includes(window.jarvis.state) && window.jarvis.state",
        arg=list(states),
        timeout=timeout_ms,
    )
    return str(await handle.json_value())


def spoken_time_matches(answer: str, before: datetime, after: datetime) -> bool:
    """The answer names the current hour (digits or words, 12- or 24-hour clock)."""
    from speech import normalize

    words = " ".join(normalize(answer))
    for moment in (before, after):
        hour12 = moment.hour % 12 or 12
        for hour in {moment.hour, hour12}:
            if re.search(rf"\b{hour}\b", answer) or f" {' '.join(normalize(str(hour)))} " in f" {words} ":
                return True
    return False


# -- tests ----------------------------------------------------------------------------------------


async def test_spoken_question_in_the_browser(stack: Stack, spoken_command: Path, tmp_path: Path) -> None:
    async with async_api.async_playwright() as pw:
        browser = await launch(pw, spoken_command)
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 800}, ignore_https_errors=True
            )
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))

            # The pairing link logs in and lands on the page with a clean URL.
            await page.goto(f"{stack.url}?token={TOKEN}")
            assert page.url == stack.url
            assert await wait_state(page, ("idle",)) == "idle"

            before = datetime.now()
            await page.click("label.toggle:has(#wake-toggle)")  # always listening: hub-side wake word
            await wait_state(page, ("wake",))
            # "Hey Jarvis, what time is it?" -> detection, transcript, answer, audio
            await page.wait_for_selector(".msg.user:not(.partial)", timeout=40000)
            await page.wait_for_function(
                "() => window.jarvis.stats.playedStreams >= 1 && !window.jarvis.stats.playing", timeout=60000
            )
            after = datetime.now()
            stats = await page.evaluate("window.jarvis.stats")
            transcript = await page.inner_text(".msg.user .text")
            answer = await page.inner_text(".msg.assistant .text")
            await page.wait_for_selector(".msg.assistant .meta .chip-btn")  # feedback buttons shown
            state = await wait_state(page, ("wake",))

            assert "time" in transcript.lower(), transcript
            assert spoken_time_matches(answer, before, after), answer
            assert stats["audioBytesReceived"] > 16000  # at least half a second of 16 kHz speech
            assert stats["audioChunksScheduled"] == stats["audioChunksReceived"]
            assert stats["scheduledSeconds"] > 0.5
            # Chunks are scheduled back to back; an underrun can only happen between sentences,
            # when the server had not synthesized the next one yet (the page adapts its buffer).
            assert stats["gaps"] <= max(0, stats["sentences"] - 1), stats
            assert stats["micBytesSent"] > 16000 * 2 * 2  # the mic streamed (16 kHz, 16-bit)
            assert state == "wake"  # back to listening for the wake word
            await page.screenshot(path=str(screenshot_path(tmp_path, "screenshot-web.png")))

            # 👍 on the answer is stored with the turn the brain logged.
            await page.click(".msg.assistant .meta .chip-btn >> nth=0")
            await page.wait_for_selector(".msg.assistant .meta .chip-btn.chosen")
            feedback = await page.evaluate("fetch('/api/feedback').then(r => r.json()).then(d => d.feedback)")
            assert feedback and feedback[0]["rating"] == 1 and feedback[0]["stored_in"] == "memory"
            assert errors == []
        finally:
            await browser.close()


async def test_wake_word_interrupts_the_answer(stack: Stack, tmp_path: Path) -> None:
    """Barge-in: "Hey Jarvis" while the (long) first answer plays stops it and starts a new turn."""
    pcm = (
        silence(1.5)
        + speak("Hey Jarvis, tell me a story.")
        + silence(4.0)
        + speak("Hey Jarvis, what time is it?")
        + silence(6.0)
    )
    two_questions = write_wav(tmp_path / "barge-in.wav", pcm)
    async with async_api.async_playwright() as pw:
        browser = await launch(pw, two_questions)
        try:
            page = await (await browser.new_context(ignore_https_errors=True)).new_page()
            await page.goto(f"{stack.url}?token={TOKEN}&user=bea")
            await wait_state(page, ("idle",))
            await page.click("label.toggle:has(#wake-toggle)")
            await page.wait_for_function(
                "() => document.querySelectorAll('.msg.user:not(.partial)').length >= 2", timeout=60000
            )
            await page.wait_for_function(
                "() => window.jarvis.stats.playedStreams >= 1 && !window.jarvis.stats.playing", timeout=60000
            )
            await wait_state(page, ("wake",))
            questions = await page.locator(".msg.user .text").all_inner_texts()
            answers = await page.locator(".msg.assistant .text").all_inner_texts()
            stats = await page.evaluate("window.jarvis.stats")
        finally:
            await browser.close()
    assert len(questions) == 2 and "story" in questions[0].lower() and "time" in questions[1].lower()
    assert re.search(r"\d", answers[-1]), answers
    # Only the second answer played to its end: the first was cut off by the wake word.
    assert stats["playedStreams"] == 1, stats


async def test_push_to_talk_on_a_phone(stack: Stack, tmp_path: Path) -> None:
    question = write_wav(tmp_path / "what-time.wav", silence(0.5) + speak("What time is it?") + silence(5.0))
    async with async_api.async_playwright() as pw:
        browser = await launch(pw, question)
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844},
                is_mobile=True,
                has_touch=True,
                ignore_https_errors=True,
            )
            page = await context.new_page()
            await page.goto(f"{stack.url}?token={TOKEN}&user=pat")
            await wait_state(page, ("idle",))
            box = await page.locator("#ptt").bounding_box()
            assert box is not None
            await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            await page.mouse.down()  # hold to talk: the microphone opens, the question plays
            await wait_state(page, ("listening",))
            # The hub hears the end of speech (voice-stopped): the page stops streaming by itself.
            await wait_state(page, ("thinking", "speaking"), timeout_ms=30000)
            await page.mouse.up()
            await page.wait_for_function(
                "() => window.jarvis.stats.playedStreams >= 1 && !window.jarvis.stats.playing", timeout=60000
            )
            transcript = await page.inner_text(".msg.user .text")
            answer = await page.inner_text(".msg.assistant .text")
            stats = await page.evaluate("window.jarvis.stats")
            assert "time" in transcript.lower(), transcript
            assert re.search(r"\d", answer), answer
            assert stats["audioBytesReceived"] > 16000
            # A new user's first answer ends with the onboarding question: the page listens for the
            # reply with no button (jarvis-follow-up); silence closes the window (outcome no-reply).
            sub = await page.wait_for_function(
                "() => window.jarvis.state === 'listening' && document.getElementById('state-sub')"
                ".textContent",
                timeout=15000,
            )
            assert "for your reply" in str(await sub.json_value())
            assert await wait_state(page, ("idle",)) == "idle"
            metrics = await page.evaluate("window.jarvis.stats.lastTurnMetrics")
            assert metrics["outcome"] == "no-reply", metrics
        finally:
            await browser.close()


async def test_phone_text_turn_regenerate_and_memory(stack: Stack, tmp_path: Path) -> None:
    quiet = write_wav(tmp_path / "quiet.wav", silence(1.0))
    async with async_api.async_playwright() as pw:
        browser = await launch(pw, quiet)
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                ignore_https_errors=True,
            )
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))

            # Sign in on the login page.
            await page.goto(stack.url)
            assert page.url.endswith("/login")
            await page.fill("#token", "not-the-token-at-all-000000")
            await page.click("button[type=submit]")
            await page.wait_for_selector("#login-error:has-text('wrong token')")
            await page.fill("#token", TOKEN)
            await page.fill("#user", "ann")
            await page.click("button[type=submit]")
            await page.wait_for_url(stack.url)
            await wait_state(page, ("idle",))
            # First run: the onboarding question is shown, in the log and in the memory menu.
            await page.wait_for_selector(".msg.system:has-text('your name')")
            await page.click("#btn-memory")
            await page.wait_for_selector("#onboarding:not(.hidden)")
            await page.click("#drawer-memory [data-close]")

            # A typed question: answered by a local intent, spoken and logged.
            await page.fill("#text-input", "What's the date today?")
            await page.press("#text-input", "Enter")
            await page.wait_for_function("() => window.jarvis.stats.playedStreams >= 1", timeout=60000)
            first = await page.inner_text(".msg.assistant .text")
            assert str(datetime.now().day) in first or datetime.now().strftime("%B") in first, first
            await page.wait_for_selector(".msg.assistant .meta")
            await page.screenshot(path=str(screenshot_path(tmp_path, "screenshot-phone.png")))

            # Regenerate asks the same question again as a text turn.
            await page.click(".msg.assistant .meta .chip-btn:has-text('Regenerate')")
            await page.wait_for_function("() => window.jarvis.stats.playedStreams >= 2", timeout=60000)
            users = await page.locator(".msg.user .text").all_inner_texts()
            assert users == ["What's the date today?", "What's the date today?"]

            # Memory menu: fill in the profile (answers the onboarding question) and add a fact.
            await page.click("#btn-memory")
            await page.wait_for_selector("#profile-name")
            await page.fill("#profile-name", "Ann")
            await page.fill("#profile-interests", "climbing and jazz")
            await page.click("#profile-form button[type=submit]")
            await page.wait_for_selector("#onboarding.hidden", state="attached")  # answered
            await page.fill("#fact-input", "has a cat called Miso")
            await page.press("#fact-input", "Enter")
            await page.wait_for_selector("#facts li:has-text('Miso')")
            await page.screenshot(path=str(screenshot_path(tmp_path, "screenshot-phone-memory.png")))
            memory = await page.evaluate("fetch('/api/memory').then(r => r.json())")
            assert memory["user_id"] == "ann"
            assert memory["profile"]["name"] == "Ann"
            assert [f["fact"] for f in memory["facts"]] == ["has a cat called Miso"]
            assert errors == []
        finally:
            await browser.close()


async def test_timer_set_from_the_page_rings_on_the_page(stack: Stack, tmp_path: Path) -> None:
    quiet = write_wav(tmp_path / "quiet.wav", silence(1.0))
    async with async_api.async_playwright() as pw:
        browser = await launch(pw, quiet)
        try:
            page = await (await browser.new_context(ignore_https_errors=True)).new_page()
            await page.goto(f"{stack.url}?token={TOKEN}")
            await wait_state(page, ("idle",))
            await page.fill("#text-input", "Set a timer for 3 seconds")
            await page.press("#text-input", "Enter")
            await page.wait_for_selector(".msg.system:has-text('Timer set')", timeout=30000)
            await page.wait_for_selector(".msg.system:has-text('Timer done')", timeout=30000)
            assert await page.is_visible("#toast:has-text('Timer done')")
        finally:
            await browser.close()


async def test_server_down_is_shown_and_recovers(stack: Stack, tmp_path: Path) -> None:
    """The web app keeps serving while the hub is away; the page says so and reconnects."""
    from jarvis.server.config import HubSettings, Settings
    from jarvis.server.hub.hub import Hub

    quiet = write_wav(tmp_path / "quiet.wav", silence(1.0))
    async with async_api.async_playwright() as pw:
        browser = await launch(pw, quiet)
        try:
            context = await browser.new_context(ignore_https_errors=True)
            page = await context.new_page()
            await page.goto(f"{stack.url}?token={TOKEN}")
            await wait_state(page, ("idle",))
            port = stack.hub.port
            await stack.hub.stop()
            await wait_state(page, ("server-down",))
            assert "retrying" in (await page.inner_text("#state-sub")).lower()
            assert await page.get_attribute("#status", "data-level") == "warn"
            # A hub comes back on the same port: the page reconnects by itself.
            stack.hub = Hub(Settings(hub=HubSettings(port=port)), TOKEN, **stack.services)
            await stack.hub.start()
            await wait_state(page, ("idle",), timeout_ms=30000)
        finally:
            await browser.close()


RESAMPLE_JS = """
async ([freq, rate]) => {
  const ctx = new OfflineAudioContext(1, rate, rate);  // one second
  await ctx.audioWorklet.addModule("/static/mic-worklet.js");
  const node = new AudioWorkletNode(ctx, "jarvis-mic", { numberOfInputs: 1, numberOfOutputs: 0 });
  const frames = [];
  node.port.onmessage = (ev) => frames.push(new Int16Array(ev.data));
  const osc = new OscillatorNode(ctx, { frequency: freq });
  const gain = new GainNode(ctx, { gain: 0.5 });
  osc.connect(gain).connect(node);
  osc.start();
  await ctx.startRendering();
  const deadline = Date.now() + 5000;
  while (frames.length < 24 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const pcm = Int16Array.from(frames.flatMap((f) => Array.from(f)));
  const body = pcm.slice(800, pcm.length - 800);  // skip the filter's start-up
  let sum = 0, crossings = 0;
  for (let i = 0; i < body.length; i++) {
    sum += (body[i] / 32768) ** 2;
    if (i && (body[i - 1] < 0) !== (body[i] < 0)) crossings++;
  }
  const seconds = body.length / 16000;
  return { samples: pcm.length, rms: Math.sqrt(sum / body.length), hz: crossings / 2 / seconds };
}
"""


@pytest.mark.parametrize("context_rate", [48000, 44100])
async def test_microphone_worklet_resamples_to_16k_without_aliasing(
    _isolated_data_dir: Path, tmp_path: Path, context_rate: int
) -> None:
    """The page's AudioWorklet: 16 kHz out, a 1 kHz tone kept, a 12 kHz tone (would alias) removed."""
    from jarvis.server.web.__main__ import start_web

    web = await start_web(token=TOKEN, hub_uri="tcp://127.0.0.1:9", port=0, data_dir=_isolated_data_dir)
    quiet = write_wav(tmp_path / "quiet.wav", silence(0.5))
    try:
        async with async_api.async_playwright() as pw:
            browser = await launch(pw, quiet)
            try:
                page = await (await browser.new_context(ignore_https_errors=True)).new_page()
                await page.goto(f"{web.url}?token={TOKEN}")
                kept = await page.evaluate(RESAMPLE_JS, [1000, context_rate])
                removed = await page.evaluate(RESAMPLE_JS, [12000, context_rate])
            finally:
                await browser.close()
    finally:
        await web.stop()
    assert abs(kept["samples"] - 16000) <= 640  # one second at 16 kHz (whole 40 ms frames)
    assert abs(kept["hz"] - 1000) < 10, kept
    assert abs(kept["rms"] - 0.5 / 2**0.5) < 0.02, kept  # amplitude kept
    assert removed["rms"] < 0.02, removed  # > 30 dB down: no alias at 4 kHz


CSP_WATCH_JS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


async def test_every_page_module_loads_under_the_csp(_isolated_data_dir: Path, tmp_path: Path) -> None:
    """index.html's ES modules (static/js/) all load and run under the strict CSP: no console error,
    no page error, no failed request, no CSP violation; then an inline script shows the CSP watch works."""
    from jarvis.server.web.__main__ import start_web
    from jarvis.server.web.app import STATIC_DIR

    web = await start_web(token=TOKEN, hub_uri="tcp://127.0.0.1:9", port=0, data_dir=_isolated_data_dir)
    quiet = write_wav(tmp_path / "quiet.wav", silence(0.5))
    problems: list[str] = []
    modules: dict[str, tuple[int, str]] = {}
    try:
        async with async_api.async_playwright() as pw:
            browser = await launch(pw, quiet)
            try:
                page = await (await browser.new_context(ignore_https_errors=True)).new_page()
                await page.add_init_script(CSP_WATCH_JS)
                page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
                page.on("pageerror", lambda err: problems.append(f"pageerror: {err}"))
                page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))

                def on_response(response: Any) -> None:
                    path = "/" + response.url.split("/", 3)[3]
                    if path.startswith("/static/js/"):
                        modules[path] = (response.status, response.headers.get("content-type", ""))

                page.on("response", on_response)
                await page.goto(f"{web.url}?token={TOKEN}")
                # main.js ran to the end: the session and memory came over REST, the socket got the
                # bridge's state (no hub here), and the orb draws.
                assert await wait_state(page, ("server-down",)) == "server-down"
                await page.wait_for_function(
                    "() => window.jarvis.memory && window.jarvis.orbLevel !== undefined"
                )
                assert await page.evaluate("typeof window.jarvis.send") == "function"
                await page.click("#btn-memory")  # memory.js and ui.js answer
                await page.wait_for_selector("#drawer-memory:not(.hidden) #profile-name")
                await page.keyboard.press("Escape")
                await page.wait_for_selector("#drawer-memory.hidden", state="attached")
                violations = await page.evaluate("window.__cspViolations")
                before = list(problems)
                # The watch itself: an inline script is refused (and counted), never run.
                ran = await page.evaluate(
                    """() => new Promise((resolve) => {
                      const s = document.createElement("script");
                      s.textContent = "window.__inlineRan = true";
                      document.body.appendChild(s);
                      setTimeout(() => resolve(window.__inlineRan === true), 200);
                    })"""
                )
                after = await page.evaluate("window.__cspViolations")
            finally:
                await browser.close()
    finally:
        await web.stop()
    assert before == []
    assert violations == []
    assert ran is False and len(after) == 1 and after[0].startswith("script-src"), after
    assert len(problems) == 1 and "Content Security Policy" in problems[0], problems  # seen as an error too
    on_disk = {f"/static/js/{p.name}" for p in (STATIC_DIR / "js").glob("*.js")}
    assert set(modules) == on_disk
    assert all(status in (200, 304) and "javascript" in ctype for status, ctype in modules.values()), modules
