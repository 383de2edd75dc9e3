"""CPU time and peak memory of processes, read from /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """CPU seconds (user + system) and peak resident memory of a process tree."""

    cpu_s: float
    peak_rss_mb: float
    processes: int


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _one(pid: int) -> tuple[float, float]:
    fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    peak_kb = 0
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
    return cpu, peak_kb / 1024


def tree_stat(pid: int, children: bool = True) -> ProcStat | None:
    """CPU seconds and summed peak RSS of ``pid`` and (optionally) its live descendants; None if gone.

    Examples
    --------
    >>> stat = tree_stat(os.getpid())
    >>> stat.cpu_s > 0 and stat.peak_rss_mb > 0 and stat.processes >= 1
    True
    """
    tree = _children() if children else {}
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(tree.get(current, []))
    cpu = rss = 0.0
    counted = 0
    for p in pids:
        try:
            c, r = _one(p)
        except (OSError, IndexError, ValueError):
            continue
        cpu, rss, counted = cpu + c, rss + r, counted + 1
    return ProcStat(round(cpu, 2), round(rss, 1), counted) if counted else None
