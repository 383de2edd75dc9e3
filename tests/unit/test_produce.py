"""``RecordSender``: a model goes to the producer as orjson bytes under its key; a refused record is logged."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError

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


async def test_a_model_is_sent_encoded_under_its_key_and_a_refused_record_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = FakeProducer()
    sender = RecordSender(SimpleNamespace(producer=producer))  # type: ignore[arg-type]
    await sender.send("decisions.bids", "u-1", AdSlot(slot_id="s1", floor_cpm=1.5))
    await sender.send("decisions.bids", None, AdSlot(slot_id="s2", floor_cpm=2.0))
    topic, key, value, partition, timestamp, headers = producer.sent[0]
    assert (topic, key, partition, timestamp, headers) == ("decisions.bids", b"u-1", None, None, None)
    assert orjson.loads(value)["slot_id"] == "s1" and producer.sent[1][1] is None
    producer.deliveries[0].set_result(object())
    producer.deliveries[1].set_exception(KafkaTimeoutError())
    with caplog.at_level(logging.ERROR, logger="streamdecide.produce"):
        await asyncio.sleep(0)
    assert [r.topic for r in caplog.records] == ["decisions.bids"]  # type: ignore[attr-defined]
    assert "KafkaTimeoutError" in caplog.records[0].error  # type: ignore[attr-defined]
