"""Running servers under test as subprocesses: start, wait until `describe` answers, measure peak RSS;
and the fresh data dir a benchmark's servers use (never the user's own)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from wyoming.info import Describe

from jarvis.protocol.service import Connection

_LOGGER = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mib(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, in MiB; NaN if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def wait_for_describe(uri: str, timeout: float = 120.0) -> None:
    """Poll until the Wyoming server at ``uri`` answers ``describe`` with ``info``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            async with await Connection.open(uri, timeout=2) as conn:
                await conn.write_event(Describe().event())
                while (event := await conn.read_event(timeout=5)) is not None:
                    if event.type == "info":
                        return
        except (OSError, TimeoutError) as err:
            last = err
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{uri} did not answer describe within {timeout} s: {last}")


@dataclass
class ServerProcess:
    name: str
    uri: str
    process: asyncio.subprocess.Process

    @property
    def peak_rss_mib(self) -> float:
        return peak_rss_mib(self.process.pid)


@contextlib.asynccontextmanager
async def run_server(
    name: str, argv: Sequence[str], uri: str, log_path: Path | None = None, timeout: float = 180.0
) -> AsyncIterator[ServerProcess]:
    """Start ``argv`` as a subprocess, wait until it answers describe at ``uri``, stop it afterwards."""
    log = open(log_path or os.devnull, "wb")  # noqa: ASYNC230 (opening a log file is instant)
    process = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log)
    try:
        await wait_for_describe(uri, timeout)
        yield ServerProcess(name, uri, process)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


def jarvis_argv(*args: str) -> list[str]:
    """argv that runs this installation's `jarvis` command."""
    return [sys.executable, "-m", "jarvis.protocol", *args]


@contextlib.contextmanager
def fresh_data_dir(path: Path | None = None, prefix: str = "jarvis-bench-") -> Iterator[Path]:
    """A fresh data dir (or ``path``) as ``$JARVIS_DATA_DIR`` while the benchmark runs, so its memory,
    timers and secrets never land in the user's own data dir (a restored bench timer would ring on a
    satellite that never comes back)."""
    old = os.environ.get("JARVIS_DATA_DIR")
    with contextlib.ExitStack() as stack:
        directory = path or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        os.environ["JARVIS_DATA_DIR"] = str(directory)
        try:
            yield directory
        finally:
            if old is None:
                os.environ.pop("JARVIS_DATA_DIR", None)
            else:
                os.environ["JARVIS_DATA_DIR"] = old
