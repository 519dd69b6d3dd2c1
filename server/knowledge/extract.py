"""Text out of Markdown, plain text, HTML and PDF files, as a title and a list of blocks.

A :class:`Block` is a heading (``level`` 1-6) or a paragraph (``level`` 0). HTML goes through the
standard library's :mod:`html.parser`; PDF through ``pypdf`` (pure Python, no system library, kept
up to date by the py-pdf organisation; one section per page since PDFs rarely carry headings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from .errors import DocumentError, UnsupportedFormat

#: Files bigger than this are refused (a manual is a few MB; a 200 MB PDF is a mistake).
MAX_FILE_BYTES = 20 * 1024 * 1024

FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}


@dataclass(frozen=True)
class Block:
    text: str
    level: int = 0
    """0: a paragraph; 1-6: a heading of that level."""


@dataclass
class Extracted:
    title: str
    format: str
    blocks: list[Block] = field(default_factory=list)


def format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise UnsupportedFormat(f"{path.name}: unknown format {path.suffix or '(no extension)'!r} ({known})")
    return fmt


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, or a :class:`DocumentError` that says why not."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise DocumentError(f"{path}: not a regular file")
        if size > max_bytes:
            raise DocumentError(f"{path}: {size} bytes, more than the {max_bytes} allowed")
        return path.read_bytes()
    except FileNotFoundError as err:
        raise DocumentError(f"{path}: no such file") from err
    except PermissionError as err:
        raise DocumentError(f"{path}: cannot be read (permission denied)") from err
    except IsADirectoryError as err:
        raise DocumentError(f"{path}: is a directory") from err
    except OSError as err:
        raise DocumentError(f"{path}: cannot be read ({err.strerror or err})") from err


def extract(path: Path, data: bytes) -> Extracted:
    """Title and blocks of ``data`` (the bytes of ``path``, whose extension gives the format)."""
    fmt = format_of(path)
    if fmt == "pdf":
        blocks, title = _pdf(path, data)
    else:
        text = _decode(path, data)
        if fmt == "markdown":
            blocks, title = _markdown(text)
        elif fmt == "html":
            blocks, title = _html(text)
        else:
            blocks, title = _plain(text)
    if not title and fmt != "pdf":  # a PDF's level-1 blocks are its pages
        first = next((b for b in blocks if b.level == 1), None)
        title = first.text if first else ""
    title = title or _title_from_name(path)
    return Extracted(title=_clean(title)[:200], format=fmt, blocks=blocks)


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise DocumentError(f"{path.name}: binary data, not text")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _title_from_name(path: Path) -> str:
    return re.sub(r"[_\-.]+", " ", path.stem).strip() or path.name


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _paragraphs(lines: list[str]) -> list[Block]:
    text = _clean(" ".join(lines))
    return [Block(text)] if text else []


_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST = re.compile(r"^\s*([-*+]|\d+[.)])\s+")


def _markdown(text: str) -> tuple[list[Block], str]:
    blocks: list[Block] = []
    para: list[str] = []
    title = ""
    fenced = False
    lines = text.splitlines()

    def flush() -> None:
        blocks.extend(_paragraphs(para))
        para.clear()

    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            if not fenced:
                flush()
            continue
        if fenced:
            para.append(line)
            continue
        heading = _ATX.match(line)
        if heading:
            flush()
            level, words = len(heading.group(1)), _clean(heading.group(2))
            if words:
                blocks.append(Block(words, level))
                title = title or (words if level == 1 else "")
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"\s*(=+|-+)\s*", nxt) and not _LIST.match(line):
            flush()  # setext heading: the underline follows
            level = 1 if nxt.strip().startswith("=") else 2
            blocks.append(Block(_clean(line), level))
            title = title or (_clean(line) if level == 1 else "")
            continue
        if re.fullmatch(r"\s*(=+|-+)\s*", line) and blocks and blocks[-1].level and not para:
            continue  # the underline itself
        if not line.strip():
            flush()
        elif _LIST.match(line):
            flush()  # each list item is its own paragraph (merged again by the chunker if short)
            para.append(_LIST.sub("", line, count=1))
        else:
            para.append(line)
    flush()
    return blocks, title


def _plain(text: str) -> tuple[list[Block], str]:
    """Paragraphs split on blank lines; a short line underlined with === or --- is a heading."""
    blocks, _ = _markdown_free(text)
    return blocks, ""


def _markdown_free(text: str) -> tuple[list[Block], str]:
    blocks: list[Block] = []
    para: list[str] = []
    lines = text.splitlines()
    skip = False
    for i, line in enumerate(lines):
        if skip:
            skip = False
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"\s*(={3,}|-{3,})\s*", nxt):
            blocks.extend(_paragraphs(para))
            para.clear()
            blocks.append(Block(_clean(line), 1 if nxt.strip()[0] == "=" else 2))
            skip = True
        elif not line.strip():
            blocks.extend(_paragraphs(para))
            para.clear()
        else:
            para.append(line)
    blocks.extend(_paragraphs(para))
    return blocks, ""


class _HTMLBlocks(HTMLParser):
    _BLOCK = {"p", "li", "td", "th", "pre", "blockquote", "dd", "dt", "div", "section", "article", "br", "tr"}
    _SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._text: list[str] = []
        self._heading = 0
        self._skip = 0
        self._in_title = False

    def _flush(self) -> None:
        text = _clean("".join(self._text))
        self._text.clear()
        if text:
            self.blocks.append(Block(text, self._heading))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = int(tag[1])
        elif tag in self._BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = 0
        elif tag in self._BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self._text.append(data)


def _html(text: str) -> tuple[list[Block], str]:
    parser = _HTMLBlocks()
    parser.feed(text)
    parser.close()
    parser._flush()
    return parser.blocks, _clean(parser.title)


def _pdf(path: Path, data: bytes) -> tuple[list[Block], str]:
    import io

    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError as err:  # pragma: no cover - pypdf is in the [server] extra
        raise DocumentError("reading PDF needs pypdf (pip install 'jarvis[server]')") from err
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError(f"{path.name}: the PDF is encrypted")
        meta_title = ""
        try:
            metadata = reader.metadata
            meta_title = str(metadata.get("/Title") or "") if metadata else ""
        except PyPdfError:
            pass
        blocks: list[Block] = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            paras = [b for b in _markdown_free(text)[0] if b.level == 0]
            if paras:
                blocks.append(Block(f"Page {number}", 1))
                blocks.extend(paras)
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError) as err:
        raise DocumentError(f"{path.name}: not a readable PDF ({err})") from err
    return blocks, meta_title
