"""`jarvis bench wake`: which wake word engine hears "hey jarvis" in unfamiliar voices, and how
often each fires on speech that does not say it.

No network and no services: the detectors of :mod:`jarvis.protocol.wake` run on the bench voices
(:mod:`.voices`) in every condition. For each English voice and condition:

- **recall**: ``"hey jarvis, <command>"`` (corpus commands, seeded sample) must fire; the
  French voices say it in their own accent (``jarvis bench understand`` gives them an English
  ``wake_voice`` instead);
- **false wakes**: the corpus commands and open questions *without* the wake phrase, in every
  voice, French included, must not fire; reported per hour of that audio;
- **lag**: where the detection lands after the phrase's end (the phrase synthesized alone gives
  its length);
- **CPU**: seconds of processing per second of audio, each engine alone, on this machine.

Engines: ``micro`` (microWakeWord), ``openwakeword``, and ``both`` (the fused detector, the
default where both are installed). Figures go to docs/benchmarks.md, section ``wake``.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .report import write_section
from .understand import WAKE_PHRASE, load_corpus
from .voices import CONDITIONS, RATE, Voice, apply_condition, seed_for, select, synthesize

_LOGGER = logging.getLogger(__name__)

ENGINE_CHOICES = ("micro", "openwakeword", "both")
CHUNK_BYTES = 2560
"""80 ms of 16 kHz audio, the satellite's microphone block."""
LEAD_S = 0.5
TAIL_S = 1.0


@dataclass
class Tally:
    hits: list[bool] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    false: int = 0
    false_files: int = 0
    audio_s: float = 0.0
    cpu_s: float = 0.0
    fed_s: float = 0.0


def _speech_span(pcm: bytes) -> tuple[float, float]:
    samples = np.frombuffer(pcm, "<i2")
    voiced = np.nonzero(np.abs(samples) > 300)[0]
    if not len(voiced):
        return 0.0, 0.0
    return voiced[0] / RATE, voiced[-1] / RATE


def _detections(detector: object, pcm: bytes) -> tuple[list[float], float]:
    """Positions (s) of the detections in ``pcm`` fed in microphone blocks, and the CPU time."""
    detector.reset()  # type: ignore[attr-defined]
    found = []
    start = time.process_time()
    for offset in range(0, len(pcm), CHUNK_BYTES):
        if detector.process(pcm[offset : offset + CHUNK_BYTES]):  # type: ignore[attr-defined]
            found.append(detector.last_detection_sample / RATE)  # type: ignore[attr-defined]
    return found, time.process_time() - start


def run_bench(
    voices: list[Voice], conditions: list[str], engines: list[str], per_cell: int, seed: int
) -> dict[tuple[str, str, str], Tally]:
    from jarvis.protocol.wake import WakeWordDetector

    detectors = {e: WakeWordDetector(engine=e) for e in engines}
    items = load_corpus()
    rng = random.Random(seed)
    tallies: dict[tuple[str, str, str], Tally] = defaultdict(Tally)
    for voice in voices:
        texts = [i.text for i in items if i.lang == voice.lang]
        # Every voice says the wake phrase itself, the French ones too (with their accent).
        start, end = _speech_span(synthesize(voice, WAKE_PHRASE.strip(" ,")))
        wake_len = end - start
        for condition in conditions:
            sample = rng.sample(texts, min(per_cell, len(texts)))
            _LOGGER.info("%s / %s: %d texts", voice.name, condition, len(sample))
            for text in sample:
                files = [("false", synthesize(voice, text)), ("wake", synthesize(voice, WAKE_PHRASE + text))]
                for kind, clean in files:
                    seed_ = seed_for(voice.name, condition, text)
                    pcm = apply_condition(clean, condition, LEAD_S, TAIL_S, seed_)
                    speech_start = _speech_span(clean)[0] + LEAD_S
                    for engine, detector in detectors.items():
                        found, cpu = _detections(detector, pcm)
                        tally = tallies[(engine, voice.name, condition)]
                        tally.cpu_s += cpu
                        tally.fed_s += len(pcm) / 2 / RATE
                        if kind == "wake":
                            tally.hits.append(bool(found))
                            if found:
                                tally.lags.append(found[0] - speech_start - wake_len)
                        else:
                            tally.false += len(found)
                            tally.false_files += bool(found)
                            tally.audio_s += len(pcm) / 2 / RATE
    return tallies


def _merge(tallies: list[Tally]) -> Tally:
    out = Tally()
    for t in tallies:
        out.hits += t.hits
        out.lags += t.lags
        out.false += t.false
        out.false_files += t.false_files
        out.audio_s += t.audio_s
        out.cpu_s += t.cpu_s
        out.fed_s += t.fed_s
    return out


def _recall(t: Tally) -> str:
    if not t.hits:
        return "–"
    return f"{100 * sum(t.hits) / len(t.hits):.0f}% ({sum(t.hits)}/{len(t.hits)})"


def _false(t: Tally) -> str:
    if not t.audio_s:
        return "–"
    return f"{t.false} ({t.false / (t.audio_s / 3600):.1f}/h)"


def render(
    tallies: dict[tuple[str, str, str], Tally], engines: list[str], voices: list[Voice], conditions: list[str]
) -> str:
    out = [
        '## Wake word: which engine hears "hey jarvis" (`jarvis bench wake`)',
        "",
        "Every bench voice and condition of `jarvis bench understand` (server/bench/voices.py), fed to "
        "the detectors of `jarvis.protocol.wake` in 80 ms blocks. **Recall**: `hey jarvis, <command>` "
        "(a seeded sample of corpus commands per cell; the French voices say the phrase with their "
        "own accent) fired. **False wakes**: the same "
        "commands and the open questions *without* the wake phrase, in every voice (French too), per "
        "hour of that audio. **Lag**: detection position after the phrase's end. **CPU**: processing "
        "seconds (all threads) per audio second. `both` is the fused detector (`--wake-engine auto` where "
        "both are installed): it fires on the first engine that does.",
        "",
    ]
    lang = {v.name: v.lang for v in voices}
    rows = {
        (e, group): _merge(
            [t for (en, name, _), t in tallies.items() if en == e and group in ("all", lang[name])]
        )
        for e in engines
        for group in ("en", "fr", "all")
    }
    out += [
        "| engine | voices | recall | false wakes (files) | false wakes per hour | audio without the phrase "
        "| lag median ms | lag p95 ms | CPU (s per s of audio) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (e, group), t in rows.items():
        if not t.hits and not t.audio_s:
            continue
        lags = sorted(t.lags)
        med = f"{1000 * statistics.median(lags):.0f}" if lags else "–"
        p95 = f"{1000 * lags[min(len(lags) - 1, int(0.95 * len(lags)))]:.0f}" if lags else "–"
        cpu = f"{t.cpu_s / t.fed_s:.4f}" if t.fed_s else "–"
        out.append(
            f"| {e} | {group} | {_recall(t)} | {t.false} ({t.false_files} files) | {_false(t)} | "
            f"{t.audio_s / 60:.1f} min | {med} | {p95} | {cpu} |"
        )
    out += ["", "Recall per voice (all conditions) and false wakes per voice:", ""]
    out.append("| voice | " + " | ".join(f"{e}: recall | {e}: false wakes" for e in engines) + " |")
    out.append("|---" * (1 + 2 * len(engines)) + "|")
    for v in voices:
        cells = []
        for e in engines:
            t = _merge([tallies[(e, v.name, c)] for c in conditions if (e, v.name, c) in tallies])
            cells += [_recall(t), _false(t)]
        out.append(f"| {v.name} | " + " | ".join(cells) + " |")
    out += ["", "Recall per condition (all voices):", ""]
    out.append("| condition | " + " | ".join(engines) + " |")
    out.append("|---" * (1 + len(engines)) + "|")
    for c in conditions:
        cells = [
            _recall(_merge([t for (e2, _, c2), t in tallies.items() if e2 == e and c2 == c])) for e in engines
        ]
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--voices", help="comma-separated voice names (default: all available)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated conditions")
    parser.add_argument("--engines", default=",".join(ENGINE_CHOICES), help="comma-separated engines")
    parser.add_argument(
        "--per-cell", type=int, default=12, help="commands per voice x condition (default 12)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")


def run(args: argparse.Namespace) -> int:
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise SystemExit(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    bad = [e for e in engines if e not in ENGINE_CHOICES]
    if bad:
        raise SystemExit(f"unknown engine(s) {', '.join(bad)}; known: {', '.join(ENGINE_CHOICES)}")
    voices = select(args.voices)
    tallies = run_bench(voices, conditions, engines, args.per_cell, args.seed)
    body = render(tallies, engines, voices, conditions)
    print(body)
    if not args.no_write:
        write_section("wake", body)
    return 0
