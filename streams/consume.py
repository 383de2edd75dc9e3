"""Read decision and ops topics from outside the worker (demo live view, ``tail``, tests)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

POLL_MS = 200
MAX_RECORDS = 5000
FETCH_WAIT_MS = 50


async def follow(
    bootstrap: str,
    topics: Sequence[str],
    *,
    from_beginning: bool,
    idle_timeout_s: float | None = None,
    client_kwargs: dict[str, Any] | None = None,
    max_message_bytes: int = 8_000_000,
) -> AsyncIterator[ConsumerRecord]:
    """Yield records of ``topics`` (all partitions, no consumer group) as they arrive.

    Starts at the beginning or at the current end; stops after ``idle_timeout_s``
    without a record (never, when None).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=max_message_bytes,
        fetch_max_bytes=max_message_bytes * 2,
        fetch_max_wait_ms=FETCH_WAIT_MS,
        **(client_kwargs or {}),
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(parts)
        if from_beginning:
            await consumer.seek_to_beginning(*parts)
        else:
            await consumer.seek_to_end(*parts)
            for tp in parts:
                await consumer.position(tp)
        last = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
            if batch:
                last = time.monotonic()
            for records in batch.values():
                for record in records:
                    yield record
            if not batch and idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                return
    finally:
        await consumer.stop()
