"""Micro-batches from a Faust stream that keep filling while the previous one is decided.

Faust's ``Stream.take_events`` stops reading the stream from the moment it hands a batch
over until the agent asks for the next one. A decision agent spends part of that time
waiting (Triton's answers, a search's query intent); nothing then reads the stream, and
the next batch starts empty and waits out its window. :func:`take_ahead` reads on, up
to ``read_ahead`` events beyond the batch being decided, so the agent's waits are spent
on the per-event work of reading and the next batch is often full at once.

The same Faust machinery reads the stream (a processor on the passively consumed stream,
as in ``take_events``); a batch's events are acknowledged when the agent asks for the
next batch, not before, and never when the agent raises or stops in between, so a batch
that was not fully decided is delivered again (at-least-once).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust


async def take_ahead(
    stream: faust.StreamT, max_size: int, within_s: float, read_ahead: int
) -> AsyncIterator[list[faust.EventT]]:
    """Batches of at most ``max_size`` events: as soon as that many are read, else ``within_s`` after the ask.

    While the agent waits for a batch, at most ``max_size`` events are read for it; while it
    decides one, up to ``read_ahead`` more are read for the next. Beyond that reading pauses
    (and Faust's own buffer, then the consumer, apply backpressure).
    """
    events: list[faust.EventT] = []
    full, room = asyncio.Event(), asyncio.Event()
    room.set()
    deciding = False

    async def add_to_buffer(value: Any) -> Any:
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_ahead: the stream has no current event")
        events.append(event)
        if len(events) >= max_size:
            full.set()
        while len(events) >= (read_ahead if deciding else max_size) and not stream.should_stop:
            room.clear()
            await stream.wait(room)  # type: ignore[arg-type]
        return value

    acks_enabled = stream.enable_acks
    stream.enable_acks = False  # acknowledged below, once the agent is done with the batch
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))  # type: ignore[attr-defined]
    try:
        while not stream.should_stop:
            if not full.is_set():
                await stream.wait_for_stopped(full, timeout=within_s)  # type: ignore[arg-type]
            if not events:
                continue
            batch = events[:max_size]
            del events[:max_size]
            if len(events) < max_size:
                full.clear()
            deciding = True
            room.set()
            yield batch
            deciding = False
            room.set()
            for event in batch:
                await stream.ack(event)
    finally:
        stream.enable_acks = acks_enabled
        stream._processors.remove(add_to_buffer)  # type: ignore[attr-defined]
