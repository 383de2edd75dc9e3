"""Read decision and ops topics from outside the worker (demo live view, ``tail``, tests).

:func:`follow` tails topics live. :func:`read_complete` is for readers that must see every
record (tests counting lost decisions, reports): against the embedded tansu broker a plain
from-the-beginning read can stop short, for two reasons measured on tansu 0.6.0:

- Each fetch lists *all* batches of the partition from offset 0 and stops listing when the
  request's ``fetch_max_wait_ms`` runs out. A partition of many small batches (a paced
  producer writes one or two records per batch) cannot be listed up to the reader's position
  within a short wait, so the fetch comes back empty, again and again: with 20,000
  single-record batches in one partition, a 50 ms wait read them in 38 s, 20 ms stalled
  after 521 records, 1-5 ms read none; 500 ms read all in 1.3 s. A reader with an idle
  timeout or a deadline then ends early and the tail looks "missing".
- ``list_offsets`` (``end_offsets``) answers the base offset of the most recently written
  batch + 1, not the end of that batch, so it is low by up to a batch (5-6 % after bulk
  produces). The high watermark in fetch responses is right.

So :func:`read_complete` fetches with a long wait, assigns every partition with explicit
offsets, checks that offsets are contiguous (fetching a gap again), and ends only when each
partition reached the high watermark of a fetch response that came after it got there.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.contiguity import ContiguousOffsets, Verdict

POLL_MS = 200
MAX_RECORDS = 5000
FETCH_WAIT_MS = 50
COMPLETE_FETCH_WAIT_MS = 1000
"""Fetch wait of :func:`read_complete`: time for tansu to list a large partition's batches."""
DEFAULT_MAX_MESSAGE_BYTES = 8_000_000


async def positioned_consumer(
    bootstrap: str,
    topics: Sequence[str],
    *,
    from_beginning: bool,
    client_kwargs: dict[str, Any] | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    fetch_wait_ms: int = FETCH_WAIT_MS,
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """A started consumer (no group) assigned every partition of ``topics``, positioned.

    Positions are the beginning or the current end of each partition, resolved before
    returning (so records produced afterwards are read). The caller stops the consumer.

    Returns
    -------
    tuple[AIOKafkaConsumer, list[TopicPartition]]
        The consumer and its assignment (empty when no topic exists).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=max_message_bytes,
        fetch_max_bytes=max_message_bytes * 2,
        fetch_max_wait_ms=fetch_wait_ms,
        **(client_kwargs or {}),
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(parts)
        if parts:
            if from_beginning:
                await consumer.seek_to_beginning(*parts)
            else:
                await consumer.seek_to_end(*parts)
            for tp in parts:
                await consumer.position(tp)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, parts


async def follow(
    bootstrap: str,
    topics: Sequence[str],
    *,
    from_beginning: bool,
    idle_timeout_s: float | None = None,
    client_kwargs: dict[str, Any] | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> AsyncIterator[ConsumerRecord]:
    """Yield records of ``topics`` (all partitions, no consumer group) as they arrive.

    Starts at the beginning or at the current end; stops after ``idle_timeout_s``
    without a record (never, when None). For a read that must not miss records,
    use :func:`read_complete`.
    """
    consumer, _ = await positioned_consumer(
        bootstrap, topics, from_beginning=from_beginning, client_kwargs=client_kwargs,
        max_message_bytes=max_message_bytes,
    )  # fmt: skip
    try:
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


@dataclass
class ReadStats:
    """What a :func:`read_complete` run saw, for reports and test output."""

    records: int = 0
    refetches: int = 0
    holes: int = 0
    ends: dict[TopicPartition, int] = field(default_factory=dict)


async def read_complete(
    bootstrap: str,
    topics: Sequence[str],
    *,
    until_caught_up: bool = True,
    client_kwargs: dict[str, Any] | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    fetch_wait_ms: int = COMPLETE_FETCH_WAIT_MS,
    gap_retries: int = 5,
    stats: ReadStats | None = None,
) -> AsyncIterator[ConsumerRecord]:
    """Yield every record of ``topics`` from the beginning, each partition in offset order, none skipped.

    The records of :func:`read_complete_batches`, one at a time (same parameters).
    """
    batches = read_complete_batches(
        bootstrap, topics, until_caught_up=until_caught_up, client_kwargs=client_kwargs,
        max_message_bytes=max_message_bytes, fetch_wait_ms=fetch_wait_ms, gap_retries=gap_retries, stats=stats,
    )  # fmt: skip
    async with aclosing(batches):
        async for records in batches:
            for record in records:
                yield record


async def read_complete_batches(
    bootstrap: str,
    topics: Sequence[str],
    *,
    until_caught_up: bool = True,
    client_kwargs: dict[str, Any] | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    fetch_wait_ms: int = COMPLETE_FETCH_WAIT_MS,
    gap_retries: int = 5,
    stats: ReadStats | None = None,
) -> AsyncIterator[list[ConsumerRecord]]:
    """Yield every record of ``topics`` from the beginning, one non-empty list per fetch, none skipped.

    Each partition's records come in offset order. For callers that check a condition
    per fetch rather than per record (a check over everything read so far).

    Parameters
    ----------
    until_caught_up
        Return once every partition reached its high watermark, confirmed by a fetch
        response received after the reader got there; ``False`` follows forever
        (the caller stops it, e.g. with a timeout).
    fetch_wait_ms
        The consumer's fetch wait (long, see the module docstring).
    gap_retries
        Fetches that must skip the same offsets before they are accepted as a hole
        (counted in ``stats.holes``; none were seen on tansu so far).
    stats
        Filled in as the read goes (records, re-fetched gaps, holes, final ends).
    """
    stats = stats if stats is not None else ReadStats()
    consumer, parts = await positioned_consumer(
        bootstrap, topics, from_beginning=True, client_kwargs=client_kwargs,
        max_message_bytes=max_message_bytes, fetch_wait_ms=fetch_wait_ms,
    )  # fmt: skip
    try:
        offsets = ContiguousOffsets({tp: await consumer.position(tp) for tp in parts}, gap_retries=gap_retries)
        reached_at: dict[TopicPartition, int] = {}
        """When each partition was first seen at its high watermark (ms, the consumer's fetch clock)."""
        while True:
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
            taken: list[ConsumerRecord] = []
            for tp, records in batch.items():
                for record in records:
                    verdict = offsets.accept(tp, record.offset)
                    if verdict is Verdict.TAKE:
                        taken.append(record)
                    elif verdict is Verdict.REFETCH:
                        consumer.seek(tp, offsets.next_offset[tp])
                        break
            stats.records += len(taken)
            stats.refetches, stats.holes = offsets.refetches, offsets.holes
            if taken:
                yield taken
            if until_caught_up and _confirmed_end(consumer, parts, offsets, reached_at):
                stats.ends = {tp: offsets.next_offset[tp] for tp in parts}
                return
    finally:
        await consumer.stop()


def _confirmed_end(
    consumer: AIOKafkaConsumer,
    parts: list[TopicPartition],
    offsets: ContiguousOffsets,
    reached_at: dict[TopicPartition, int],
) -> bool:
    """Whether each partition is at its high watermark per a response newer than when it got there."""
    done = True
    for tp in parts:
        highwater = consumer.highwater(tp)
        if highwater is None or offsets.next_offset[tp] < highwater:
            reached_at.pop(tp, None)
            done = False
            continue
        fetched_at = consumer.last_poll_timestamp(tp)
        if tp not in reached_at:
            reached_at[tp] = fetched_at
            done = False
        elif fetched_at <= reached_at[tp]:
            done = False
    return done
