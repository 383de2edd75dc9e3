"""``RecordSender.send_bytes``: a record goes to the producer as given; a refused record is logged.

Batches (``send_records``) are tested against the real broker in ``tests/integration/test_record_batches.py``.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError

from schemas.codec import encode
from schemas.events import AdSlot
from streams.produce import RecordSender


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.deliveries: list[asyncio.Future[object]] = []

    async def send(self, *args: Any) -> asyncio.Future[object]:
        self.sent.append(args)
        self.deliveries.append(asyncio.get_running_loop().create_future())
        return self.deliveries[-1]


async def test_a_record_goes_to_the_producer_as_given_and_a_refused_one_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = FakeProducer()
    sender = RecordSender(SimpleNamespace(producer=producer))  # type: ignore[arg-type]
    await sender.send_bytes("decisions.bids", b"u-1", encode(AdSlot(slot_id="s1", floor_cpm=1.5)))
    await sender.send_bytes("ops.changelog", b"k", b"{}", 3)
    topic, key, value, partition, timestamp, headers = producer.sent[0]
    assert (topic, key, partition, timestamp, headers) == ("decisions.bids", b"u-1", None, None, None)
    assert orjson.loads(value)["slot_id"] == "s1" and producer.sent[1][3] == 3
    producer.deliveries[0].set_result(object())
    producer.deliveries[1].set_exception(KafkaTimeoutError())
    with caplog.at_level(logging.ERROR, logger="streamdecide.produce"):
        await asyncio.sleep(0)
    assert [r.topic for r in caplog.records] == ["ops.changelog"]  # type: ignore[attr-defined]
    assert "KafkaTimeoutError" in caplog.records[0].error  # type: ignore[attr-defined]
