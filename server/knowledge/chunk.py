"""Blocks into chunks: by headings, then paragraphs; every chunk keeps its title and section path.

A chunk is the paragraphs of one section, merged up to ``target`` characters; a paragraph longer
than ``limit`` is cut between sentences (or words). The text that is indexed and embedded starts
with the section path, so "what does it say about the pressure" finds the section *Pressure*
even when its paragraphs never repeat the word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import DocumentError
from .extract import Block

TARGET_CHARS = 700
LIMIT_CHARS = 1200
#: A document that makes more chunks than this is refused (about 1 MB of text).
MAX_CHUNKS = 2000

SECTION_SEP = " > "


@dataclass(frozen=True)
class Chunk:
    title: str
    section: str
    """The heading path below the title, ``Installation > Pressure`` ('' before the first heading)."""
    text: str

    @property
    def indexed_text(self) -> str:
        """What the embedding sees: where the passage is, then the passage."""
        where = SECTION_SEP.join(p for p in (self.title, self.section) if p)
        return f"{where}: {self.text}" if where else self.text


_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")


def _split_long(text: str, limit: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE.split(text):
        while len(sentence) > limit:  # one enormous "sentence": cut between words
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            head, sentence = sentence[:cut].strip(), sentence[cut:].strip()
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return [p for p in pieces if p]


def chunk_blocks(
    title: str,
    blocks: list[Block],
    target: int = TARGET_CHARS,
    limit: int = LIMIT_CHARS,
    max_chunks: int = MAX_CHUNKS,
) -> list[Chunk]:
    """Chunks of one document. Raises :class:`DocumentError` past ``max_chunks``."""
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []  # (level, heading) below the title
    buffer: list[str] = []

    def section() -> str:
        return SECTION_SEP.join(h for _, h in path)

    def flush() -> None:
        if buffer:
            chunks.append(Chunk(title, section(), " ".join(buffer)))
            buffer.clear()
            if len(chunks) > max_chunks:
                raise DocumentError(f"more than {max_chunks} chunks: split the document")

    for block in blocks:
        if block.level:
            flush()
            while path and path[-1][0] >= block.level:
                path.pop()
            if not (block.level == 1 and block.text == title and not path):
                path.append((block.level, block.text))
            continue
        for piece in _split_long(block.text, limit):
            if buffer and sum(len(b) + 1 for b in buffer) + len(piece) > target:
                flush()
            buffer.append(piece)
    flush()
    return chunks
