"""The drain loop's eager hand-over: same results as mode's ``wait_first``, fewer tasks."""

from __future__ import annotations

import asyncio

import pytest
from mode import Service

from streams.eager_delivery import EagerDelivery, finish_started


class Drain(EagerDelivery, Service):
    """A service shaped like Faust's consumer: ``suspend_flow`` plus mode's stopped and crashed events."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


async def test_a_callback_that_does_not_wait_is_delivered_without_a_task() -> None:
    drain = Drain()
    tasks_before = len(asyncio.all_tasks())

    async def deliver() -> str:
        return "delivered"

    coro = deliver()
    result = await drain.wait_first(coro, drain.suspend_flow.wait())
    assert (result.done, result.results, result.stopped) == ([coro], ["delivered"], False)
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_callback_that_waits_finishes_after_its_wait() -> None:
    drain = Drain()
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)

    async def deliver() -> int:
        await queue.put(1)
        return queue.qsize()

    asyncio.get_running_loop().call_later(0.01, queue.get_nowait)
    result = await drain.wait_first(deliver(), drain.suspend_flow.wait())
    assert result.results == [1] and not result.stopped
    assert queue.get_nowait() == 1


async def test_a_suspension_while_the_callback_waits_wins_and_cancels_it() -> None:
    drain = Drain()
    cancelled = asyncio.Event()

    async def deliver() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.01, drain.suspend_flow.set)
    result = await drain.wait_first(deliver(), drain.suspend_flow.wait())
    assert result.results == [True] and not result.stopped
    await asyncio.wait_for(cancelled.wait(), 1.0)


async def test_a_suspended_drain_takes_the_old_path() -> None:
    drain = Drain()
    drain.suspend_flow.set()

    async def deliver() -> str:
        return "delivered"

    result = await drain.wait_first(deliver(), drain.suspend_flow.wait())
    assert set(result.results) <= {"delivered", True} and result.results


async def test_an_error_in_the_first_step_propagates() -> None:
    drain = Drain()

    async def deliver() -> None:
        raise KeyError("bad record")

    with pytest.raises(KeyError):
        await drain.wait_first(deliver(), drain.suspend_flow.wait())


async def test_finish_started_passes_errors_and_bare_yields_through() -> None:
    loop = asyncio.get_running_loop()
    failing = loop.create_future()

    async def catches() -> str:
        await asyncio.sleep(0)
        try:
            await failing
        except ValueError as exc:
            return f"caught {exc}"
        return "not reached"

    coro = catches()
    awaiting = coro.send(None)
    loop.call_later(0.01, failing.set_exception, ValueError("x"))
    assert await finish_started(coro, awaiting) == "caught x"

    uncaught = loop.create_future()

    async def raises() -> None:
        await uncaught

    coro = raises()
    awaiting = coro.send(None)
    loop.call_later(0.01, uncaught.set_exception, KeyError("k"))
    with pytest.raises(KeyError):
        await finish_started(coro, awaiting)


async def test_finish_started_cancels_the_callback_with_its_task() -> None:
    seen: list[str] = []
    pending = asyncio.get_running_loop().create_future()

    async def waits() -> None:
        try:
            await pending
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    coro = waits()
    task = asyncio.ensure_future(finish_started(coro, coro.send(None)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"] and pending.cancelled()
