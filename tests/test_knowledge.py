"""The document store on real files, real SQLite (sqlean + sqlite-vec) and the real wordllama model."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from knowledge_files import BOILER_MD, write_corpus

from jarvis.server.knowledge.chunk import chunk_blocks
from jarvis.server.knowledge.embed import WordLlamaEmbedder
from jarvis.server.knowledge.errors import DocumentError, UnsupportedFormat
from jarvis.server.knowledge.extract import Block, extract
from jarvis.server.knowledge.store import DB_NAME, DocumentStore, fts_query


class CountingEmbedder(WordLlamaEmbedder):
    """The real wordllama embedder, counting the texts it embeds (to prove what was re-embedded)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return super().embed(texts)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    docs = await DocumentStore.open(tmp_path / "data" / DB_NAME, CountingEmbedder())
    yield docs
    await docs.close()


# -- extraction and chunking -------------------------------------------------------------------------


def test_markdown_chunks_keep_title_and_section_path(tmp_path: Path) -> None:
    path = tmp_path / "boiler.md"
    path.write_text(BOILER_MD)
    doc = extract(path, path.read_bytes())
    chunks = chunk_blocks(doc.title, doc.blocks)
    assert doc.title == "Boiler manual"
    assert all(c.title == "Boiler manual" for c in chunks)
    sections = [c.section for c in chunks]
    assert sections == ["", "Installation > Pressure", "Installation > Flue", "Annual service", "Fault codes"]
    pressure = chunks[1]
    assert pressure.text.startswith("The pressure gauge should read between 1 and 1.5 bar")
    assert pressure.indexed_text.startswith("Boiler manual > Installation > Pressure: The pressure")


def test_html_pdf_and_text_are_extracted(tmp_path: Path) -> None:
    files = write_corpus(tmp_path)
    html = extract(files["recipe"], files["recipe"].read_bytes())
    assert html.title == "Tarte aux pommes de Mamie" and html.format == "html"
    text = " ".join(b.text for b in html.blocks)
    assert "180 degrés" in text and "secret" not in text and "color" not in text
    pdf = extract(files["alarm"], files["alarm"].read_bytes())
    assert pdf.title == "Alarm guide" and pdf.format == "pdf"
    chunks = chunk_blocks(pdf.title, pdf.blocks)
    assert [c.section for c in chunks] == ["Page 1", "Page 2"]
    assert "type 1 9 7 3 then press AWAY" in chunks[0].text
    wifi = extract(files["wifi"], files["wifi"].read_bytes())
    assert wifi.title == "Wifi notes"
    assert "tortue-verte-42" in chunk_blocks(wifi.title, wifi.blocks)[0].text


def test_long_paragraphs_are_cut_and_chunk_count_is_bounded() -> None:
    sentence = "The filling loop is a braided hose with two valves under the boiler. "
    chunks = chunk_blocks("T", [Block("Long", 1), Block(sentence * 60)], target=700, limit=1200)
    assert len(chunks) > 3 and all(len(c.text) <= 1200 for c in chunks)
    assert all(c.section == "Long" for c in chunks)
    with pytest.raises(DocumentError, match="more than 5 chunks"):
        chunk_blocks("T", [Block(sentence * 100)], max_chunks=5)


async def test_bad_input_is_refused_clearly(store: DocumentStore, tmp_path: Path) -> None:
    doc = tmp_path / "letter.docx"
    doc.write_bytes(b"PK\x03\x04")
    with pytest.raises(UnsupportedFormat, match="unknown format '.docx'"):
        await store.add("ann", doc)
    with pytest.raises(DocumentError, match="no such file"):
        await store.add("ann", tmp_path / "missing.md")
    (tmp_path / "folder.md").mkdir()
    with pytest.raises(DocumentError, match="not a regular file|is a directory"):
        await store.add("ann", tmp_path / "folder.md")
    big = tmp_path / "big.txt"
    big.write_text("x" * 2000)
    with pytest.raises(DocumentError, match="more than the 1000 allowed"):
        await store.add("ann", big, max_bytes=1000)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not a pdf")
    with pytest.raises(DocumentError, match="not a readable PDF|no text found"):
        await store.add("ann", broken)
    with pytest.raises(DocumentError, match="visibility"):
        await store.add("ann", tmp_path / "x.md", visibility="public")
    with pytest.raises(DocumentError, match="group name"):
        await store.add("ann", tmp_path / "x.md", visibility="group", group="bad group!")
    assert await store.list_documents("ann") == []


def test_user_words_never_become_fts_syntax() -> None:
    assert fts_query('pressure" OR owner:bob NEAR(x) *') == '"pressure" OR "owner" OR "bob" OR "near"'
    assert fts_query("what is the ?") is not None


# -- the index ---------------------------------------------------------------------------------------


async def test_reindex_only_changed_files(store: DocumentStore, tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "docs")
    embedder = store.embedder
    assert isinstance(embedder, CountingEmbedder)
    first = [await store.add("ann", files[k], "household") for k in ("boiler", "wifi", "alarm")]
    assert [r.status for r in first] == ["added", "added", "added"]
    wifi_id = first[1].document.id
    chunk_ids_before = await store._run(
        lambda: [r[0] for r in store._db.execute("SELECT id FROM chunks WHERE doc_id = ?", (wifi_id,))]
    )
    embedder.embedded.clear()
    assert [r.status for r in await store.reindex("ann")] == ["unchanged"] * 3
    assert embedder.embedded == []  # nothing was embedded again
    files["boiler"].write_text(BOILER_MD.replace("1 and 1.5 bar", "1.2 and 1.8 bar"))
    results = await store.reindex()
    assert [r.status for r in results] == ["updated", "unchanged", "unchanged"]
    assert embedder.embedded and all(t.startswith("Boiler manual") for t in embedder.embedded)
    chunk_ids_after = await store._run(
        lambda: [r[0] for r in store._db.execute("SELECT id FROM chunks WHERE doc_id = ?", (wifi_id,))]
    )
    assert chunk_ids_after == chunk_ids_before  # the unchanged file kept its rows
    hits = await store.search("ann", "boiler pressure gauge bar")
    assert "1.2 and 1.8 bar" in hits[0].text
    assert not any("1 and 1.5 bar" in h.text for h in await store.search("ann", "pressure", limit=10))
    counts = await store.stats()
    fts = await store._run(lambda: store._db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0])
    vec = await store._run(lambda: store._db.execute("SELECT COUNT(*) FROM chunks_vec").fetchone()[0])
    assert fts == vec == counts["chunks"]  # no orphan rows in either index
    # a file that disappeared is reported, not silently dropped
    files["alarm"].unlink()
    assert [r.status for r in await store.reindex("ann")] == ["unchanged", "unchanged", "missing"]


async def test_same_content_new_visibility_moves_without_reembedding(
    store: DocumentStore, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "docs")
    assert isinstance(store.embedder, CountingEmbedder)
    await store.add("ann", files["wifi"])
    store.embedder.embedded.clear()
    moved = await store.add("ann", files["wifi"], "household")
    assert moved.status == "moved" and moved.document.visibility == "household"
    assert store.embedder.embedded == []
    assert [d.title for d in await store.list_documents("zoe")] == ["Wifi notes"]


async def test_hybrid_search_finds_words_and_meaning(store: DocumentStore, tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "docs")
    for key in ("boiler", "wifi", "recipe", "alarm", "rules"):
        await store.add("ann", files[key], "household")
    # an exact code: BM25's job
    hits = await store.search("ann", "F28")
    assert hits[0].section == "Fault codes" and hits[0].bm25_rank == 1
    # no word in common with the passage but "password"/"guest": both retrievers agree
    hits = await store.search("ann", "what is the guest wifi password")
    assert hits[0].title == "Wifi notes" and hits[0].bm25_rank and hits[0].vector_rank
    # the PDF is searchable like the rest
    hits = await store.search("ann", "how do I arm the alarm when leaving")
    assert hits[0].title == "Alarm guide" and hits[0].section == "Page 1"
    # French, accents folded: "degres" finds "degrés"
    hits = await store.search("ann", "cuisson tarte four degres")
    assert hits[0].title == "Tarte aux pommes de Mamie" and hits[0].section == "Cuisson"
    # vectors alone rank by meaning
    vector = await store.search("ann", "the boiler water pressure is low", mode="vector")
    assert vector[0].bm25_rank is None and vector[0].similarity is not None
    assert any(h.section in ("Installation > Pressure", "Fault codes") for h in vector[:3])
    bm25 = await store.search("ann", "flowerpot", mode="bm25")
    assert bm25 == []  # no household document has the word


async def test_store_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = os.umask(0o022)
    try:
        docs = await DocumentStore.open(data / DB_NAME)
        files = write_corpus(tmp_path / "docs")
        await docs.add("ann", files["wifi"])
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir() if p.name.startswith(DB_NAME)}
        assert modes and set(modes.values()) == {0o600}, modes
        await docs.close()
    finally:
        os.umask(old)


# -- the command line -------------------------------------------------------------------------------


def jarvis(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvis.protocol.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_cli_add_list_search_remove_reindex(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "docs")
    data = str(tmp_path / "data")
    added = jarvis(
        "docs",
        "--data-dir",
        data,
        "add",
        str(files["boiler"]),
        str(files["wifi"]),
        "--user",
        "ann",
        "--household",
    )
    assert added.returncode == 0, added.stderr
    assert "added     #1 'Boiler manual' (household" in added.stdout
    private = jarvis("docs", "--data-dir", data, "add", str(files["diary"]), "--user", "bob", "--private")
    assert '#3 "Bob\'s diary" (private' in private.stdout, private.stdout + private.stderr
    group = jarvis(
        "docs", "--data-dir", data, "add", str(files["recipe"]), "--user", "ann", "--group", "cooks"
    )
    assert "(group cooks" in group.stdout
    assert jarvis("docs", "--data-dir", data, "group", "cooks", "--add", "zoe").stdout.strip() == "cooks: zoe"
    listed = jarvis("docs", "--data-dir", data, "list", "--user", "zoe").stdout
    assert "Boiler manual" in listed and "Tarte aux pommes" in listed and "Bob" not in listed
    found = jarvis("docs", "--data-dir", data, "search", "--user", "ann", "boiler pressure")
    assert found.returncode == 0 and "[1] Boiler manual, section Installation > Pressure" in found.stdout
    unknown = jarvis("docs", "--data-dir", data, "add", str(tmp_path / "x.odt"), "--user", "ann")
    assert unknown.returncode == 2 and "unknown format '.odt'" in unknown.stderr
    again = jarvis("docs", "--data-dir", data, "reindex")
    assert again.returncode == 0 and again.stdout.count("unchanged") == 4
    removed = jarvis("docs", "--data-dir", data, "remove", "--user", "ann", "1")
    assert removed.returncode == 0 and "Removed #1" in removed.stdout
    assert "Boiler manual" not in jarvis("docs", "--data-dir", data, "list", "--user", "ann").stdout
    assert stat.S_IMODE((tmp_path / "data" / DB_NAME).stat().st_mode) == 0o600


def test_read_only_data_dir_is_a_clear_error() -> None:
    """As an unprivileged user (root writes anywhere): a forked child drops to nobody first."""
    import json
    import pwd
    import shutil
    import tempfile

    import sqlean  # noqa: F401  imported here: nobody may not read the venv
    import sqlite_vec  # noqa: F401

    from jarvis.server.knowledge.errors import StorageError

    folder = Path(tempfile.mkdtemp(prefix="jarvis-docs-ro-"))
    folder.chmod(0o755)  # readable and traversable by nobody, writable only by its owner
    result = folder.parent / f"{folder.name}.json"
    try:
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                if os.geteuid() == 0:
                    nobody = pwd.getpwnam("nobody")
                    os.setgroups([])
                    os.setgid(nobody.pw_gid)
                    os.setuid(nobody.pw_uid)
                else:
                    folder.chmod(0o555)
                try:
                    DocumentStore(folder / DB_NAME)
                    out = {"error": None}
                except StorageError as err:
                    out = {"error": str(err)}
                os.umask(0)
                fd = os.open(result, os.O_WRONLY | os.O_CREAT, 0o666)
                os.write(fd, json.dumps(out).encode())
                os.close(fd)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert status == 0
        error = json.loads(result.read_text())["error"]
        assert error and "cannot write the document index" in error and "read-only" in error, error
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)
        result.unlink(missing_ok=True)


# -- watched folders --------------------------------------------------------------------------------


async def test_a_watched_folder_follows_its_files(store: DocumentStore, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    files = write_corpus(folder)
    (folder / ".hidden.md").write_text("# Hidden\n\nnot indexed")
    (folder / "notes.docx").write_bytes(b"PK")  # not a format: skipped, not an error
    assert isinstance(store.embedder, CountingEmbedder)
    watched = await store.watch("ann", folder, "household")
    first = await store.sync_folders()
    assert sorted(r.status for r in first) == ["added"] * len(files)
    assert {d.title for d in await store.list_documents("zoe")} >= {"Boiler manual", "Wifi notes"}
    # nothing changed: not a single file is even read again
    store.embedder.embedded.clear()
    assert {r.status for r in await store.sync_folders()} == {"unchanged"}
    assert store.embedder.embedded == []
    # an edit, a new file, a deleted file
    files["wifi"].write_text(files["wifi"].read_text().replace("tortue-verte-42", "lapin-bleu-7"))
    (folder / "sub").mkdir()
    (folder / "sub" / "bins.md").write_text("# Bins\n\nThe green bin goes out on Thursday.")
    files["alarm"].unlink()
    changed = {r.document.path.rsplit("/", 1)[-1]: r.status for r in await store.sync_folders()}
    assert changed["wifi.txt"] == "updated" and changed["bins.md"] == "added"
    assert changed["alarm.pdf"] == "removed"
    assert [v for k, v in changed.items() if k not in ("wifi.txt", "bins.md", "alarm.pdf")] == [
        "unchanged"
    ] * 4
    assert "lapin-bleu-7" in (await store.search("zoe", "guest wifi password"))[0].text
    assert "Alarm guide" not in {d.title for d in await store.list_documents("ann")}
    # only the owner stops watching; that removes the folder's documents
    assert await store.unwatch("bob", watched.id) is None
    assert await store.unwatch("ann", watched.id) == len(files)
    assert await store.list_documents("ann") == [] and await store.folders() == []


async def test_the_brain_picks_up_edits_by_itself(tmp_path: Path) -> None:
    from jarvis.server.brain.llm.none import NoLLM
    from jarvis.server.brain.tools.documents import document_hooks

    folder = tmp_path / "shared"
    files = write_corpus(folder)
    data = tmp_path / "data"
    store = await DocumentStore.open(data / DB_NAME)
    await store.watch("ann", folder, "household")
    await store.sync_folders()
    await store.close()
    hooks = await document_hooks(data, NoLLM(), watch_interval=0.2)
    try:
        files["boiler"].write_text(BOILER_MD.replace("by Martin.", "by Aquaheat Services."))
        async with asyncio.timeout(20):  # a few watch rounds at most
            texts = ""
            while "Aquaheat" not in texts:  # noqa: ASYNC110 - what the watcher did, bounded by the timeout
                await asyncio.sleep(0.1)
                texts = " ".join(h.text for h in await hooks.store.search("zoe", "annual service"))
    finally:
        await hooks.close()
    assert hooks.watcher is not None and hooks.watcher.done()
