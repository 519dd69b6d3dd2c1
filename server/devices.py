"""The device registry: one credential per paired satellite (or browser), bound to a user and an area.

``jarvis devices pair --id kitchen-pi --user alice --area kitchen`` makes a random credential
(32 bytes, URL-safe), prints it once and stores only its SHA-256 in ``<data dir>/devices.json``
(mode 0600). A satellite presents it as its ``--token``; the hub then takes the satellite's id, user,
area and name from here, not from what the satellite says (docs/devices.md).

The file is JSON, rewritten whole (written aside, fsynced, renamed into place) under an exclusive
``flock`` on ``devices.json.lock``, so the CLI and a running hub (which records ``last_seen``) never
lose each other's changes. Readers notice a change by the file's stat signature and reload it:
a revoked credential is refused on the next attempt, and the hub closes a revoked device's session
within its poll interval.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvis.protocol.paths import data_dir, make_private
from jarvis.protocol.peer_auth import UNVERIFIED_PREFIX, valid_user_id

_LOGGER = logging.getLogger(__name__)

DEVICES_FILENAME = "devices.json"
FORMAT_VERSION = 1
#: A device id is a satellite id: letters, digits and ``_ . : -``, like the web page's ids.
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
#: The longest ``area`` or ``name``.
MAX_LABEL_CHARS = 128
#: Random bytes in a credential (``secrets.token_urlsafe``: 43 characters).
CREDENTIAL_BYTES = 32
_HASH_PREFIX = "sha256:"


class DeviceError(Exception):
    """A bad id/user/area, an unknown or already paired device, or an unreadable registry file."""


@dataclass(frozen=True)
class Device:
    """One paired device. Times are Unix seconds."""

    device_id: str
    """Its satellite id: the hub's session and timer key."""
    user_id: str
    area: str | None
    name: str | None
    created: float
    credential_hash: str
    """``sha256:<hex>`` of the credential; the credential itself is never stored."""
    last_seen: float | None = None
    """When the hub last accepted its credential."""
    revoked: float | None = None
    """When it was revoked; a revoked device's credential is refused."""

    @property
    def active(self) -> bool:
        return self.revoked is None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["device_id"]
        return data

    @staticmethod
    def from_json(device_id: str, data: dict[str, Any]) -> Device:
        """A record read back; one that could not have been written (an edited file) is refused."""
        try:
            device = Device(
                device_id=device_id,
                user_id=str(data["user_id"]),
                area=data.get("area"),
                name=data.get("name"),
                created=float(data["created"]),
                credential_hash=str(data["credential_hash"]),
                last_seen=None if data.get("last_seen") is None else float(data["last_seen"]),
                revoked=None if data.get("revoked") is None else float(data["revoked"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DeviceError(f"device {device_id!r}: bad record: {err!r}") from err
        check_device_id(device_id)
        if not valid_user_id(device.user_id):
            raise DeviceError(f"device {device_id!r}: bad user id {device.user_id!r}")
        _check_label("area", device.area)
        _check_label("name", device.name)
        return device


def devices_path(directory: str | os.PathLike[str] | None = None) -> Path:
    return data_dir(directory) / DEVICES_FILENAME


def generate_credential() -> str:
    return secrets.token_urlsafe(CREDENTIAL_BYTES)


def hash_credential(credential: str) -> str:
    return _HASH_PREFIX + hashlib.sha256(credential.encode("utf-8")).hexdigest()


def check_device_id(device_id: str) -> None:
    if not DEVICE_ID_RE.match(device_id):
        raise DeviceError(f"device id {device_id!r}: 1-64 letters, digits, '_', '.', ':' or '-'")
    if device_id.startswith(UNVERIFIED_PREFIX):
        raise DeviceError(f"device id {device_id!r} must not start with {UNVERIFIED_PREFIX!r}")


def _check_label(key: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or len(value) > MAX_LABEL_CHARS or not value.isprintable():
        raise DeviceError(f"{key} must be 1-{MAX_LABEL_CHARS} printable characters")


class DeviceRegistry:
    """``devices.json``: read, cached until the file changes, and changed under a lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._devices: dict[str, Device] = {}
        self._signature: tuple[int, int, int] | None = None
        self._error: str | None = None

    @classmethod
    def in_data_dir(cls, directory: str | os.PathLike[str] | None = None) -> DeviceRegistry:
        return cls(devices_path(directory))

    # -- reading ---------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Reload the file if it changed since the last read; True if it did.

        A missing file is an empty registry. A file that cannot be read or parsed is logged once and
        counts as empty (no device credential is accepted: fail closed); the master token still works.
        """
        try:
            st = self.path.stat()
        except FileNotFoundError:
            changed = self._signature is not None or bool(self._devices)
            self._devices, self._signature, self._error = {}, None, None
            return changed
        except OSError as err:
            self._fail(f"cannot read {self.path}: {err}")
            return True
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if signature == self._signature:
            return False
        try:
            self._devices = self._load()
        except DeviceError as err:
            self._fail(str(err))
        else:
            self._error = None
        self._signature = signature
        return True

    def _fail(self, why: str) -> None:
        if why != self._error:
            _LOGGER.error("Device registry unusable (no device credential is accepted): %s", why)
        self._error = why
        self._devices = {}
        self._signature = None

    def _load(self) -> dict[str, Device]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise DeviceError(f"cannot read {self.path}: {err}") from err
        try:
            data = json.loads(text)
        except ValueError as err:
            raise DeviceError(f"{self.path} is not JSON: {err}") from err
        records = data.get("devices") if isinstance(data, dict) else None
        if not isinstance(records, dict):
            raise DeviceError(f"{self.path}: no 'devices' object")
        return {
            str(device_id): Device.from_json(str(device_id), record)
            for device_id, record in records.items()
            if isinstance(record, dict)
        }

    def devices(self) -> list[Device]:
        """Every device, revoked ones too, by id."""
        self.refresh()
        return sorted(self._devices.values(), key=lambda d: d.device_id)

    def get(self, device_id: str) -> Device | None:
        """The device with this id (revoked or not), from the cache; call :meth:`refresh` first."""
        return self._devices.get(device_id)

    def authenticate(self, credential: str | None) -> Device | None:
        """The device (revoked or not) whose credential this is, else None.

        Every stored hash is compared (``hmac.compare_digest``), so the time taken says nothing
        about which one matched. The caller checks :attr:`Device.active`.
        """
        if not credential:
            return None
        self.refresh()
        given = hash_credential(credential).encode("ascii")
        found: Device | None = None
        for device in self._devices.values():
            if hmac.compare_digest(device.credential_hash.encode("ascii", "replace"), given):
                found = device
        return found

    # -- changing --------------------------------------------------------------------------------

    def pair(
        self,
        device_id: str,
        user_id: str,
        area: str | None = None,
        name: str | None = None,
        *,
        replace: bool = False,
    ) -> tuple[Device, str]:
        """Pair a device: returns ``(device, credential)``; the credential is not kept anywhere.

        An id that is already paired (and not revoked) is refused unless ``replace``: then it gets a
        new credential and the old one stops working.
        """
        check_device_id(device_id)
        if not isinstance(user_id, str) or not valid_user_id(user_id):
            raise DeviceError(f"user id {user_id!r}: 1-64 letters, digits, '_', '.' or '-'")
        _check_label("area", area)
        _check_label("name", name)
        credential = generate_credential()
        with self._changing() as records:
            old = records.get(device_id)
            if old is not None and old.active and not replace:
                raise DeviceError(
                    f"device {device_id!r} is already paired (user {old.user_id}); "
                    "revoke it first or pair again with --replace"
                )
            device = Device(
                device_id=device_id,
                user_id=user_id,
                area=area,
                name=name,
                created=time.time(),
                credential_hash=hash_credential(credential),
            )
            records[device_id] = device
        return device, credential

    def revoke(self, device_id: str) -> Device:
        """Revoke a device: its credential is refused from now on (the record stays, for ``list``)."""
        with self._changing() as records:
            device = records.get(device_id)
            if device is None:
                raise DeviceError(f"no device {device_id!r}")
            if device.active:
                device = dataclasses.replace(device, revoked=time.time())
                records[device_id] = device
        return device

    def touch(self, device_id: str, when: float | None = None) -> None:
        """Record that the device was just seen (the hub, on each accepted credential)."""
        # No cache refresh here: the hub calls this from a worker thread; its poll reloads.
        with self._changing(reload=False) as records:
            device = records.get(device_id)
            if device is not None:
                records[device_id] = dataclasses.replace(device, last_seen=when or time.time())

    @contextlib.contextmanager
    def _changing(self, *, reload: bool = True) -> Iterator[dict[str, Device]]:
        """Read the file under the lock, let the caller change the records, write them back whole."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            make_private(lock_path)
            fcntl.flock(fd, fcntl.LOCK_EX)
            records = self._load()
            yield records
            self._write(records)
        finally:
            os.close(fd)  # releases the lock
        if reload:
            self.refresh()

    def _write(self, records: dict[str, Device]) -> None:
        payload = {
            "version": FORMAT_VERSION,
            "devices": {device_id: records[device_id].to_json() for device_id in sorted(records)},
        }
        aside = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(aside, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(aside)
            raise
        with contextlib.suppress(OSError):  # the rename itself survives a power cut
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        make_private(self.path)
