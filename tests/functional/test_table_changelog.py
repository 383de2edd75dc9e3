"""Table changelogs decode with the serializers they were written with (table recovery after a restart).

Faust writes a table's changelog with the table's schema but built the changelog topic
(and the store) with serializers derived from ``key_type``/``value_type``, JSON by
default: a restarted worker then failed to decode every changelog record and never
finished recovery (seen through the real broker in the crash-safety test on branch ``crash-safety-test``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import Message

from agents.profiles.buckets import VelocityBucket
from agents.profiles.model import empty_profile
from agents.tables import ChangelogRecord, ChangelogRecords, TableStore, declare_tables, declare_velocity_table
from streams.app import create_app
from streams.settings import Settings


@pytest.fixture
def stores() -> dict[str, Any]:
    settings = Settings(_env_file=None, kafka_bootstrap="127.0.0.1:1", topic_partitions=3)
    app, _ = create_app(settings)
    changelog = ChangelogRecords()
    profiles, spend = declare_tables(app, changelog)
    velocity = declare_velocity_table(app, settings.profiles)
    return {"profiles": profiles, "spend": spend, "velocity": velocity, "changelog": changelog}


@pytest.fixture
def tables(stores: dict[str, Any]) -> dict[str, Any]:
    return {name: stores[name].table for name in ("profiles", "spend", "velocity")}


def changelog_round_trip(table: Any, key: Any, value: Any) -> tuple[Any, Any]:
    """Encode as the table's changelog writes, decode as its recovery reads."""
    topic = table.changelog_topic
    raw_key, _ = topic.prepare_key(key, None, None, None)
    raw_value, _ = topic.prepare_value(value, None, None, None)
    message = Message(topic.get_topic_name(), 0, 0, 0.0, 0, None, raw_key, raw_value, None)
    return topic.schema.loads_key(table.app, message), topic.schema.loads_value(table.app, message)


def test_profile_changelog_round_trips(tables: dict[str, Any]) -> None:
    profile = empty_profile("u-42", 1_700_000_000_000)
    assert changelog_round_trip(tables["profiles"], b"u-42", profile) == (b"u-42", profile)


def test_spend_changelog_round_trips(tables: dict[str, Any]) -> None:
    key = b"2026-11-24|0|c-elec"
    assert changelog_round_trip(tables["spend"], key, 12.5) == (key, 12.5)


def test_velocity_changelog_round_trips(tables: dict[str, Any]) -> None:
    bucket = VelocityBucket(orders=2, amount=40.0)
    key, value = changelog_round_trip(tables["velocity"], ["u-42", [300.0, 599.9]], bucket)
    assert key == ["u-42", [300.0, 599.9]] and value == bucket


@pytest.mark.parametrize(("name", "key", "value"), [
    ("profiles", "u-42", empty_profile("u-42", 1_700_000_000_000)),
    ("spend", "2026-11-24|2|c-elec", 12.5),
])  # fmt: skip
def test_a_write_holds_the_record_fausts_changelog_would_send(stores: dict[str, Any], name: str, key: str,
                                                              value: Any) -> None:  # fmt: skip
    """Same topic, the origin event's partition, the same key and value bytes: recovery reads it back."""
    store: TableStore[Any] = stores[name]
    origin = SimpleNamespace(message=SimpleNamespace(partition=2))
    store.put(key, value, origin)
    topic = store.table.changelog_topic
    raw_key, _ = topic.prepare_key(key.encode(), None, None, None)
    raw_value, _ = topic.prepare_value(value, None, None, None)
    assert stores["changelog"].drain() == [ChangelogRecord(topic.get_topic_name(), 2, raw_key, raw_value)]
    assert stores["changelog"].drain() == []
    assert store.get(key) == value and store.table.get(key.encode()) == value
    assert changelog_round_trip(store.table, key.encode(), value) == (key.encode(), value)


def test_a_write_without_its_origin_event_is_refused(stores: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="needs the input event"):
        stores["spend"].put("k", 1.0, origin=None)
    assert stores["changelog"].drain() == []
