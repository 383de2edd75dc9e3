"""``produce_file`` against the real embedded broker: raw lines in, keys from the line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.admin import ensure_topics
from streams.synthetic.produce import produce_file
from streams.topics import TopicSpec

pytestmark = pytest.mark.integration

CONSUME_TIMEOUT_S = 20.0


async def test_produce_file_delivers_raw_lines_with_keys(broker: str, tmp_path: Path) -> None:
    topic = f"t-{uuid4().hex[:8]}"
    await ensure_topics(broker, [TopicSpec(topic, 1)])
    lines = [b'{"kind":"order","user_id":"u-7"}', b"\xff not utf-8", b'{"campaign_id":"c-1"}']
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    assert await produce_file(broker, path, topic, {}) == len(lines)

    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        records = [await asyncio.wait_for(consumer.getone(), CONSUME_TIMEOUT_S) for _ in lines]
    finally:
        await consumer.stop()
    assert [(r.key, r.value) for r in records] == [(b"u-7", lines[0]), (None, lines[1]), (b"c-1", lines[2])]
