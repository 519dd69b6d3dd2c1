"""``jarvis docs add|list|search|remove|reindex|group``: the household's documents from the command line.

    jarvis docs add manual.pdf --user ann --household      # everyone in the household may read it
    jarvis docs add diary.md --user bob                    # private (the default)
    jarvis docs add timetable.html --user ann --group kids # members of the group 'kids'
    jarvis docs group kids --add zoe --add leo             # who is in a group
    jarvis docs list --user zoe                            # what zoe may read
    jarvis docs search --user zoe "when is the swimming lesson"
    jarvis docs remove --user ann 3                        # only the owner may remove
    jarvis docs add ~/Manuals --user ann --household       # a watched folder: its files follow it
    jarvis docs folders; jarvis docs unwatch --user ann 1  # the watched folders
    jarvis docs reindex [--user ann]                       # re-read files; only changed ones re-index
    jarvis docs --embedder ollama:bge-m3 reindex           # another embedding model: re-embeds everything

The index is ``<data dir>/documents.sqlite3`` (0600), beside ``memory.sqlite3``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from jarvis.protocol.paths import data_dir

from .embed import make_embedder
from .errors import DocumentError, EmbeddingError, StorageError
from .store import DB_NAME, DocumentStore, IndexResult, stored_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="where documents.sqlite3 lives (default: Jarvis data dir)"
    )
    parser.add_argument(
        "--embedder",
        help="embedding model: 'wordllama' (default, offline) or 'ollama:MODEL' (e.g. ollama:bge-m3); "
        "a change re-embeds every chunk (default: the index's current model)",
    )
    parser.add_argument("--ollama-host", help="Ollama server for --embedder ollama:MODEL")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="index files (again after an edit: only changed ones), or watch folders")
    add.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="Markdown, text, HTML or PDF files; a folder is watched (its files follow it)",
    )
    add.add_argument("--user", required=True, help="the owner")
    add.add_argument("--title", help="the document's title (default: its first heading or file name)")
    who = add.add_mutually_exclusive_group()
    who.add_argument("--private", action="store_true", help="only the owner may read it (default)")
    who.add_argument("--group", metavar="G", help="the owner and members of group G may read it")
    who.add_argument("--household", action="store_true", help="everyone in the household may read it")
    lst = sub.add_parser("list", help="the documents a user may read")
    lst.add_argument("--user", required=True)
    search = sub.add_parser("search", help="search what a user may read")
    search.add_argument("--user", required=True)
    search.add_argument("query")
    search.add_argument("-k", "--limit", type=int, default=3, help="passages to show (default 3)")
    search.add_argument("--mode", choices=("hybrid", "bm25", "vector"), default="hybrid")
    remove = sub.add_parser("remove", help="remove documents (their owner only)")
    remove.add_argument("--user", required=True)
    remove.add_argument("ids", nargs="+", type=int, metavar="ID")
    folders = sub.add_parser("folders", help="the watched folders")
    folders.add_argument("--user", help="one owner's (default: everyone's)")
    unwatch = sub.add_parser("unwatch", help="stop watching a folder and remove its documents")
    unwatch.add_argument("--user", required=True)
    unwatch.add_argument("ids", nargs="+", type=int, metavar="ID")
    reindex = sub.add_parser("reindex", help="re-read the files and folders; only changed files re-index")
    reindex.add_argument("--user", help="only this owner's documents (default: everyone's)")
    group = sub.add_parser("group", help="show or change a group's members (no name: all groups)")
    group.add_argument("name", nargs="?")
    group.add_argument("--add", action="append", default=[], metavar="USER")
    group.add_argument("--remove", action="append", default=[], metavar="USER")


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\rre-embedding [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr)
    if done >= total:
        print(file=sys.stderr)


def _line(result: IndexResult) -> str:
    doc = result.document
    return f"{result.status:9} #{doc.id} {doc.title!r} ({doc.shared_with}, {doc.chunks} chunks) {doc.path}"


async def _open(args: argparse.Namespace) -> DocumentStore:
    path = data_dir(args.data_dir) / DB_NAME
    spec = args.embedder or await asyncio.to_thread(stored_model, path)  # keep the index's model
    embedder = make_embedder(spec, args.ollama_host)
    return await DocumentStore.open(path, embedder, _progress)


async def run(args: argparse.Namespace) -> int:
    try:
        store = await _open(args)
    except (StorageError, EmbeddingError, DocumentError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        return await _ACTIONS[args.action](store, args)
    except (DocumentError, StorageError, EmbeddingError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        await store.close()


async def _add(store: DocumentStore, args: argparse.Namespace) -> int:
    visibility = "group" if args.group else "household" if args.household else "private"
    status = 0
    for path in args.paths:
        try:
            if await asyncio.to_thread(path.is_dir):
                folder = await store.watch(args.user, path, visibility, args.group)
                print(f"watching  folder #{folder.id} ({folder.shared_with}) {folder.path}")
                await store.sync_folders(args.user, lambda r: print(_line(r)))
                continue
            print(_line(await store.add(args.user, path, visibility, args.group, args.title)))
        except DocumentError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 2
    return status


async def _list(store: DocumentStore, args: argparse.Namespace) -> int:
    docs = await store.list_documents(args.user)
    if not docs:
        print(f"No documents {args.user} may read.")
    for doc in docs:
        owner = "" if doc.owner == args.user else f", owner {doc.owner}"
        where = f"{doc.shared_with}{owner}, {doc.chunks} chunks, {doc.format}"
        print(f"#{doc.id} {doc.title!r} ({where}) {doc.path}")
    return 0


async def _search(store: DocumentStore, args: argparse.Namespace) -> int:
    hits = await store.search(args.user, args.query, args.limit, args.mode)
    if not hits:
        print("Nothing found.")
        return 1
    for i, hit in enumerate(hits, start=1):
        print(f"[{i}] {hit.source} (doc #{hit.doc_id}, score {hit.score:.4f})\n    {hit.text}")
    return 0


async def _remove(store: DocumentStore, args: argparse.Namespace) -> int:
    status = 0
    for doc_id in args.ids:
        if await store.remove(args.user, doc_id):
            print(f"Removed #{doc_id}")
        else:
            print(f"error: {args.user} owns no document #{doc_id}", file=sys.stderr)
            status = 1
    return status


async def _folders(store: DocumentStore, args: argparse.Namespace) -> int:
    folders = await store.folders(args.user)
    print("\n".join(f"#{f.id} {f.path} ({f.shared_with}, owner {f.owner})" for f in folders) or "No folders.")
    return 0


async def _unwatch(store: DocumentStore, args: argparse.Namespace) -> int:
    status = 0
    for folder_id in args.ids:
        removed = await store.unwatch(args.user, folder_id)
        if removed is None:
            print(f"error: {args.user} watches no folder #{folder_id}", file=sys.stderr)
            status = 1
        else:
            print(f"No longer watching #{folder_id}; removed {removed} document(s)")
    return status


async def _reindex(store: DocumentStore, args: argparse.Namespace) -> int:
    results = await store.reindex(args.user, lambda r: print(_line(r)))
    results += await store.sync_folders(args.user, lambda r: print(_line(r)))
    if not results:
        print("No documents.")
    return 1 if any(r.status in ("missing", "error") for r in results) else 0


async def _group(store: DocumentStore, args: argparse.Namespace) -> int:
    if args.name is None:
        groups = await store.groups()
        print("\n".join(f"{g}: {', '.join(m)}" for g, m in groups.items()) or "No groups.")
        return 0
    members = await store.set_members(args.name, args.add, args.remove)
    print(f"{args.name}: {', '.join(members) or '(no members)'}")
    return 0


_ACTIONS = {
    "add": _add,
    "list": _list,
    "search": _search,
    "remove": _remove,
    "reindex": _reindex,
    "folders": _folders,
    "unwatch": _unwatch,
    "group": _group,
}
