"""``read_complete`` returns every acknowledged record from the real tansu broker, none skipped.

The topic is written the way a paced producer writes it: many concurrent producers, one
record per request, so partition 0 holds 30,000 single-record batches and partition 1
10,000. tansu's fetch lists every batch of a partition from offset 0 within the fetch
wait, so on such a partition a short-wait reader crawls and then stalls: the reader that
``collect`` used before (``follow``, 50 ms wait, 3 s idle timeout) got 39,821 and 38,379
of 40,000 records in two runs of this set-up (the tail of the big partition was missing).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.consume import ReadStats, read_complete
from tests.integration.conftest import start_broker

pytestmark = pytest.mark.integration

RECORDS = 40_000
PARTITIONS = 2
PRODUCERS = 16
BIG_PARTITION_SHARE = 4
"""Three records of every four go to partition 0."""
READ_TIMEOUT_S = 120.0


async def produce_small_batches(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """Send ``RECORDS`` numbered records, each producer waiting for every ack; returns number → (partition, offset)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    acked: dict[int, tuple[int, int]] = {}

    async def one(first: int) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
        await producer.start()
        try:
            for n in range(first, RECORDS, PRODUCERS):
                partition = 1 if n % BIG_PARTITION_SHARE == BIG_PARTITION_SHARE - 1 else 0
                meta = await (await producer.send(topic, str(n).encode(), partition=partition))
                acked[n] = (meta.partition, meta.offset)
        finally:
            await producer.stop()

    await asyncio.gather(*(one(i) for i in range(PRODUCERS)))
    return acked


async def read_back(bootstrap: str, topic: str, stats: ReadStats) -> list[tuple[int, int, int]]:
    return [(r.partition, r.offset, int(r.value)) async for r in read_complete(bootstrap, [topic], stats=stats)]


def test_every_acknowledged_record_is_read_back_exactly_once(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bootstrap = start_broker(request, tmp_path_factory)
    acked = asyncio.run(produce_small_batches(bootstrap, "complete-read"))
    assert len(acked) == RECORDS and len(set(acked.values())) == RECORDS

    stats = ReadStats()
    got = asyncio.run(asyncio.wait_for(read_back(bootstrap, "complete-read", stats), READ_TIMEOUT_S))
    print(f"\nread {stats.records} records, {stats.refetches} gaps fetched again, {stats.holes} holes, ends {stats.ends}")

    numbers = Counter(n for _, _, n in got)
    assert len(got) == RECORDS and set(numbers) == set(range(RECORDS)), f"missing {RECORDS - len(numbers)}"
    assert {n: (p, o) for p, o, n in got} == acked
    ends = {p: max(o for q, o in acked.values() if q == p) + 1 for p in range(PARTITIONS)}
    assert {tp.partition: end for tp, end in stats.ends.items()} == ends
    assert stats.holes == 0
