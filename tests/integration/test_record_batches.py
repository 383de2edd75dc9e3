"""A micro-batch's records as built Kafka batches: every record arrives, on Faust's partition for its key, in order.

Against the embedded broker: keyed records sent by :meth:`RecordSender.send_records` land on
the partition Faust's own ``send`` chooses for the same key, explicit partitions are kept,
and each partition holds its records in the order given, also when the producer still held
a batch for that partition (the records are appended to it) and when one partition's
records overflow a batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.codec import encode
from schemas.events import AdSlot
from streams import send_cost
from streams.produce import Record, RecordSender

PARTITIONS = 4
BIG_VALUE = b"x" * 3_000
"""Six of these overflow aiokafka's default 16 KiB batch."""


async def read_all(bootstrap: str, topic: str, count: int) -> list[Any]:
    """The first ``count`` records of ``topic`` (every partition, from the beginning)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(60):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records += batch
    finally:
        await consumer.stop()
    return records


async def send_and_read(bootstrap: str) -> tuple[list[Any], list[Any], list[Record]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in ("rb.reference", "rb.batched")])
    finally:
        await admin.close()
    app = faust.App("record-batches", broker=f"kafka://{bootstrap}", web_enabled=False, autodiscover=False)
    await app.producer.start()
    try:
        keys = [f"u-{i:04d}".encode() for i in range(60)]
        for key in keys:  # Faust's own partitioning, for reference
            await (await app.producer.send("rb.reference", key, key, None, None, None))
        sender = RecordSender(app)
        await sender.send_bytes("rb.batched", b"held", b"held-0", 1)  # the producer holds a batch for partition 1
        records = [Record("rb.batched", key, key + b"-%d" % n) for n, key in enumerate(keys * 2)]
        records += [Record("rb.batched", None, b"p2-%d" % n + BIG_VALUE, 2) for n in range(8)]  # overflows a batch
        records.append(Record("rb.batched", b"u-model", AdSlot(slot_id="s1", floor_cpm=1.5), 3))  # encoded on the way
        await sender.send_records(records)
        await app.producer.flush()
    finally:
        await app.producer.stop()
    reference = await read_all(bootstrap, "rb.reference", len(keys))
    batched = await read_all(bootstrap, "rb.batched", len(records) + 1)
    return reference, batched, records


def test_records_land_on_the_key_partition_in_order(broker: str) -> None:
    reference, batched, records = asyncio.run(send_and_read(broker))
    faust_partition = {r.key: r.partition for r in reference}
    assert len(set(faust_partition.values())) > 1
    keyed = [r for r in batched if r.key in faust_partition]
    assert len(keyed) == 120 and all(r.partition == faust_partition[r.key] for r in keyed)
    by_partition: dict[int, list[bytes]] = {}
    for r in sorted(batched, key=lambda r: (r.partition, r.offset)):
        by_partition.setdefault(r.partition, []).append(r.value)
    for partition, values in by_partition.items():
        given = [r.value if isinstance(r.value, bytes) else encode(r.value) for r in records
                 if (r.partition if r.partition is not None else faust_partition[r.key]) == partition]  # fmt: skip
        assert values == ([b"held-0"] if partition == 1 else []) + given
    assert [v[:4] for v in by_partition[2] if v.startswith(b"p2-")] == [b"p2-%d" % n for n in range(8)]
    modelled = next(r for r in batched if r.key == b"u-model")
    assert modelled.partition == 3 and modelled.value == encode(AdSlot(slot_id="s1", floor_cpm=1.5))


def test_the_send_cost_benchmark_measures_every_way() -> None:
    result = send_cost.main(records=1_000)
    assert set(result["cpu_us_per_record"]) == {"send", "add_message", "built_batch"}
    assert all(len(figures) == send_cost.ROUNDS and min(figures) > 0 for figures in result["cpu_us_per_record"].values())
