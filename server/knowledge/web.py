"""The web API for documents, as the session's user only (the same access rule as everywhere).

``GET /api/documents``             the documents the user may read
``GET /api/documents/search?q=``   the best passages (``k``: 1-20, default 3)
``GET /api/documents/{id}``        one document's metadata, or 404 (also when it is someone else's)

The user is ``request[SESSION_KEY].user_id``, set by the web app's auth middleware from the
session cookie; nothing in the request names a user. The index is opened on first use and closed
with the app.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from .errors import DocumentError, EmbeddingError, StorageError
from .store import DB_NAME, Document, DocumentStore, stored_model

_LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass
class _Index:
    directory: Path | None
    """The data dir (None: Jarvis's default), resolved on first use."""
    store: DocumentStore | None = None
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    async def get(self) -> DocumentStore:
        async with self.lock:
            if self.store is None:
                from jarvis.protocol.paths import data_dir

                from .embed import make_embedder

                path = await asyncio.to_thread(lambda: data_dir(self.directory) / DB_NAME)
                embedder = make_embedder(await asyncio.to_thread(stored_model, path))
                self.store = await DocumentStore.open(path, embedder)
            return self.store


INDEX_KEY = web.AppKey("documents", _Index)


def _user(request: web.Request) -> str:
    from jarvis.server.web.auth import SESSION_KEY

    return request[SESSION_KEY].user_id


def _public(doc: Document, user: str) -> dict[str, Any]:
    return {
        "id": doc.id,
        "title": doc.title,
        "format": doc.format,
        "visibility": doc.visibility,
        "group": doc.group,
        "mine": doc.owner == user,
        "chunks": doc.chunks,
        "updated_at": doc.updated_at,
    }


def _unavailable(err: Exception) -> web.Response:
    return web.json_response({"error": "documents-unavailable", "message": str(err)}, status=503)


async def list_documents(request: web.Request) -> web.Response:
    user = _user(request)
    try:
        docs = await (await request.app[INDEX_KEY].get()).list_documents(user)
    except (StorageError, EmbeddingError) as err:
        return _unavailable(err)
    return web.json_response({"documents": [_public(d, user) for d in docs]})


async def get_document(request: web.Request) -> web.Response:
    user = _user(request)
    try:
        doc_id = int(request.match_info["doc_id"])
    except ValueError:
        return web.json_response({"error": "not-found", "message": "no such document"}, status=404)
    try:
        doc = await (await request.app[INDEX_KEY].get()).get_document(user, doc_id)
    except (StorageError, EmbeddingError) as err:
        return _unavailable(err)
    if doc is None:  # someone else's reads exactly like one that does not exist
        return web.json_response({"error": "not-found", "message": "no such document"}, status=404)
    return web.json_response(_public(doc, user))


async def search_documents(request: web.Request) -> web.Response:
    user = _user(request)
    query = request.query.get("q", "")
    try:
        limit = int(request.query.get("k", "3"))
    except ValueError:
        return web.json_response({"error": "bad-request", "message": "k must be an integer"}, status=400)
    try:
        hits = await (await request.app[INDEX_KEY].get()).search(user, query, limit=limit)
    except DocumentError as err:
        return web.json_response({"error": "bad-request", "message": str(err)}, status=400)
    except (StorageError, EmbeddingError) as err:
        return _unavailable(err)
    return web.json_response(
        {
            "query": query,
            "hits": [
                {
                    "document": h.doc_id,
                    "title": h.title,
                    "section": h.section,
                    "text": h.text,
                    "score": h.score,
                }
                for h in hits
            ],
        }
    )


async def _close(app: web.Application) -> None:
    index = app[INDEX_KEY]
    if index.store is not None:
        await index.store.close()


def add_routes(app: web.Application, directory: Path | None) -> None:
    """Mount the document routes on the web app (behind its auth middleware)."""
    app[INDEX_KEY] = _Index(directory)
    app.on_cleanup.append(_close)
    app.router.add_get("/api/documents", list_documents)
    app.router.add_get("/api/documents/search", search_documents)
    app.router.add_get("/api/documents/{doc_id}", get_document)
