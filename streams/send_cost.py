"""CPU per record of three ways to hand records to aiokafka, against the embedded broker.

``python -m streams.send_cost`` starts tansu on a free port, then sends the same keyed
records (decision-sized values over 8 partitions) three ways, twice each, interleaved:
``send`` per record (what Faust's producer does), ``add_message`` on the producer's
accumulator per record, and one built batch per topic-partition and micro-batch (what
:meth:`streams.produce.RecordSender.send_records` does). It prints the process's CPU µs
per record, delivery included (the producer's flush), as JSON. Keyed partitions are looked up
in a warm cache, as ``send_records`` does once it has seen a key (``send`` hashes every
key). Why the worker builds batches: ``BENCHMARKS.md``.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from streams.embedded.broker import EmbeddedBroker
from streams.embedded.process import free_port

RECORDS = 20_000
PARTITIONS = 8
MICRO_BATCH = 128
VALUE_BYTES = 400
"""About a bid decision's size."""
ROUNDS = 2


async def measure(bootstrap: str, records: int, emit: Callable[[str], None]) -> dict[str, list[float]]:
    """CPU µs per record of each way, one figure per round."""
    rng = random.Random(7)
    keys = [f"u-{rng.randrange(100_000):06d}".encode() for _ in range(records)]
    value = b"x" * VALUE_BYTES
    ways = ("send", "add_message", "built_batch")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"send-cost.{way}", PARTITIONS, 1) for way in ways])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    partition_of: dict[bytes, int] = {}

    def partition(topic: str, key: bytes) -> int:
        if key not in partition_of:
            partition_of[key] = producer._partition(topic, None, key, value, key, value)
        return partition_of[key]

    async def send(topic: str) -> None:
        for key in keys:
            await producer.send(topic, value, key=key)

    async def add_message(topic: str) -> None:
        timeout = producer._request_timeout_ms / 1000
        for key in keys:
            await producer._message_accumulator.add_message(TopicPartition(topic, partition(topic, key)), key, value,
                                                            timeout)  # fmt: skip

    async def built_batch(topic: str) -> None:
        for start in range(0, len(keys), MICRO_BATCH):
            groups: dict[int, list[bytes]] = {}
            for key in keys[start : start + MICRO_BATCH]:
                groups.setdefault(partition(topic, key), []).append(key)
            for part, group in groups.items():
                batch = producer.create_batch()
                for key in group:
                    batch.append(key=key, value=value, timestamp=None)
                await producer.send_batch(batch, topic, partition=part)

    runs: dict[str, Callable[[str], Awaitable[None]]] = {"send": send, "add_message": add_message,
                                                          "built_batch": built_batch}  # fmt: skip
    result: dict[str, list[float]] = {way: [] for way in ways}
    try:
        for way in ways:
            await producer.client._wait_on_metadata(f"send-cost.{way}")
        for key in keys:  # every topic has PARTITIONS partitions: one cache serves all
            partition("send-cost.send", key)
        for round_ in range(1, ROUNDS + 1):
            for way in ways:
                cpu = time.process_time()
                await runs[way](f"send-cost.{way}")
                await producer.flush()
                result[way].append(round((time.process_time() - cpu) / len(keys) * 1e6, 2))
                emit(f"round {round_}/{ROUNDS}: {way} {result[way][-1]} us per record")
    finally:
        await producer.stop()
    return result


def main(records: int = RECORDS) -> dict[str, Any]:
    """Start the broker, measure, stop it; the result as a dict (also printed as JSON)."""
    broker = EmbeddedBroker()
    with tempfile.TemporaryDirectory(prefix="send-cost-") as work:
        broker.start(free_port(), Path(work) / "tansu.log")
        try:
            figures = asyncio.run(measure(broker.bootstrap, records, lambda line: print(line, file=sys.stderr)))
        finally:
            broker.stop()
    result = {"records": records, "partitions": PARTITIONS, "micro_batch": MICRO_BATCH, "value_bytes": VALUE_BYTES,
              "cpu_us_per_record": figures}  # fmt: skip
    print(orjson.dumps(result).decode())
    return result


if __name__ == "__main__":
    main()
