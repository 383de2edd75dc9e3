"""Helpers of the fault and hostile-input tests: send with coordinates, read topics whole, probe, measure.

:func:`read_topics` reads with :func:`~tests.integration.pipeline.read_until` (every
partition from offset 0, no consumer group, no record skipped) and keeps each record's
coordinates, which the hostile-input test matches dead letters by.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.codec import loads
from streams.embedded.process import ChildProcess, process_group_members
from streams.embedded.triton import EmbeddedTriton
from tests.integration.pipeline import MAX_REQUEST_BYTES, probe_order, read_until

PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Read:
    """One record read back: its coordinates and its JSON value."""

    topic: str
    partition: int
    offset: int
    value: dict[str, Any]


async def send_all(
    bootstrap: str, messages: Iterable[tuple[str, bytes | None, bytes | None]]
) -> list[tuple[str, int, int]]:
    """Publish ``(topic, key, value)`` in order; returns each record's ``(topic, partition, offset)``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=MAX_REQUEST_BYTES, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for topic, key, value in messages]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.topic, m.partition, m.offset) for m in metadata]


async def read_topics(
    bootstrap: str, topics: Sequence[str], done: Callable[[list[Read]], bool], timeout_s: float
) -> list[Read]:
    """Every record of ``topics`` from offset 0, with coordinates, until ``done(records)`` or ``timeout_s`` passes."""
    return await read_until(
        bootstrap, topics, lambda r: Read(r.topic, r.partition, r.offset, loads(r.value)), done, timeout_s
    )


async def probe(bootstrap: str, worker: ChildProcess, decision_topic: str) -> dict[str, Any]:
    """Send a probe order and return its decision; fails with the worker's log tail if none comes."""
    event_id = f"probe-{uuid.uuid4().hex[:8]}"
    await send_all(bootstrap, [probe_order(event_id)])
    found = await read_topics(
        bootstrap, [decision_topic], lambda out: any(r.value.get("event_id") == event_id for r in out),
        PROBE_TIMEOUT_S,
    )  # fmt: skip
    mine = [r.value for r in found if r.value.get("event_id") == event_id]
    assert mine, f"worker gave no decision for {event_id}:\n{worker.log_tail()}"
    return mine[0]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of one process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def crash_lines(log_path: Path) -> list[str]:
    """Lines of a worker log that report a crashed agent or an unhandled exception."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    return [line for line in text.splitlines() if "Crashed" in line or "Traceback" in line]


def _shared_memory_of(pids: Iterable[int]) -> set[Path]:
    """``/dev/shm`` files mapped by ``pids`` (Triton's python-backend regions)."""
    found: set[Path] = set()
    for pid in pids:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        found.update(Path(line.split()[-1]) for line in maps.splitlines() if "/dev/shm/" in line)
    return found


def kill_triton(server: EmbeddedTriton) -> None:
    """SIGKILL a tritonserver we started and its stubs (its process group), then remove its shared memory.

    A killed server cannot unlink its python-backend regions itself; only the files
    mapped by this server's own processes are removed.
    """
    pgid = server.pid
    assert pgid is not None and server.running, "the server is not running"
    regions = _shared_memory_of(process_group_members(pgid))
    os.killpg(pgid, signal.SIGKILL)
    server.stop()  # reaps the group (already dead: returns at once)
    for region in regions:
        region.unlink(missing_ok=True)


def restart_triton(old: EmbeddedTriton, repository: Path, models: list[str], work_dir: Path) -> EmbeddedTriton:
    """A new tritonserver on the ports of ``old`` (the worker keeps its configured URL)."""
    ports = old.ports
    server = EmbeddedTriton()
    server.start(repository, models, ports["http"], ports["grpc"], ports["metrics"], work_dir / "tritonserver.log",
                 work_dir)  # fmt: skip
    return server


def log_events(log_path: Path, message: str) -> list[dict[str, Any]]:
    """JSON log records of a worker log whose ``message`` is ``message``."""
    out = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if message in line and line.startswith("{"):
            record = loads(line)
            if record.get("message") == message:
                out.append(record)
    return out
