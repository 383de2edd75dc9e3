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

from streams.admin import ensure_topics
from streams.embedded.process import ChildProcess
from streams.topics import CLICKS, SEARCHES, TopicSpec
from tests.integration.conftest import start_broker
from tests.integration.pipeline import read_until, send
from tests.integration.stalled_stream_app import FORWARDED_TOPIC

PARTITIONS = 4
BUFFER_MAX = 100
STALLED_RECORDS = 3_000
CLICKS_AFTER = 50
FETCH_SETTLE_S = 3.0
"""Time for the worker to fetch the searches (and, before the fix, to block on them)."""
DELIVERY_TIMEOUT_S = 60.0
TOPICS = (TopicSpec(SEARCHES, PARTITIONS), TopicSpec(CLICKS, PARTITIONS), TopicSpec(FORWARDED_TOPIC, 1))


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


async def forwarded(bootstrap: str, count: int) -> list[bytes]:
    """The values forwarded from the beginning, once ``count`` are there (fewer after the timeout)."""
    return await read_until(bootstrap, [FORWARDED_TOPIC], lambda record: record.value,
                            lambda values: len(values) >= count, DELIVERY_TIMEOUT_S)  # fmt: skip


async def scenario(bootstrap: str) -> tuple[list[bytes], list[bytes]]:
    await send(bootstrap, [(CLICKS, b"probe", b"probe")])
    probe = await forwarded(bootstrap, 1)  # the worker is up and assigned
    await send(bootstrap, [(SEARCHES, b"user-%d" % n, b"search-%d" % n) for n in range(STALLED_RECORDS)])
    await asyncio.sleep(FETCH_SETTLE_S)
    await send(bootstrap, [(CLICKS, b"user-%d" % n, b"click-%d" % n) for n in range(CLICKS_AFTER)])
    return probe, (await forwarded(bootstrap, 1 + CLICKS_AFTER))[1:]


def test_a_stalled_stream_does_not_hold_back_the_others(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    bootstrap = start_broker(request, tmp_path_factory)  # its own broker: no other test's events
    asyncio.run(ensure_topics(bootstrap, TOPICS))
    worker = start_app(bootstrap, tmp_path)
    request.addfinalizer(worker.stop)
    probe, clicks = asyncio.run(scenario(bootstrap))
    assert probe == [b"probe"], worker.log_tail()
    assert sorted(clicks) == sorted(b"click-%d" % n for n in range(CLICKS_AFTER)), worker.log_tail()
