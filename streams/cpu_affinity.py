"""Which CPU cores a process runs on: a decision worker on a core of its own.

A worker decides on one core. When the broker, Triton and other processes share that
core, the kernel preempts the worker in the middle of a micro-batch, and every event
of the batch waits. Production deployments give latency-critical processes cores of
their own (Kubernetes' static CPU manager policy, ``taskset``, systemd's
``CPUAffinity=``); ``STREAMDECIDE_CPU_AFFINITY`` does it from the settings, and
``streamdecide bench`` does it for the whole stack on one machine
(:func:`core_layout`; measured in BENCHMARKS.md).

Core lists use the Linux ``cpulist`` syntax: ``1``, ``0,2``, ``2-5``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from schemas.errors import StreamdecideError

_TASKS = "/proc/self/task"
CPU_AFFINITY_SETTING = "STREAMDECIDE_CPU_AFFINITY"
"""The environment variable of ``Settings.cpu_affinity`` (a child process's cores)."""


def parse_cpulist(text: str) -> frozenset[int]:
    """The cores of a ``cpulist`` (``"0,2-3"``); empty text is no cores.

    Examples
    --------
    >>> sorted(parse_cpulist("0,2-3")), parse_cpulist(" ")
    ([0, 2, 3], frozenset())
    >>> parse_cpulist("3-1")
    Traceback (most recent call last):
    ...
    ValueError: core range '3-1' runs backwards
    >>> parse_cpulist("one")
    Traceback (most recent call last):
    ...
    ValueError: 'one' is not a core number or range (use e.g. 1 or 0,2-3)
    """
    cores: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"{part!r} is not a core number or range (use e.g. 1 or 0,2-3)")
        first, last = int(low), int(high or low)
        if last < first:
            raise ValueError(f"core range {part!r} runs backwards")
        cores.update(range(first, last + 1))
    return frozenset(cores)


def format_cpulist(cores: frozenset[int] | set[int]) -> str:
    """The ``cpulist`` text of ``cores``, ranges joined.

    Examples
    --------
    >>> format_cpulist({0, 2, 3, 4, 7})
    '0,2-4,7'
    """
    runs: list[list[int]] = []
    for core in sorted(cores):
        if runs and core == runs[-1][1] + 1:
            runs[-1][1] = core
        else:
            runs.append([core, core])
    return ",".join(str(first) if first == last else f"{first}-{last}" for first, last in runs)


def pin_process(cores: frozenset[int]) -> None:
    """Run every thread of this process, and the threads and children it starts later, on ``cores``.

    ``sched_setaffinity`` sets one thread; threads that exist already (BLAS pools started
    at import) are set one by one. Raises :class:`StreamdecideError` naming the cores this
    machine has when a core is not one of them.
    """
    if not cores:
        return
    try:
        for task in os.listdir(_TASKS):
            try:
                os.sched_setaffinity(int(task), cores)
            except ProcessLookupError:
                continue  # the thread ended meanwhile
    except OSError as exc:
        online = format_cpulist(set(range(os.cpu_count() or 1)))
        raise StreamdecideError(
            f"cannot run on cores {format_cpulist(cores)}: {exc.strerror or exc} (this machine has cores {online})"
        ) from exc


@dataclass(frozen=True)
class CoreLayout:
    """Cores for each worker process (one each) and for everything else (broker, Triton, the load driver)."""

    workers: tuple[int, ...]
    rest: frozenset[int]

    def as_json(self) -> dict[str, object]:
        """The layout as ``streamdecide bench`` prints it."""
        return {"workers": list(self.workers), "rest": format_cpulist(self.rest)}


def core_layout(available: frozenset[int], workers: int) -> CoreLayout | None:
    """A core of its own for each of ``workers`` (the highest-numbered), the rest for everything else.

    None when the cores do not allow it: every worker needs one, and one must be left.

    Examples
    --------
    >>> core_layout(frozenset({0, 1}), 1)
    CoreLayout(workers=(1,), rest=frozenset({0}))
    >>> core_layout(frozenset({0, 1, 2, 3}), 2).as_json()
    {'workers': [2, 3], 'rest': '0-1'}
    >>> core_layout(frozenset({0, 1}), 2) is None
    True
    """
    if workers < 1 or len(available) <= workers:
        return None
    ordered = sorted(available)
    return CoreLayout(tuple(ordered[-workers:]), frozenset(ordered[:-workers]))
