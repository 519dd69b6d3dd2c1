"""Home Assistant as Jarvis's hands: REST/WebSocket client, registry cache and entity resolution.

Optional: nothing here runs unless a Home Assistant URL and a long-lived access token are configured
(``--ha-url``, ``JARVIS_HA_URL`` / ``JARVIS_HA_TOKEN``). See docs/home-assistant.md.
"""

from .client import HomeAssistantClient, HomeAssistantError
from .registry import HAArea, HAEntity, HARegistry
from .settings import HASettings

__all__ = [
    "HAArea",
    "HAEntity",
    "HARegistry",
    "HASettings",
    "HomeAssistantClient",
    "HomeAssistantError",
]
