"""``jarvis bench docs``: retrieval quality, search latency and indexing throughput of the document store.

Quality: the corpus in ``server/bench/data/docs/`` (20 documents, 10 English and 10 French, in
Markdown, text and HTML) and its 60 questions, each with the passage that answers it. A question
is answered at rank k when one of the k best chunks is from its document and contains that
passage. recall@3 is reported for BM25 only, vectors only and hybrid (reciprocal rank fusion).

Latency: the same store grown to ``--chunks`` chunks (synthetic documents made of the corpus's
words, owned by five users with every kind of visibility, so the access rule filters for real),
timed over ``--queries`` searches through the public ``DocumentStore.search`` (the query embedded
each time). Throughput: the time to index those synthetic files (read, chunk, embed, write).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from jarvis.server.knowledge.embed import make_embedder
from jarvis.server.knowledge.store import DB_NAME, DocumentStore

from .report import markdown_table, median, percentile, write_section

DATA = Path(__file__).resolve().parent / "data" / "docs"
MODES = ("bm25", "vector", "hybrid")
USERS = ("ann", "bob", "zoe", "leo", "max")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunks", type=int, default=10_000, help="chunks in the latency store (default 10000)"
    )
    parser.add_argument("--queries", type=int, default=300, help="searches timed (default 300)")
    parser.add_argument("--embedder", default="wordllama", help="'wordllama' (default) or 'ollama:MODEL'")
    parser.add_argument("--ollama-host", help="Ollama server for --embedder ollama:MODEL")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")


def load_questions() -> list[dict[str, str]]:
    questions: list[dict[str, str]] = json.loads((DATA / "questions.json").read_text(encoding="utf-8"))
    return questions


def language_of(doc: str) -> str:
    text = (DATA / doc).read_text(encoding="utf-8")
    return "fr" if re.search(r"\b(le|la|les|des|une)\b", text) and "é" in text else "en"


async def quality(store: DocumentStore) -> tuple[dict[str, dict[str, float]], list[str], int]:
    titles: dict[str, int] = {}
    files = sorted(p for p in DATA.iterdir() if p.name != "questions.json")
    for path in files:
        result = await store.add("bench", path, "household")
        titles[path.name] = result.document.id
    questions = load_questions()
    found: dict[str, dict[str, list[int]]] = {m: {"en": [], "fr": []} for m in MODES}
    misses: list[str] = []
    for q in questions:
        language = language_of(q["doc"])
        for mode in MODES:
            hits = await store.search("bench", q["q"], limit=10, mode=mode)
            rank = next(
                (i for i, h in enumerate(hits, 1) if h.doc_id == titles[q["doc"]] and q["answer"] in h.text),
                0,
            )
            found[mode][language].append(rank)
            if mode == "hybrid" and not 0 < rank <= 3:
                misses.append(f"{q['q']!r} -> rank {rank or '>10'} ({q['doc']})")
    table: dict[str, dict[str, float]] = {}
    for mode in MODES:
        ranks = found[mode]["en"] + found[mode]["fr"]
        table[mode] = {
            "recall@1": sum(0 < r <= 1 for r in ranks) / len(ranks),
            "recall@3": sum(0 < r <= 3 for r in ranks) / len(ranks),
            "recall@3 en": sum(0 < r <= 3 for r in found[mode]["en"]) / max(len(found[mode]["en"]), 1),
            "recall@3 fr": sum(0 < r <= 3 for r in found[mode]["fr"]) / max(len(found[mode]["fr"]), 1),
            "mrr@10": sum(1 / r for r in ranks if r) / len(ranks),
        }
    chunks = int((await store.stats())["chunks"])
    return table, misses, chunks


def synthetic_files(folder: Path, chunks: int, seed: int = 12) -> list[Path]:
    """Markdown files of ``chunks`` sections in all (one chunk each), made of the corpus's words."""
    rng = random.Random(seed)
    words = [
        w
        for p in sorted(DATA.iterdir())
        if p.name != "questions.json"
        for w in re.findall(r"[^\W\d_]{3,}", p.read_text(encoding="utf-8"))
    ]
    per_file = 50
    files: list[Path] = []
    for n in range((chunks + per_file - 1) // per_file):
        lines = [f"# Synthetic notes {n}", ""]
        for s in range(min(per_file, chunks - n * per_file)):
            heading = " ".join(rng.choice(words) for _ in range(2)).capitalize()
            body = " ".join(rng.choice(words) for _ in range(rng.randint(40, 80)))
            lines += [f"## {heading} {s}", "", body.capitalize() + ".", ""]
        path = folder / f"synthetic-{n:04d}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        files.append(path)
    return files


async def run(args: argparse.Namespace) -> int:
    embedder = make_embedder(args.embedder, args.ollama_host)
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-docs-") as tmp:
        root = Path(tmp)
        store = await DocumentStore.open(root / "data" / DB_NAME, embedder)
        try:
            table, misses, corpus_chunks = await quality(store)
            synthetic = root / "synthetic"
            synthetic.mkdir()
            files = synthetic_files(synthetic, max(args.chunks - corpus_chunks, 0))
            size = sum(p.stat().st_size for p in files)
            visibilities: list[tuple[str, str | None]] = [
                ("private", None),
                ("group", "kids"),
                ("household", None),
            ]
            await store.set_members("kids", add=["zoe", "leo"])
            started = time.perf_counter()
            for i, path in enumerate(files):
                visibility, group = visibilities[i % 3]
                await store.add(USERS[i % len(USERS)], path, visibility, group)
            indexing = time.perf_counter() - started
            stats = await store.stats()
            questions = [q["q"] for q in load_questions()]
            latency: dict[str, list[float]] = {m: [] for m in MODES}
            await store.search("ann", "warm up", mode="hybrid")
            for i in range(args.queries):
                for mode in MODES:
                    start = time.perf_counter()
                    await store.search(
                        USERS[i % len(USERS)], questions[i % len(questions)], limit=3, mode=mode
                    )
                    latency[mode].append((time.perf_counter() - start) * 1000)
        finally:
            await store.close()
    body = report(args, table, misses, corpus_chunks, stats, len(files), size, indexing, latency)
    print(body)
    if not args.no_write:
        write_section("docs", body)
    return 0


def report(
    args: argparse.Namespace,
    table: dict[str, dict[str, float]],
    misses: list[str],
    corpus_chunks: int,
    stats: dict[str, Any],
    n_files: int,
    size: int,
    indexing: float,
    latency: dict[str, list[float]],
) -> str:
    synthetic_chunks = int(stats["chunks"]) - corpus_chunks
    quality_rows = [
        [
            mode,
            f"{t['recall@1']:.2f}",
            f"**{t['recall@3']:.2f}**",
            f"{t['recall@3 en']:.2f}",
            f"{t['recall@3 fr']:.2f}",
            f"{t['mrr@10']:.2f}",
        ]
        for mode, t in table.items()
    ]
    latency_rows = [
        [mode, f"{median(v):.1f}", f"{percentile(v, 95):.1f}", f"{max(v):.1f}"] for mode, v in latency.items()
    ]
    lines = [
        "## Documents: retrieval quality, search latency, indexing (`jarvis bench docs`)",
        "",
        f"Embeddings: `{stats['model']}`. Corpus: `server/bench/data/docs/` — 20 household documents "
        f"(10 English, 10 French; Markdown, text, HTML), {corpus_chunks} chunks, 60 questions each with the "
        "passage that answers it (answered at rank k: one of the k best chunks is from its document and "
        "contains the passage).",
        "",
        markdown_table(
            ["search", "recall@1", "recall@3", "recall@3 EN", "recall@3 FR", "MRR@10"], quality_rows
        ),
        "",
        f"Hybrid misses at 3: {len(misses)}" + (":" if misses else "."),
        *[f"- {m}" for m in misses],
        "",
        f"Latency of one search (the public async `search`, query embedded each time, top 3, the access rule "
        f"applied) over **{int(stats['chunks'])} chunks** in {int(stats['documents'])} documents of 5 users "
        f"(private, group and household), {args.queries} queries per mode, in ms:",
        "",
        markdown_table(["search", "p50", "p95", "max"], latency_rows),
        "",
        f"Indexing throughput (read, chunk, embed, write; {n_files} Markdown files, {size / 1e6:.1f} MB, "
        f"{synthetic_chunks} chunks): **{synthetic_chunks / indexing:.0f} chunks/s**, "
        f"{size / 1e6 / indexing:.2f} MB/s ({indexing:.1f} s in all).",
    ]
    return "\n".join(lines)
