"""FakeOllama — a TEST DOUBLE of Ollama's HTTP API on 127.0.0.1, replaying scripted responses.

Speaks the wire format of the real server (docs/api.md of ollama/ollama) so the real ``ollama``
Python client can be exercised end to end: ``POST /api/chat`` (NDJSON stream of
``{"model", "created_at", "message": {"role": "assistant", "content", "tool_calls"?}, "done": false}``
then a final ``"done": true`` record with ``done_reason`` and counters; a 404 ``{"error": ...}`` for
a missing model), ``GET /api/tags``, ``POST /api/show``, ``POST /api/pull`` (streamed progress:
``pulling manifest``, ``pulling <digest>`` with total/completed, ``verifying sha256 digest``,
``writing manifest``, ``success``) and ``GET /api/version``. Every request body is recorded.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on a free 127.0.0.1 port: its runner (to clean up) and its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def _norm(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


@dataclass
class FakeOllama:
    models: set[str] = field(default_factory=lambda: {"qwen2.5:3b"})
    chat_script: list[list[dict[str, Any]]] = field(default_factory=list)
    """One entry per /api/chat call: the ``message`` parts to stream."""
    chunk_delay: float = 0.0
    pull_total: int = 1_000_000
    capabilities: list[str] = field(default_factory=lambda: ["completion", "tools"])
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def add_chat(self, *parts: str | dict[str, Any]) -> None:
        """Plan one answer: strings are content chunks, dicts are extra message fields (tool_calls)."""
        self.chat_script.append([{"content": p} if isinstance(p, str) else p for p in parts])

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.requests if p == path]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/chat", self._chat)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/show", self._show)
        app.router.add_post("/api/pull", self._pull)
        app.router.add_get("/api/version", self._version)
        self._runner, self.url = await serve_on_loopback(app)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _body(self, request: web.Request) -> dict[str, Any]:
        body = await request.json() if request.can_read_body else {}
        self.requests.append((request.path, body))
        return body

    def _missing(self, model: str) -> web.Response:
        return web.json_response({"error": f'model "{model}" not found, try pulling it first'}, status=404)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        model = str(body.get("model", ""))
        if _norm(model) not in {_norm(m) for m in self.models}:
            return self._missing(model)
        if not self.chat_script:
            return web.json_response({"error": "FakeOllama: chat script exhausted"}, status=500)
        parts = self.chat_script.pop(0)
        records = [
            {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": "", **part},
                "done": False,
            }
            for part in parts
        ]
        final = {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 123456789,
            "load_duration": 1234567,
            "prompt_eval_count": 42,
            "prompt_eval_duration": 1234567,
            "eval_count": len(parts),
            "eval_duration": 1234567,
        }
        if body.get("stream") is False:
            content = "".join(r["message"]["content"] for r in records)
            calls = [c for r in records for c in r["message"].get("tool_calls", [])]
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if calls:
                message["tool_calls"] = calls
            return web.json_response({**final, "message": message})
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        for record in [*records, final]:
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await resp.write(json.dumps(record).encode() + b"\n")
        await resp.write_eof()
        return resp

    async def _tags(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, {}))
        models = [
            {
                "name": _norm(m),
                "model": _norm(m),
                "modified_at": "2025-05-01T10:00:00.000000000Z",
                "size": 1929912432,
                "digest": "357c53fb659c5076de1d65ccb0b397446227b71a42be9d1603d46168015c9e4b",
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "qwen2",
                    "families": ["qwen2"],
                    "parameter_size": "3.1B",
                    "quantization_level": "Q4_K_M",
                },
            }
            for m in sorted(self.models)
        ]
        return web.json_response({"models": models})

    async def _show(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        model = str(body.get("model") or body.get("name") or "")
        if _norm(model) not in {_norm(m) for m in self.models}:
            return self._missing(model)
        return web.json_response(
            {
                "modelfile": f"FROM {model}\n",
                "parameters": 'stop "<|im_end|>"',
                "template": "{{ .Prompt }}",
                "details": {"format": "gguf", "family": "qwen2", "parameter_size": "3.1B"},
                "model_info": {"general.architecture": "qwen2"},
                "capabilities": self.capabilities,
                "modified_at": "2025-05-01T10:00:00.000000000Z",
            }
        )

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        model = str(body.get("model") or body.get("name") or "")
        digest = "sha256:6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa"
        steps: list[dict[str, Any]] = [{"status": "pulling manifest"}]
        for done in range(0, self.pull_total + 1, self.pull_total // 4):
            steps.append(
                {
                    "status": f"pulling {digest[7:19]}",
                    "digest": digest,
                    "total": self.pull_total,
                    "completed": done,
                }
            )
        steps += [
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "success"},
        ]
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        for step in steps:
            await resp.write(json.dumps(step).encode() + b"\n")
        self.models.add(model)
        await resp.write_eof()
        return resp

    async def _version(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, {}))
        return web.json_response({"version": "0.12.6"})
