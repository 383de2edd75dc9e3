"""Decisions straight to the worker's Kafka producer: the hot path's sends without Faust's per-message machinery.

``Topic.send`` wraps every message in a ``FutureMessage``, goes through the channel's
codec and sensors and attaches callbacks; at 0.7 decisions per event that was about
5 % of the decision worker's samples in ``py-spy``. :class:`RecordSender` encodes a
model with the orjson codec and hands the bytes to ``app.producer`` (the producer Faust's
commit flushes before it commits offsets), with the same key partitioning, so
at-least-once holds as before. A record the broker finally refuses is logged, as
Faust logs it.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import faust
from pydantic import BaseModel

from schemas.codec import encode

log = logging.getLogger("streamdecide.produce")


class RecordSender:
    """Sends models as orjson records through ``app.producer``."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def send(self, topic: str, key: str | None, value: BaseModel) -> None:
        """Hand one record to the producer (delivery is awaited by Faust's next commit, which flushes first)."""
        await self.send_bytes(topic, key.encode() if key is not None else None, encode(value))

    async def send_bytes(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        """Hand one encoded record to the producer, to ``partition`` (default: by key, as Faust partitions)."""
        delivery = await self.app.producer.send(topic, key, value, partition, None, None)
        delivery.add_done_callback(partial(_log_refused, topic))  # type: ignore[attr-defined]


def _log_refused(topic: str, delivery: asyncio.Future[object]) -> None:
    if not delivery.cancelled() and (exc := delivery.exception()) is not None:
        log.error("record not delivered", extra={"topic": topic, "error": f"{type(exc).__name__}: {exc}"[:200]})
