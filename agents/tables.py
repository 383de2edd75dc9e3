"""Keyed state stores: a plain dict for tests, a changelog-backed Faust table in the worker.

Two shapes: :class:`KeyedStore` (one value per key: profiles, spend) and
:class:`WindowedStore` (one value per key and tumbling bucket: the velocity
counters, a Faust windowed table in the worker).

Faust writes a table change to the changelog partition of the *current event*, a
context variable that only the stream's own iteration sets. Agents that take
micro-batches (``take_events``) decide outside that iteration, so a write names
the input record that caused it (``origin``) and :func:`event_context` makes it
the current event for the write. The profile table then gets one changelog
record per user per batch instead of one per event (see docs/policies.md).

The profile and spend tables (:class:`TableStore`) skip Faust's per-write machinery
(a ``FutureMessage``, the producer buffer's task, the channel's serializer layers):
a write sets the table's local store and holds a changelog record with the bytes
Faust would have written, to the same partition; the ingest agent hands a batch's
records to the producer before the batch is acknowledged (:class:`ChangelogRecords`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import faust
from faust.serializers import codecs
from faust.streams import _current_event

from agents.profiles.buckets import VelocityBucket, bucket_from_json, bucket_to_json
from agents.profiles.model import Profile, profile_from_json, profile_to_json
from streams.settings import ProfilePolicy

V = TypeVar("V")

PROFILE_CODEC = "sd-profile"
"""Faust codec name of :class:`~agents.profiles.model.Profile` values."""
BUCKET_CODEC = "sd-velocity-bucket"
"""Faust codec name of :class:`~agents.profiles.buckets.VelocityBucket` values."""
PROFILES_TABLE = "profiles"
SPEND_TABLE = "budget-spend"
VELOCITY_TABLE = "velocity-{bucket_s}s"
"""Name of the windowed velocity table: another bucket width is another table (buckets would not align)."""
MS_PER_S = 1000


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


class WindowedStore(Protocol[V]):
    """State by string key and bucket start (epoch ms); a write names the input record that caused it."""

    def get(self, key: str, start_ms: int) -> V | None: ...

    def put(self, key: str, start_ms: int, value: V, origin: Any) -> None: ...


@dataclass
class MemoryWindowedStore(Generic[V]):
    """A dict by ``(key, bucket start)`` (functional tests): ``origin`` is ignored, nothing expires.

    Examples
    --------
    >>> s = MemoryWindowedStore()
    >>> s.put("u1", 300_000, 3, origin=None)
    >>> s.get("u1", 300_000), s.get("u1", 0)
    (3, None)
    """

    data: dict[tuple[str, int], V] = field(default_factory=dict)

    def get(self, key: str, start_ms: int) -> V | None:
        return self.data.get((key, start_ms))

    def put(self, key: str, start_ms: int, value: V, origin: Any) -> None:
        self.data[(key, start_ms)] = value


class _EventContext:
    """Faust's current event is ``event`` inside the ``with`` block (a class: cheaper than a generator, per write)."""

    __slots__ = ("event", "token")

    def __init__(self, event: faust.types.EventT) -> None:
        self.event = event

    def __enter__(self) -> None:
        self.token = _current_event.set(weakref.ref(self.event))

    def __exit__(self, *exc_info: object) -> None:
        _current_event.reset(self.token)


def event_context(event: faust.types.EventT) -> AbstractContextManager[None]:
    """Make ``event`` Faust's current event, so table writes go to its partition's changelog."""
    return _EventContext(event)


class ChangelogRecord(NamedTuple):
    """One table write as its changelog record: topic, partition (the origin event's), key and value bytes."""

    topic: str
    partition: int
    key: bytes
    value: bytes


@dataclass
class ChangelogRecords:
    """Changelog records of table writes not yet handed to the producer (one hand-over per micro-batch)."""

    held: list[ChangelogRecord] = field(default_factory=list)

    def hold(self, record: ChangelogRecord) -> None:
        self.held.append(record)

    def drain(self) -> list[ChangelogRecord]:
        """The held records, oldest first; none are held afterwards."""
        held, self.held = self.held, []
        return held


class TableStore(Generic[V]):
    """A Faust table keyed by UTF-8 strings, raw keys, in memory: writes hold their changelog records in ``changelog``.

    Reads and writes go to the table's local store (Faust's in-memory store: one dict for
    every partition). The changelog record of a write goes to the partition of its origin
    event, as Faust's would (the tables are co-partitioned with the input topics), with the
    value encoded by the table's own codec, so recovery reads it back as before.
    """

    def __init__(self, table: faust.types.TableT, changelog: ChangelogRecords) -> None:
        if table.key_serializer != "raw":
            raise ValueError(f"{table.name}: TableStore writes raw keys, the table's are {table.key_serializer!r}")
        self.table = table
        self.changelog = changelog
        self._dumps = codecs.get_codec(table.value_serializer).dumps
        self._topic: str | None = None

    def get(self, key: str) -> V | None:
        return self.table.data.get(key.encode())

    def put(self, key: str, value: V, origin: Any) -> None:
        if origin is None:
            raise ValueError(f"{self.table.name}: a table write needs the input event that caused it")
        raw = key.encode()
        self.table.data[raw] = value
        if self._topic is None:
            self._topic = self.table.changelog_topic.get_topic_name()
        self.changelog.hold(ChangelogRecord(self._topic, origin.message.partition, raw, self._dumps(value)))


class WindowedTableStore(Generic[V]):
    """A tumbling-window Faust table: key ``(UTF-8 string, (start_s, end_s))`` as Faust's windowed tables use.

    A bucket is named by its start in epoch ms; Faust's own window computes the
    range, so keys match what ``WindowWrapper`` would write for that time. Writes
    happen in the context of their origin event (changelog partition, expiry).
    """

    def __init__(self, wrapper: faust.types.tables.WindowWrapperT) -> None:
        self.wrapper = wrapper
        self.table = wrapper.table
        self.window = self.table.window

    def window_range(self, start_ms: int) -> tuple[float, float]:
        """Faust's range of the bucket starting at ``start_ms``."""
        return self.window.current(start_ms / MS_PER_S)

    def get(self, key: str, start_ms: int) -> V | None:
        return self.table.get((key, self.window_range(start_ms)))

    def put(self, key: str, start_ms: int, value: V, origin: Any) -> None:
        if origin is None:
            raise ValueError(f"{self.table.name}: a table write needs the input event that caused it")
        with event_context(origin):
            self.wrapper[key][self.window_range(start_ms)] = value


def register_json_codec(name: str, dumps: Callable[[Any], bytes], loads: Callable[[bytes], Any]) -> None:
    """Register a Faust codec ``name`` that turns table values into JSON and back (idempotent)."""

    class JsonCodec(codecs.Codec):
        def _dumps(self, obj: Any) -> bytes:
            return dumps(obj)

        def _loads(self, s: bytes) -> Any:
            return loads(s)

    codecs.register(name, JsonCodec())


def register_profile_codec() -> None:
    """Register the Faust codec of :class:`~agents.profiles.model.Profile` values."""
    register_json_codec(PROFILE_CODEC, profile_to_json, profile_from_json)


def register_bucket_codec() -> None:
    """Register the Faust codec of :class:`~agents.profiles.buckets.VelocityBucket` values."""
    register_json_codec(BUCKET_CODEC, bucket_to_json, bucket_from_json)


def with_serializers(table: faust.types.TableT, key_serializer: str, value_serializer: str) -> faust.types.TableT:
    """Make the table's changelog topic and store use these serializers (call before the app starts).

    Faust derives a table's serializers from ``key_type``/``value_type`` only (JSON by
    default) and overwrites the given schema's with them when it builds the changelog
    topic. Writes then passed raw keys through, but recovery after a restart parsed
    every key as JSON and failed on each record (``Error in recovery``): a restarted
    worker never finished recovery and never decided again.
    """
    table.key_serializer = key_serializer
    table.value_serializer = value_serializer
    table.schema.update(key_serializer=key_serializer, value_serializer=value_serializer)
    # Rebuilt with these on next access, as Faust's own ``Table.using_window`` does.
    table.changelog_topic = None  # type: ignore[assignment]
    return table


def declare_tables(app: faust.App, changelog: ChangelogRecords) -> tuple[TableStore[Profile], TableStore[float]]:
    """The profile table (key ``user_id``) and the budget spend table, co-partitioned with the input topics.

    Their writes hold changelog records in ``changelog`` for the caller to send.
    """
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
    return (
        TableStore(with_serializers(profiles, "raw", PROFILE_CODEC), changelog),
        TableStore(with_serializers(spend, "raw", "orjson"), changelog),
    )


def declare_velocity_table(app: faust.App, policy: ProfilePolicy) -> WindowedTableStore[VelocityBucket]:
    """The windowed velocity table: tumbling ``velocity_bucket_s`` buckets per ``user_id``.

    Buckets expire ``velocity_expires_s`` after their end (Faust checks against the wall clock).

    Co-partitioned with the input topics like the profile table (the changelog
    has ``topic_partitions`` partitions, retention ``velocity_expires_s``). Keys
    are JSON (``["user", [start_s, end_s]]``), as Faust's windowed keys must be.
    """
    register_bucket_codec()
    table = app.Table(
        VELOCITY_TABLE.format(bucket_s=policy.velocity_bucket_s),
        schema=faust.Schema(key_serializer="json", value_serializer=BUCKET_CODEC),
        help="Orders, amount and distinct cards / countries / IPs per user_id and tumbling bucket.",
    )
    with_serializers(table, "json", BUCKET_CODEC)
    return WindowedTableStore(table.tumbling(policy.velocity_bucket_s, expires=policy.velocity_expires_s))
