"""Which asyncio event loop the worker processes run: uvloop or the standard library's.

A Faust worker turns its event loop over several times per record (the fetcher's
hand-over, the conductor, the stream iterator) and per batch (Triton calls, produce
requests, timers). uvloop's loop, written on libuv, does each turn, future and socket
call with less interpreter work; Faust supports it as ``faust-streaming[uvloop]``.
Measured in the worker at 300 events/s: 1,481 against 1,743 µs of CPU per event;
at 1,500 events/s the gain shrinks to 2-3 % (see BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
from typing import Literal

EventLoopKind = Literal["uvloop", "asyncio"]


def use_event_loop(kind: EventLoopKind) -> None:
    """Make ``kind`` the loop that this process's new event loops use (call before any loop exists).

    Examples
    --------
    >>> before = asyncio.get_event_loop_policy()
    >>> use_event_loop("uvloop")
    >>> loop = asyncio.new_event_loop()
    >>> event_loop_name(loop)
    'uvloop.Loop'
    >>> loop.close()
    >>> use_event_loop("asyncio")
    >>> loop = asyncio.new_event_loop()
    >>> event_loop_name(loop)
    'asyncio.unix_events._UnixSelectorEventLoop'
    >>> loop.close()
    >>> asyncio.set_event_loop_policy(before)
    """
    if kind == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())


def event_loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """The class of ``loop``, module included (the worker logs it when it is ready)."""
    return f"{type(loop).__module__}.{type(loop).__qualname__}"
