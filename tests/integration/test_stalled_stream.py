"""A stream whose agent stalls stops only its own partitions: the other streams keep being delivered.

Against the embedded broker, a worker built with the worker's own Faust settings
(:mod:`tests.integration.stalled_stream_app`) holds its searches agent on the first record
for good. Thousands of searches then arrive, far more than the stream's buffer holds, and
after them some clicks: every click must still be forwarded. Before consumer polls were
bounded (:func:`streams.app.poll_records`), Faust's drain loop waited on the full searches
buffer with the rest of a poll of searches in hand, and no click got through.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.embedded.process import ChildProcess
from streams.topics import CLICKS, SEARCHES
from tests.integration.conftest import start_broker
from tests.integration.stalled_stream_app import FORWARDED_TOPIC

PARTITIONS = 4
BUFFER_MAX = 100
STALLED_RECORDS = 3_000
CLICKS_AFTER = 50
FETCH_SETTLE_S = 3.0
"""Time for the worker to fetch the searches (and, before the fix, to block on them)."""
DELIVERY_TIMEOUT_S = 60.0


async def create_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(SEARCHES, PARTITIONS, 1), NewTopic(CLICKS, PARTITIONS, 1),
                                   NewTopic(FORWARDED_TOPIC, 1, 1)])  # fmt: skip
    finally:
        await admin.close()


def start_app(bootstrap: str, data_dir: Path) -> ChildProcess:
    env = dict(os.environ)
    env.update(
        STREAMDECIDE_KAFKA_BOOTSTRAP=bootstrap,
        STREAMDECIDE_DATA_DIR=str(data_dir),
        STREAMDECIDE_APP_ID=f"sd-stalled-{uuid.uuid4().hex[:8]}",
        STREAMDECIDE_TOPIC_PARTITIONS=str(PARTITIONS),
        STREAMDECIDE_BATCHING__BUFFER_MAX=str(BUFFER_MAX),
        STREAMDECIDE_LOG_LEVEL="info",
    )
    command = [sys.executable, "-m", "tests.integration.stalled_stream_app", "worker"]
    return ChildProcess("stalled-app", command, data_dir / "stalled-app.log", env=env).start()


async def forwarded_until(consumer: AIOKafkaConsumer, count: int, worker: ChildProcess) -> list[bytes]:
    """Values forwarded so far, read until ``count`` arrived (or the timeout, or the worker died)."""
    values: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + DELIVERY_TIMEOUT_S
    while len(values) < count and asyncio.get_running_loop().time() < deadline and worker.alive:
        for batch in (await consumer.getmany(timeout_ms=500)).values():
            values += [record.value for record in batch]
    return values


async def scenario(bootstrap: str, worker: ChildProcess) -> tuple[list[bytes], list[bytes]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    consumer = AIOKafkaConsumer(FORWARDED_TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(CLICKS, b"probe", key=b"probe")
        probe = await forwarded_until(consumer, 1, worker)  # the worker is up and assigned
        for n in range(STALLED_RECORDS):
            await producer.send(SEARCHES, b"search-%d" % n, key=b"user-%d" % n)
        await producer.flush()
        await asyncio.sleep(FETCH_SETTLE_S)
        for n in range(CLICKS_AFTER):
            await producer.send(CLICKS, b"click-%d" % n, key=b"user-%d" % n)
        await producer.flush()
        clicks = await forwarded_until(consumer, CLICKS_AFTER, worker)
    finally:
        await consumer.stop()
        await producer.stop()
    return probe, clicks


def test_a_stalled_stream_does_not_hold_back_the_others(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    bootstrap = start_broker(request, tmp_path_factory)  # its own broker: no other test's events
    asyncio.run(create_topics(bootstrap))
    worker = start_app(bootstrap, tmp_path)
    request.addfinalizer(worker.stop)
    probe, clicks = asyncio.run(scenario(bootstrap, worker))
    assert probe == [b"probe"], worker.log_tail()
    assert sorted(clicks) == sorted(b"click-%d" % n for n in range(CLICKS_AFTER)), worker.log_tail()
