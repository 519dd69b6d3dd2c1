"""Tools the agent can call. Each is a :class:`jarvis.server.brain.tools.base.Tool`."""
