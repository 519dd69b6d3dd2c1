"""Every Eventable that Jarvis defines round-trips through event()/from_event() and the real wire.

Like wyoming's tests/test_eventable.py: the classes are *found* (by walking the jarvis packages),
not listed, so a new message class is covered the moment it exists. A class whose fields this
test cannot fill automatically fails with a message asking for an entry in SAMPLES.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import importlib
import inspect
import logging
import pkgutil
import socket
import types
import typing
from typing import Any

import pytest
from wyoming.event import Event, Eventable

from jarvis.protocol.wire import read_event, write_event

_LOGGER = logging.getLogger(__name__)

PACKAGES = ("jarvis.protocol", "jarvis.server", "jarvis.satellite")
#: Modules that run a program when imported.
SKIP_MODULES = {"jarvis.protocol.__main__"}
#: Hand-made instances for classes whose fields cannot be filled automatically: name -> factory.
SAMPLES: dict[str, Any] = {}


def _jarvis_modules() -> list[str]:
    names: list[str] = []
    for package_name in PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ImportError as err:  # e.g. a satellite-only install has no server extras
            _LOGGER.info("skipping %s: %s", package_name, err)
            continue
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            if info.name not in SKIP_MODULES:
                names.append(info.name)
    return names


def _eventable_classes() -> list[type[Eventable]]:
    found: dict[str, type[Eventable]] = {}
    for name in _jarvis_modules():
        try:
            module = importlib.import_module(name)
        except ImportError as err:  # optional dependency missing: not this test's business
            _LOGGER.info("skipping %s: %s", name, err)
            continue
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Eventable)
                and obj is not Eventable
                and obj.__module__.startswith("jarvis.")
                and not inspect.isabstract(obj)
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[key] for key in sorted(found)]


CLASSES = _eventable_classes()


def _sample(tp: Any, depth: int = 0) -> Any:
    """A non-default value of type ``tp``."""
    if depth > 4:
        raise TypeError(f"type too deep: {tp!r}")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _sample(inner[0], depth + 1)
    if origin is typing.Literal:
        return args[0]
    if tp is Any:
        return "any"
    if tp is str:
        return "sample text"
    if tp is bool:
        return True
    if tp is int:
        return 7
    if tp is float:
        return 2.5
    if tp is bytes:
        return b"\x01\x02"
    if origin is list or tp is list:
        return [_sample(args[0] if args else str, depth + 1)]
    if origin is tuple or tp is tuple:
        return tuple(_sample(a, depth + 1) for a in args if a is not Ellipsis) if args else ("x",)
    if origin in (set, frozenset):
        return origin([_sample(args[0], depth + 1)])
    if origin is dict or tp is dict:
        key_t, value_t = args if args else (str, str)
        return {_sample(key_t, depth + 1): _sample(value_t, depth + 1)}
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        return list(tp)[-1]
    if dataclasses.is_dataclass(tp) and inspect.isclass(tp):
        return _instance(tp, depth + 1)
    raise TypeError(f"cannot make a sample of {tp!r}")


def _instance(cls: type, depth: int = 0) -> Any:
    key = f"{cls.__module__}.{cls.__qualname__}"
    if key in SAMPLES:
        return SAMPLES[key]()
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{key} is not a dataclass; add a factory to SAMPLES")
    hints = typing.get_type_hints(cls)
    kwargs = {
        field.name: _sample(hints[field.name], depth) for field in dataclasses.fields(cls) if field.init
    }
    return cls(**kwargs)


async def _over_the_wire(event: Event) -> Event:
    """Encode with the real writer into a real socket pair and decode with the real reader."""
    left, right = socket.socketpair()
    reader, reader_side_writer = await asyncio.open_connection(sock=left)
    _, writer = await asyncio.open_connection(sock=right)
    try:
        await write_event(event, writer)
        async with asyncio.timeout(5):
            decoded = await read_event(reader)
    finally:
        for stream in (writer, reader_side_writer):
            stream.close()
            await stream.wait_closed()
    assert decoded is not None
    return decoded


def test_some_classes_found() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"Auth", "AuthOk", "TurnMetrics", "Feedback"} <= names, names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
async def test_roundtrip(cls: type[Eventable]) -> None:
    try:
        original = _instance(cls)
    except TypeError as err:
        pytest.fail(f"cannot construct {cls.__qualname__} automatically ({err}); add it to SAMPLES")
    event = original.event()
    assert cls.is_type(event.type)
    assert cls.from_event(event) == original

    wired = await _over_the_wire(event)
    assert wired.type == event.type
    assert cls.from_event(wired) == original

    # Unknown fields (from a newer peer) are tolerated and ignored.
    extended = Event(
        type=event.type, data={**event.data, "x_unknown_field": {"nested": [1, 2]}}, payload=event.payload
    )
    assert cls.from_event(await _over_the_wire(extended)) == original


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_roundtrip_with_defaults(cls: type[Eventable]) -> None:
    """Only the required fields set: optional ones stay unset after the round trip."""
    if not dataclasses.is_dataclass(cls):
        pytest.skip("not a dataclass")
    hints = typing.get_type_hints(cls)
    required = {
        f.name: _sample(hints[f.name])
        for f in dataclasses.fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    original = cls(**required)
    assert cls.from_event(original.event()) == original
