"""Decisions straight to the worker's Kafka producer: the hot path's sends without Faust's per-message machinery.

``Topic.send`` wraps every message in a ``FutureMessage``, goes through the channel's
codec and sensors and attaches callbacks; at 0.7 decisions per event that was about
5 % of the decision worker's samples in ``py-spy``. :class:`RecordSender` encodes a
model with the orjson codec and hands the bytes to ``app.producer`` (the producer Faust's
commit flushes before it commits offsets), with the same key partitioning, so
at-least-once holds as before. A record the broker finally refuses is logged, as
Faust logs it.

A micro-batch's records (its decisions and table changelog records) go as one Kafka
record batch per topic-partition (:meth:`RecordSender.send_records`): aiokafka's
``send`` costs about 9.5 µs of CPU per record, a built batch about 3.6
(``BENCHMARKS.md``). Where the producer still holds an unsent batch for a
topic-partition, that partition's records are appended to it one by one instead: a new
batch would wait for the held one to go out, and the agent with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
from aiokafka.structs import TopicPartition
from pydantic import BaseModel

from schemas.codec import encode

log = logging.getLogger("streamdecide.produce")

PARTITION_CACHE_KEYS = 262_144
"""Keys whose partition is kept per topic (the default partitioner hashes in Python: ~3 µs a key)."""


@dataclass(slots=True)
class Record:
    """One record for :meth:`RecordSender.send_records`; ``partition`` None: by key, as Faust partitions."""

    topic: str
    key: bytes | None
    value: bytes | BaseModel
    partition: int | None = None


class RecordSender:
    """Sends models as orjson records through ``app.producer``."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._partitions: dict[str, tuple[int, dict[bytes, int]]] = {}

    async def send_bytes(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        """Hand one encoded record to the producer, to ``partition`` (default: by key, as Faust partitions).

        Delivery is awaited by Faust's next commit, which flushes the producer first.
        """
        delivery = await self.app.producer.send(topic, key, value, partition, None, None)
        delivery.add_done_callback(partial(_log_refused, topic))  # type: ignore[attr-defined]

    async def send_records(self, records: Iterable[Record]) -> None:
        """Hand a micro-batch's records to the producer: one record batch per topic-partition, order kept in each."""
        producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
        groups: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}
        by_key: dict[str, dict[bytes, int]] = {}
        for record in records:
            topic, key = record.topic, record.key
            value = record.value if isinstance(record.value, bytes) else encode(record.value)
            partition = record.partition
            if partition is None:
                known = by_key.get(topic)
                if known is None:
                    known = by_key[topic] = await self._key_partitions(producer, topic)
                partition = known.get(key) if key is not None else None
                if partition is None:
                    partition = producer._partition(topic, None, key, value, key, value)
                    if key is not None:
                        known[key] = partition
            groups.setdefault((topic, partition), []).append((key, value))
        for (topic, partition), items in groups.items():
            await self._send_group(producer, topic, partition, items)

    async def _send_group(self, producer: Any, topic: str, partition: int, items: list[tuple[bytes | None, bytes]]) -> None:
        """One topic-partition's records: a built batch, or appended to the batch the producer still holds."""
        start = 0
        if not producer._message_accumulator._batches.get(TopicPartition(topic, partition)):
            batch = producer.create_batch()
            while start < len(items) and batch.append(key=items[start][0], value=items[start][1],
                                                      timestamp=None) is not None:  # fmt: skip
                start += 1
            if start:
                delivery = await producer.send_batch(batch, topic, partition=partition)
                delivery.add_done_callback(partial(_log_refused, topic))
        for key, value in items[start:]:  # a full batch's rest, or behind a batch the producer holds
            await self.send_bytes(topic, key, value, partition)

    async def _key_partitions(self, producer: Any, topic: str) -> dict[bytes, int]:
        """The cached partition of each key seen on ``topic``, emptied when its partition count changes or it grows too big."""
        await producer.client._wait_on_metadata(topic)
        count = len(producer._metadata.partitions_for_topic(topic))
        cached = self._partitions.get(topic)
        if cached is None or cached[0] != count or len(cached[1]) >= PARTITION_CACHE_KEYS:
            cached = self._partitions[topic] = (count, {})
        return cached[1]


def _log_refused(topic: str, delivery: asyncio.Future[object]) -> None:
    if not delivery.cancelled() and (exc := delivery.exception()) is not None:
        log.error("record not delivered", extra={"topic": topic, "error": f"{type(exc).__name__}: {exc}"[:200]})
