"""Keyed state stores: a plain dict for tests, a changelog-backed Faust table in the worker.

Faust writes a table change to the changelog partition of the *current event*, a
context variable that only the stream's own iteration sets. Agents that take
micro-batches (``take_events``) decide outside that iteration, so a write names
the input record that caused it (``origin``) and :func:`event_context` makes it
the current event for the write. The profile table then gets one changelog
record per user per batch instead of one per event (see docs/policies.md).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import faust
from faust.streams import _current_event

from agents.profiles.model import Profile, profile_from_json, profile_to_json

V = TypeVar("V")

PROFILE_CODEC = "sd-profile"
"""Faust codec name of :class:`~agents.profiles.model.Profile` values."""
PROFILES_TABLE = "profiles"
SPEND_TABLE = "budget-spend"


class KeyedStore(Protocol[V]):
    """State by string key; a write names the input record that caused it."""

    def get(self, key: str) -> V | None: ...

    def put(self, key: str, value: V, origin: Any) -> None: ...


@dataclass
class MemoryStore(Generic[V]):
    """A dict (functional tests, single-process tools): ``origin`` is ignored.

    Examples
    --------
    >>> s = MemoryStore()
    >>> s.put("u1", 3, origin=None)
    >>> s.get("u1"), s.get("u2")
    (3, None)
    """

    data: dict[str, V] = field(default_factory=dict)

    def get(self, key: str) -> V | None:
        return self.data.get(key)

    def put(self, key: str, value: V, origin: Any) -> None:
        self.data[key] = value


@contextmanager
def event_context(event: faust.types.EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event, so table writes go to its partition's changelog."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class TableStore(Generic[V]):
    """A Faust table keyed by UTF-8 strings; writes happen in the context of their origin event."""

    def __init__(self, table: faust.types.TableT) -> None:
        self.table = table

    def get(self, key: str) -> V | None:
        return self.table.get(key.encode())

    def put(self, key: str, value: V, origin: Any) -> None:
        if origin is None:
            raise ValueError(f"{self.table.name}: a table write needs the input event that caused it")
        with event_context(origin):
            self.table[key.encode()] = value


def register_profile_codec() -> None:
    """Register the Faust codec that turns profiles into JSON and back (idempotent)."""
    from faust.serializers import codecs

    class ProfileCodec(codecs.Codec):
        def _dumps(self, obj: Profile) -> bytes:
            return profile_to_json(obj)

        def _loads(self, s: bytes) -> Profile:
            return profile_from_json(s)

    codecs.register(PROFILE_CODEC, ProfileCodec())


def declare_tables(app: faust.App) -> tuple[TableStore[Profile], TableStore[float]]:
    """The profile table (key ``user_id``) and the budget spend table, co-partitioned with the input topics."""
    register_profile_codec()
    profiles = app.Table(
        PROFILES_TABLE,
        schema=faust.Schema(key_type=bytes, key_serializer="raw", value_serializer=PROFILE_CODEC),
        help="Omni-channel profile per user_id.",
    )
    spend = app.Table(
        SPEND_TABLE,
        schema=faust.Schema(key_type=bytes, key_serializer="raw", value_serializer="orjson"),
        help="Money spent per day, input partition and campaign (from win notices).",
    )
    return TableStore(profiles), TableStore(spend)
