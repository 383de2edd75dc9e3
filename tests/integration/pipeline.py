"""Helpers to run the real worker against a real broker and Triton, and to collect what it writes."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRecord

from schemas.codec import encode, loads
from streams.admin import ensure_topics
from streams.consume import ReadStats, read_complete, read_complete_batches
from streams.embedded.process import ChildProcess, free_port
from streams.topics import FRAUD, ORDERS, topic_specs

PARTITIONS = 2
WARMUP_TIMEOUT_S = 120.0
MAX_REQUEST_BYTES = 8_000_000

T = TypeVar("T")


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


async def create_topics(bootstrap: str) -> None:
    await ensure_topics(bootstrap, topic_specs(PARTITIONS))


async def send(bootstrap: str, messages: Iterable[tuple[str, bytes | None, bytes | None]]) -> None:
    """Publish ``(topic, key, raw value)`` triples in order and wait for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=MAX_REQUEST_BYTES, linger_ms=2)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for topic, key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def as_message(topic: str, event: dict[str, Any]) -> tuple[str, bytes, bytes]:
    key = event.get("user_id") or event.get("product_id") or event.get("campaign_id")
    return topic, str(key).encode(), encode(event)


Records = list[tuple[str, dict[str, Any]]]


async def read_until(
    bootstrap: str,
    topics: Sequence[str],
    row: Callable[[ConsumerRecord], T],
    done: Callable[[list[T]], bool],
    timeout_s: float,
) -> list[T]:
    """``row`` of each record of ``topics`` from the beginning, until ``done(rows)`` holds after a fetch or the timeout.

    Uses :func:`~streams.consume.read_complete_batches`, so no record below what was read
    is skipped, and ``done`` runs once per fetch (it may check everything read so far).
    """
    out: list[T] = []

    async def read() -> None:
        batches = read_complete_batches(bootstrap, topics, until_caught_up=False, max_message_bytes=MAX_REQUEST_BYTES)
        async with aclosing(batches):
            async for records in batches:
                out.extend(row(record) for record in records)
                if done(out):
                    return

    with suppress(TimeoutError):
        await asyncio.wait_for(read(), timeout_s)
    return out


async def collect(bootstrap: str, topics: list[str], done: Callable[[Records], bool], timeout_s: float) -> Records:
    """``(topic, value)`` of the records of ``topics`` until ``done(records)`` holds (or the timeout passes)."""
    return await read_until(bootstrap, topics, lambda record: (record.topic, loads(record.value)), done, timeout_s)


async def read_all(bootstrap: str, topics: list[str], stats: ReadStats | None = None) -> Records:
    """Every record ``topics`` hold now: :func:`~streams.consume.read_complete` up to the high watermarks."""
    return [
        (record.topic, loads(record.value))
        async for record in read_complete(bootstrap, topics, max_message_bytes=MAX_REQUEST_BYTES, stats=stats)
    ]


def start_worker(bootstrap: str, triton_url: str, data_dir: Path, **settings: str) -> ChildProcess:
    """``streamdecide worker`` as a child process with a fresh consumer group."""
    env = dict(os.environ)
    env.update(
        STREAMDECIDE_KAFKA_BOOTSTRAP=bootstrap,
        STREAMDECIDE_TRITON_URL=triton_url,
        STREAMDECIDE_DATA_DIR=str(data_dir),
        STREAMDECIDE_APP_ID=f"sd-test-{uuid.uuid4().hex[:8]}",
        STREAMDECIDE_TOPIC_PARTITIONS=str(PARTITIONS),
        STREAMDECIDE_LOG_LEVEL="info",
        STREAMDECIDE_METRICS_PORT=str(free_port()),
    )
    env.update({f"STREAMDECIDE_{k.upper()}": v for k, v in settings.items()})
    return ChildProcess("worker", [sys.executable, "-m", "streams.cli", "worker"], data_dir / "worker.log", env=env).start()


def probe_order(event_id: str) -> tuple[str, bytes, bytes]:
    """An order that must get a fraud decision (used to see that a worker is alive and deciding)."""
    order = {
        "kind": "order", "event_id": event_id, "ts": now_iso(), "user_id": "probe", "channel": "web",
        "order_id": event_id, "items": [{"product_id": "x", "quantity": 1, "unit_price": 1}], "amount": 1,
        "currency": "USD", "payment": {"method": "card", "card_hash": "h"},
    }  # fmt: skip
    return as_message(ORDERS, order)


async def wait_until_deciding(bootstrap: str, worker: ChildProcess) -> None:
    """Send a probe order and wait for its fraud decision (the worker joined and is deciding)."""
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    await send(bootstrap, [probe_order(probe)])

    decided = await read_until(
        bootstrap, [FRAUD], lambda record: loads(record.value)["event_id"], lambda ids: probe in ids, WARMUP_TIMEOUT_S
    )
    if probe not in decided:
        raise AssertionError(f"worker never decided the probe:\n{worker.log_tail()}")
