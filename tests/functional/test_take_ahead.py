"""``take_ahead`` under Faust's ``test_context()``: it reads on while a batch is decided, acks a batch only when done.

The agent decides its first batch until the test lets it go. Meanwhile the stream is read
up to ``read_ahead`` events further, so the next batch is full at once; the first batch is
acknowledged only when the agent asks for the next one, and a batch the agent raised on
is never acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust

from streams.take_ahead import take_ahead

MAX_SIZE, READ_AHEAD, WINDOW_S = 4, 3, 0.05
SETTLE_S = 5.0


async def until(condition: Any) -> None:
    deadline = time.monotonic() + SETTLE_S
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


def app_with_agent(seen: list[int], batches: list[list[Any]], gate: asyncio.Event, fail_on: int | None = None) -> Any:
    app = faust.App("take-ahead-test", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False,
                    autodiscover=False)  # fmt: skip
    topic = app.topic("take-ahead", key_serializer="raw", value_serializer="raw")

    async def agent(stream: faust.StreamT) -> None:
        stream.add_processor(lambda value: seen.append(int(value)) or value)
        async for events in take_ahead(stream, MAX_SIZE, WINDOW_S, READ_AHEAD):
            batches.append(events)
            if len(batches) == 1:
                await gate.wait()
            if fail_on is not None and any(int(e.value) == fail_on for e in events):
                raise RuntimeError("deciding failed")

    return app.agent(topic, name="take-ahead")(agent)


async def test_reads_ahead_while_deciding_and_acks_a_batch_only_when_done() -> None:
    seen: list[int] = []
    batches: list[list[Any]] = []
    gate = asyncio.Event()
    agent = app_with_agent(seen, batches, gate)
    async with agent.test_context() as tester:
        for value in range(10):
            await tester.put(str(value).encode(), key=b"k", wait=False)
        await until(lambda: len(seen) >= MAX_SIZE + READ_AHEAD)
        await asyncio.sleep(WINDOW_S)  # time to read further, were it allowed
        assert [int(e.value) for e in batches[0]] == [0, 1, 2, 3]
        assert seen == list(range(MAX_SIZE + READ_AHEAD))  # read ahead, and no further
        assert not any(e.message.acked for e in batches[0])  # still being decided
        gate.set()
        await until(lambda: len(batches) == 3)
        assert [[int(e.value) for e in batch] for batch in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
        assert all(e.message.acked for batch in batches[:2] for e in batch)


async def test_a_batch_the_agent_raised_on_is_not_acknowledged() -> None:
    seen: list[int] = []
    batches: list[list[Any]] = []
    gate = asyncio.Event()
    gate.set()
    agent = app_with_agent(seen, batches, gate, fail_on=1)
    async with agent.test_context() as tester:
        for value in range(3):
            await tester.put(str(value).encode(), key=b"k", wait=False)
        await until(lambda: bool(batches))
        await asyncio.sleep(WINDOW_S)
    assert [int(e.value) for e in batches[0]] == [0, 1, 2]
    assert not any(e.message.acked for e in batches[0])
