"""HTTPS for the web app: browsers allow the microphone only in a secure context.

On first run a self-signed certificate is generated into ``<data_dir>/tls/`` with subject
alternative names for localhost, 127.0.0.1, the hostname and the LAN address, so a phone on the same
network can open ``https://<lan-ip>:8443`` (after accepting the warning once). A user-supplied
``--cert/--key`` pair is used as is.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
from pathlib import Path

from jarvis.protocol.discovery import lan_ipv4
from jarvis.protocol.tls import FINGERPRINT_PREFIX, fingerprint_of_file

_LOGGER = logging.getLogger(__name__)

CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
#: Regenerate a self-signed certificate this many days before it expires.
RENEW_DAYS = 30
#: Lifetime of a generated certificate (browsers do not limit self-signed ones they were told to trust).
VALID_DAYS = 825


def _alt_names(extra_hosts: list[str]) -> tuple[list[str], list[str]]:
    dns = ["localhost"]
    ips = ["127.0.0.1", "::1"]
    hostname = socket.gethostname()
    candidates = [hostname, f"{hostname}.local", *(extra_hosts or [])]
    lan = lan_ipv4()
    if lan:
        candidates.append(lan)
    for name in candidates:
        if not name:
            continue
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if name not in dns:
                dns.append(name)
        else:
            if name not in ips:
                ips.append(name)
    return dns, ips


def _still_valid(cert_path: Path) -> bool:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    remaining = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    return remaining > dt.timedelta(days=RENEW_DAYS)


def generate_self_signed(cert_path: Path, key_path: Path, extra_hosts: list[str] | None = None) -> None:
    """Write a new EC P-256 key and a self-signed certificate covering this host's names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    dns, ips = _alt_names(list(extra_hosts or []))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Jarvis on {socket.gethostname()}")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key is written 0600 from the start, never world-readable for a moment.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _LOGGER.info("Generated a self-signed certificate for %s in %s", ", ".join(dns + ips), cert_path)


def ensure_certificate(tls_dir: Path, extra_hosts: list[str] | None = None) -> tuple[Path, Path]:
    """The self-signed certificate and key in ``tls_dir``, generated if missing or expiring."""
    cert_path, key_path = tls_dir / CERT_NAME, tls_dir / KEY_NAME
    if not (cert_path.is_file() and key_path.is_file() and _still_valid(cert_path)):
        generate_self_signed(cert_path, key_path, extra_hosts)
    return cert_path, key_path


def server_ssl_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2+); raises ValueError with a clear message for unusable files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert_path), str(key_path))
    except (OSError, ssl.SSLError) as err:
        raise ValueError(f"cannot load certificate {cert_path} / key {key_path}: {err}") from err
    return context


def certificate_fingerprint(cert_path: Path) -> str:
    """SHA-256 fingerprint (AA:BB:…) so a user can check the certificate their phone is shown: the
    pin satellites use (:func:`jarvis.protocol.tls.fingerprint_of_file`), the way browsers show it."""
    digest = fingerprint_of_file(cert_path).removeprefix(FINGERPRINT_PREFIX).upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
