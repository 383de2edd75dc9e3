"""A seek back to the committed offsets runs with the flow paused and no delivery in flight.

The end-to-end proof (no event lost across SIGTERM and SIGKILLs) is
``tests/integration/test_crash_safety.py``; these pin the ordering it relies on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.app import create_app
from streams.seek_safe import SeekSafeConsumer
from streams.settings import Settings

PARTITION = TP("events.clicks", 0)


class FetchedBatch(faust_aiokafka.Consumer):
    """Stands in for the broker fetch under :class:`SeekSafeConsumer`: one batch of offsets 5-7.

    Like Faust's ``getmany`` it stops handing out records once the flow is stopped.
    """

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        for offset in (5, 6, 7):
            if not self.flow_active:
                break
            yield PARTITION, offset


class ProbedConsumer(SeekSafeConsumer, FetchedBatch):
    """The seek-safe consumer over :class:`FetchedBatch`, recording what the broker seek saw."""

    events: list[str]

    async def seek_to_committed(self) -> dict[TP, int]:
        self.events.append(f"seek (flow {'active' if self.flow_active else 'paused'})")
        return {PARTITION: 3}


def consumer() -> ProbedConsumer:
    """A :class:`ProbedConsumer` of a real app (no broker is contacted)."""
    app, _ = create_app(Settings(_env_file=None, kafka_bootstrap="127.0.0.1:1"))
    app.transport.Consumer = ProbedConsumer  # type: ignore[misc]
    probe = app.consumer
    assert isinstance(probe, ProbedConsumer)
    probe.events = []
    return probe


def test_a_seek_pauses_a_running_flow_and_resumes_it() -> None:
    async def scenario() -> tuple[list[str], bool, int | None]:
        probe = consumer()
        await probe.perform_seek()
        return probe.events, probe.flow_active, probe._read_offset[PARTITION]

    assert asyncio.run(scenario()) == (["seek (flow paused)"], True, 3)


def test_a_seek_waits_until_the_delivery_in_flight_has_left_its_batch() -> None:
    async def scenario() -> list[str]:
        probe = consumer()
        batch = probe.getmany(timeout=1.0)
        _, offset = await batch.__anext__()
        probe.events.append(f"delivering {offset}")
        seek = asyncio.create_task(probe.perform_seek())
        await asyncio.sleep(0.05)
        probe.events.append(f"seek done: {seek.done()}")
        probe.events.extend([f"delivering {offset}" async for _, offset in batch])
        probe.events.append("batch left")
        await seek
        return probe.events

    assert asyncio.run(scenario()) == ["delivering 5", "seek done: False", "batch left", "seek (flow paused)"]


def test_a_flow_stopped_by_a_rebalance_during_the_seek_stays_stopped() -> None:
    async def scenario() -> tuple[list[str], bool]:
        probe = consumer()
        batch = probe.getmany(timeout=1.0)
        await batch.__anext__()
        seek = asyncio.create_task(probe.perform_seek())
        await asyncio.sleep(0.01)
        probe.stop_flow()
        probe.events.append("rebalance stopped the flow")
        _ = [offset async for _, offset in batch]
        await seek
        return probe.events, probe.flow_active

    assert asyncio.run(scenario()) == (["rebalance stopped the flow", "seek (flow paused)"], False)
