"""``take_available``: batches go once the input is drained, fill up under load, and stay within ``max_``."""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from streams.app import create_app
from streams.settings import Batching, Settings
from streams.take import take_available, take_batches

LONG_WINDOW_S = 30.0
"""Far longer than any test may wait: a batch that waited it out would time the test out."""
TEST_TIMEOUT_S = 10.0


def agent_taking(max_: int, gate: asyncio.Event | None = None) -> tuple[Any, list[list[bytes]]]:
    """An agent on a fresh app that records its batches; with ``gate``, each batch waits for it to be set."""
    app, _ = create_app(Settings(_env_file=None, kafka_bootstrap="127.0.0.1:1", topic_partitions=1))
    topic = app.topic("t", key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    batches: list[list[bytes]] = []

    async def body(stream: faust.StreamT) -> None:
        async for events in take_available(stream, max_, LONG_WINDOW_S):
            batches.append([e.value for e in events])
            if gate is not None:
                await gate.wait()
                gate.clear()

    return app.agent(topic, name="taker")(body), batches


async def until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.005)


async def test_a_lone_event_goes_at_once_not_after_the_window() -> None:
    agent, batches = agent_taking(max_=256)
    async with agent.test_context() as taker:
        await taker.put(b"a", key=b"k", wait=False)
        await asyncio.wait_for(until(lambda: batches), TEST_TIMEOUT_S)
    assert batches == [[b"a"]]


async def test_events_that_arrive_during_a_batch_form_the_next_one_up_to_max() -> None:
    gate = asyncio.Event()
    agent, batches = agent_taking(max_=4, gate=gate)
    async with agent.test_context() as taker:
        await taker.put(b"first", key=b"k", wait=False)
        await asyncio.wait_for(until(lambda: len(batches) == 1), TEST_TIMEOUT_S)
        for i in range(6):
            await taker.put(str(i).encode(), key=b"k", wait=False)
        gate.set()
        await asyncio.wait_for(until(lambda: len(batches) == 2), TEST_TIMEOUT_S)
        gate.set()
        await asyncio.wait_for(until(lambda: sum(map(len, batches)) == 7), TEST_TIMEOUT_S)
        gate.set()
    assert batches[0] == [b"first"]
    assert batches[1] == [b"0", b"1", b"2", b"3"] and batches[2] == [b"4", b"5"]


def test_the_setting_picks_the_take() -> None:
    class FakeStream:
        def take_events(self, max_: int, within: float) -> tuple[int, float]:
            return max_, within

    assert take_batches(FakeStream(), Batching(max_size=8, window_s=0.5)) == (8, 0.5)  # type: ignore[arg-type]
    available = take_batches(FakeStream(), Batching(take="available", max_size=8))  # type: ignore[arg-type]
    assert available.__class__.__name__ == "async_generator"
