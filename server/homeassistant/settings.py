"""How Jarvis reaches Home Assistant (optional)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_URL = "JARVIS_HA_URL"
ENV_TOKEN = "JARVIS_HA_TOKEN"


@dataclass(frozen=True)
class HASettings:
    """Connection to a Home Assistant instance. ``enabled`` only with both a URL and a token."""

    url: str | None = None
    """Base URL, e.g. ``http://homeassistant.local:8123`` (no trailing ``/api``)."""
    token: str | None = None
    """A long-lived access token (HA profile page -> Security -> Long-lived access tokens)."""
    verify_ssl: bool = True
    timeout_s: float = 10.0
    """Per-request timeout for REST and WebSocket calls, in seconds."""
    cache_s: float = 300.0
    """How long the area/device/entity registry is cached before it is fetched again, in seconds."""
    local_intents: bool = True
    """Answer "turn on/off X", "set X to N %" locally (no LLM)."""

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.token)

    def __repr__(self) -> str:  # never print the token
        token = "***" if self.token else None
        return (
            f"HASettings(url={self.url!r}, token={token!r}, verify_ssl={self.verify_ssl}, "
            f"timeout_s={self.timeout_s}, cache_s={self.cache_s}, local_intents={self.local_intents})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> HASettings:
        """``JARVIS_HA_URL`` / ``JARVIS_HA_TOKEN``; keyword overrides that are None are skipped."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {
            "url": environ.get(ENV_URL) or None,
            "token": environ.get(ENV_TOKEN) or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--ha-*`` flags, for ``jarvis brain`` and ``jarvis serve``."""
    group = parser.add_argument_group("Home Assistant (optional)")
    group.add_argument("--ha-url", help=f"Home Assistant base URL (or ${ENV_URL})")
    group.add_argument(
        "--ha-token-file",
        help=f"file holding a long-lived access token (default: ${ENV_TOKEN}; never on the command line)",
    )
    group.add_argument(
        "--ha-no-local-intents",
        action="store_true",
        help="send every Home Assistant command through the LLM (no local fast path)",
    )


def from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> HASettings:
    """Settings from the flags of :func:`add_arguments`, falling back to the environment."""
    token: str | None = None
    token_file = getattr(args, "ha_token_file", None)
    if token_file:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.read().strip() or None
    return HASettings.from_env(
        environ,
        url=getattr(args, "ha_url", None),
        token=token,
        local_intents=False if getattr(args, "ha_no_local_intents", False) else None,
    )
