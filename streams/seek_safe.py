"""A Faust consumer whose seek back to the committed offsets cannot lose messages (faust-streaming 0.15.3).

Why: after a (re)start Faust's recovery resumes the stream partitions and then
awaits ``perform_seek()`` (a round trip to the broker) with the flow still active,
so the fetcher's drain loop fetches and delivers records while the seek is under
way. The drain loop stores each delivered offset as the partition's *read offset*
and drops every later record below it ("DROPPED MESSAGE ROFF"). Deliveries that
straddle the seek move the read offset the seek had just reset back past records
the seek re-fetches: those are dropped although the agent never processed them
(their earlier copies sat in stream queues that recovery clears when it resumes
the flow), and later acknowledgements commit past them. Measured by the
crash-safety test before this fix: 1,713 re-fetched records dropped in the
second after a restart's seek and 203 decisions lost; in other runs a hole right
above the committed offset stalled commits; no run of six passed.

The fix: a seek runs with the flow paused and the drain loop idle.
``perform_seek`` and ``seek`` stop the flow (no new batch is fetched, a delivery
in flight returns and its batch is abandoned), wait until the drain loop has left
its batch, seek, and resume the flow if it was running (unless a rebalance
stopped it meanwhile). Records are then delivered from the committed offsets on;
what was already processed is decided again, with the same ``decision_id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from streams.eager_delivery import EagerDelivery

log = logging.getLogger(__name__)

#: How long a seek waits for the drain loop to leave its batch. With the flow
#: stopped it returns within a loop iteration; the bound only keeps a wedged
#: drain loop from blocking recovery (Faust bounds the whole seek as well).
DRAIN_IDLE_TIMEOUT_S = 10.0


class SeekSafeConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with seeks serialised against the drain loop's deliveries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._drain_idle = asyncio.Event()
        self._drain_idle.set()
        self._flow_stops = 0
        super().__init__(*args, **kwargs)

    def stop_flow(self) -> None:
        """Faust's ``stop_flow``, counted: a seek resumes only the flow it paused itself."""
        self._flow_stops += 1
        super().stop_flow()

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        """Faust's batch iterator, marking the drain loop busy from its first record to the batch's end."""
        batch = super().getmany(timeout)
        try:
            async for tp, message in batch:
                self._drain_idle.clear()
                yield tp, message
        finally:
            self._drain_idle.set()

    async def perform_seek(self) -> None:
        """Seek every partition to its committed offset once no delivery is in flight."""
        await self._while_drain_idle(super().perform_seek)

    async def seek(self, partition: TP, offset: int) -> None:
        """Seek ``partition`` to ``offset`` once no delivery is in flight."""
        await self._while_drain_idle(lambda: super(SeekSafeConsumer, self).seek(partition, offset))

    async def _while_drain_idle(self, do_seek: Callable[[], Awaitable[None]]) -> None:
        was_flowing = self.flow_active
        if was_flowing:
            log.info("seek with the flow paused")
            self.stop_flow()
        own_stop = self._flow_stops
        try:
            if not self._drain_idle.is_set():
                log.info("seek waits for the drain loop's batch", extra={"flowing": was_flowing})
                try:
                    await asyncio.wait_for(self._drain_idle.wait(), timeout=DRAIN_IDLE_TIMEOUT_S)
                except asyncio.TimeoutError:
                    log.warning("seek without an idle drain loop", extra={"waited_s": DRAIN_IDLE_TIMEOUT_S})
            await do_seek()
        finally:
            if was_flowing and self._flow_stops == own_stop and not self.flow_active:
                self.resume_flow()


class EagerSeekSafeConsumer(EagerDelivery, SeekSafeConsumer):
    """:class:`SeekSafeConsumer` whose drain loop hands records over eagerly (:mod:`streams.eager_delivery`)."""


class SeekSafeTransport(faust_aiokafka.Transport):
    """The aiokafka transport creating :class:`SeekSafeConsumer` consumers."""

    Consumer = SeekSafeConsumer


class EagerSeekSafeTransport(faust_aiokafka.Transport):
    """The aiokafka transport creating :class:`EagerSeekSafeConsumer` consumers."""

    Consumer = EagerSeekSafeConsumer


def use_seek_safe_consumer(app: faust.App, eager: bool = True) -> None:
    """Make ``app`` consume through :class:`SeekSafeConsumer`, eager or not (before anything touches its transport)."""
    transport = EagerSeekSafeTransport if eager else SeekSafeTransport
    app.transport = transport(app.conf.broker_consumer, app)
