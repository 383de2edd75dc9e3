"""Micro-batches sized by what arrived: Faust's ``take_events``, but it does not wait once the input is drained.

``Stream.take_events(max_, within)`` (faust-streaming 0.15.3) yields when ``max_``
events are buffered or when ``within`` has passed since it started waiting; after
every batch it waits again. Under steady traffic each batch therefore waits out
most of the window although everything that had arrived is already in its buffer
(10 ms a batch with the default window, at every load below saturation).

:func:`take_available` is the same loop with one more reason to yield: the
stream's input queue is empty after an event was buffered, so the batch holds
every record delivered so far. At low load a batch is the few events that arrived
together and goes at once; under load events pile up while the previous batch is
decided and the next batch takes all of them (up to ``max_``): batch size follows
the load by itself. ``within`` still bounds the wait while records keep arriving.
Acknowledgements are unchanged: a batch's events are acked after its body ran
(in a ``finally``), as in ``take_events``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import faust
from mode.utils.futures import notify

from streams.settings import Batching


async def take_available(stream: faust.StreamT, max_: int, within: float) -> AsyncIterator[Sequence[faust.EventT]]:
    """Yield lists of at most ``max_`` events: all that arrived, without waiting once the input queue is empty.

    Parameters
    ----------
    stream
        An agent's stream (its channel's queue is where the consumer delivers records).
    max_
        Largest batch.
    within
        Longest wait (seconds) for a batch while records keep arriving.
    """
    events: list[faust.EventT] = []
    buffer_full = asyncio.Event()
    buffer_consumed = asyncio.Event()
    buffer_consuming: asyncio.Future[Any] | None = None
    queue = stream.channel.queue
    channel_it = aiter(stream.channel)

    async def add_to_buffer(value: Any) -> Any:
        nonlocal buffer_consuming
        try:
            if buffer_consuming is not None:
                try:
                    await buffer_consuming
                finally:
                    buffer_consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take_available found current_event is None")
            events.append(event)
            if len(events) >= max_:
                buffer_full.set()
                buffer_consumed.clear()
                await stream.wait(buffer_consumed)  # type: ignore[arg-type]
            elif queue.empty():
                buffer_full.set()
        except asyncio.CancelledError:  # pragma: no cover
            raise
        except Exception as exc:  # noqa: BLE001 - as take_events: crash the stream, never lose the event silently
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel_it)  # type: ignore[attr-defined]
    while not stream.should_stop:
        await stream.wait_for_stopped(buffer_full, timeout=within)  # type: ignore[arg-type]
        if not events:
            buffer_full.clear()
            continue
        buffer_consuming = asyncio.get_running_loop().create_future()
        try:
            yield list(events)
        finally:
            for event in events:
                await stream.ack(event)
            events.clear()
            notify(buffer_consuming)
            buffer_full.clear()
            buffer_consumed.set()


def take_batches(stream: faust.StreamT, batching: Batching) -> AsyncIterator[Sequence[faust.EventT]]:
    """The micro-batches of ``stream`` as ``batching`` says: :func:`take_available`, or Faust's ``take_events``."""
    if batching.take == "available":
        return take_available(stream, batching.max_size, batching.window_s)
    return stream.take_events(batching.max_size, within=batching.window_s)
