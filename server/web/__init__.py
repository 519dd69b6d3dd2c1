"""The web app: an HTTPS page that turns a phone or laptop browser into a Jarvis satellite.

- :mod:`.tls`: the self-signed certificate generated on first run (or the user's own).
- :mod:`.auth`: token login, session cookies, the auth middleware.
- :mod:`.bridge`: one hub connection per browser WebSocket, relaying events both ways.
- :mod:`.store`: the logged-in user's memory and feedback (the brain's memory store when present).
- :mod:`.app`: the aiohttp application (REST + WebSocket under ``/api/``, static page).
- :mod:`.__main__`: ``jarvis web`` and :func:`start_web` for ``jarvis serve``.
"""
