"""Follow the compacted catalog topics from the beginning into the worker's catalog table."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.catalog import CatalogStore
from schemas.codec import dead_letter
from schemas.errors import DecodeError
from schemas.ops import DlqRecord
from streams.topics import CATALOG_TOPICS

log = logging.getLogger("streamdecide.catalog")

POLL_MS = 200
MAX_RECORDS = 2000
FETCH_WAIT_MS = 100


async def caught_up(consumer: AIOKafkaConsumer, tp: TopicPartition, listed_end: int) -> bool:
    """Whether ``tp`` was read up to ``listed_end`` and to the high watermark of the last fetch response.

    tansu's ``end_offsets`` is the last-written batch's base offset + 1 (short of the end by the
    rest of that batch); the high watermark in fetch responses is the true end.
    """
    position = await consumer.position(tp)
    highwater = consumer.highwater(tp)
    return position >= listed_end and highwater is not None and position >= highwater


async def follow_catalog(
    bootstrap: str,
    store: CatalogStore,
    ready: asyncio.Event,
    on_invalid: Callable[[DlqRecord], Awaitable[Any]],
    client_kwargs: dict[str, Any],
    pii_key: str,
    max_payload_bytes: int,
) -> None:
    """Read every catalog partition (no consumer group: each worker needs all of it).

    Sets ``ready`` once the reader has caught up with the end offsets seen at
    start and with the high watermark of a fetch response, then keeps applying
    updates until cancelled.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=FETCH_WAIT_MS,
        **client_kwargs,
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = [
            TopicPartition(topic, p)
            for topic in CATALOG_TOPICS
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        while True:
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
            for tp, records in batch.items():
                for record in records:
                    try:
                        store.apply(tp.topic, record.key, record.value)
                    except DecodeError as exc:
                        await on_invalid(
                            dead_letter(record.value, record.key, tp.topic, tp.partition, record.offset, exc,
                                        datetime.now(UTC), pii_key=pii_key,
                                        max_payload_bytes=max_payload_bytes)
                        )
            if not ready.is_set() and all([await caught_up(consumer, tp, end[tp]) for tp in parts]):
                log.info("catalog loaded", extra={"products": len(store.products), "campaigns": len(store.campaigns)})
                ready.set()
    finally:
        await consumer.stop()
