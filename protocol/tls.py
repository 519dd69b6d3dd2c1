"""TLS on a Wyoming link, with the server's certificate pinned by its fingerprint.

The hub may serve its satellite port over TLS (``hub.tls = true``, docs/devices.md). Its certificate is
the self-signed one of the web page (``<data dir>/tls/cert.pem``): no certificate authority vouches for
it, so a satellite trusts exactly one certificate, the one whose SHA-256 fingerprint it was given when it
was paired (``jarvis devices pair`` prints it; ``--hub-fingerprint``). A ``tls://host:port`` link

- completes the TLS handshake without a CA check (there is none to make),
- compares the certificate the server presented with the pin in constant time,
- and closes the connection before a single Wyoming byte (the token) is written if they differ.

So a hostile ``_jarvis._tcp`` answer on mDNS, or anyone in the middle, gets neither the token nor the
audio. Wyoming itself has no transport security (rhasspy/wyoming issue #11); plain ``tcp://`` stays the
default, and what remains exposed without TLS is documented in docs/devices.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import ssl
from pathlib import Path

FINGERPRINT_PREFIX = "sha256:"
_HEX = re.compile(r"^[0-9a-f]{64}$")
HANDSHAKE_TIMEOUT_S = 10.0
"""A peer that has not finished the TLS handshake by then is dropped (a slowloris on the handshake)."""


class PinMismatch(ConnectionError):
    """The server's certificate is not the pinned one: the link is closed before anything is sent."""


def fingerprint_of_der(der: bytes) -> str:
    """``sha256:<64 hex digits>`` of a DER certificate."""
    return FINGERPRINT_PREFIX + hashlib.sha256(der).hexdigest()


def fingerprint_of_file(cert_path: Path) -> str:
    """The fingerprint of the first certificate in a PEM file."""
    return fingerprint_of_der(ssl.PEM_cert_to_DER_cert(cert_path.read_text(encoding="ascii")))


def normalize_fingerprint(text: str) -> str:
    """``sha256:ab12…`` from what a person may paste: with or without the prefix, colons, any case.

    Raises ValueError for anything that is not 32 bytes of hex."""
    value = text.strip().lower()
    value = value.removeprefix(FINGERPRINT_PREFIX).replace(":", "").replace(" ", "")
    if not _HEX.fullmatch(value):
        raise ValueError(
            f"not a SHA-256 certificate fingerprint: {text!r} (expected sha256: and 64 hex digits, "
            "as `jarvis devices pair` prints it)"
        )
    return FINGERPRINT_PREFIX + value


def client_context() -> ssl.SSLContext:
    """TLS 1.2+ with no CA or host name check: the pin (:func:`check_pin`) replaces both."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def check_pin(ssl_object: ssl.SSLObject | ssl.SSLSocket | None, pin: str) -> None:
    """Raise :class:`PinMismatch` unless the peer's certificate has fingerprint ``pin``."""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise PinMismatch("the server presented no certificate")
    got, wanted = fingerprint_of_der(der), normalize_fingerprint(pin)
    if not hmac.compare_digest(got.encode(), wanted.encode()):
        raise PinMismatch(
            f"the server's certificate {got} is not the pinned {wanted}; "
            "nothing was sent (re-pair the device if the hub's certificate really changed)"
        )
