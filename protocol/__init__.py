"""jarvis.protocol: what satellite and server share.

Wyoming wire helpers with hard limits, the service base every Jarvis Wyoming server uses, audio
helpers, zeroconf discovery, the auth handshake, configuration, and the `jarvis` command dispatcher.
"""

__version__ = "0.1.0"
