"""Crash safety (issue 7): a killed or stopped worker resumes without losing events.

A steady open-loop synthetic stream of 20,000 events goes through the real tansu broker,
the real worker and the real Triton. The worker's process group gets SIGTERM once, then
SIGKILL three times; each time it is restarted in the same consumer group. Afterwards every
eligible event has a decision (read with :func:`~streams.consume.read_complete`, after the
group's committed offsets reached the end of every input partition), duplicates share their
``decision_id``, and none of them is of an event below the offsets committed just before the
first SIGKILL: the clean stop decided nothing twice (a SIGKILL replays from its worker's last
commit, which is later). One stream, one worker start: the module fits the CI time budget.
Figures (duplicates, rejoin seconds) are printed and recorded as test properties.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.codec import encode, loads
from schemas.decisions import decision_id_for
from streams.consume import ReadStats, read_complete
from streams.embedded.process import ChildProcess
from streams.embedded.triton import EmbeddedTriton
from streams.synthetic.produce import EVENTS_TOTAL, produce_synthetic
from streams.synthetic.traffic import iter_catalog
from streams.synthetic.world import World
from streams.topics import BIDS, EVENT_TOPICS, FRAUD, PRICES, PRODUCTS
from tests.integration.conftest import start_broker
from tests.integration.pipeline import (
    MAX_REQUEST_BYTES,
    PARTITIONS,
    create_topics,
    read_all,
    send,
    start_worker,
    wait_until_deciding,
)

pytestmark = pytest.mark.integration

SEED: Final = 7
RATE_EPS: Final = 250.0
EVENTS: Final = 20_000
STOP_AT: Final = 0.15
"""Fraction of the stream after which the worker gets SIGTERM."""
KILL_AT: Final = (0.35, 0.55, 0.75)
"""Fractions after which it gets SIGKILL (each time once the restarted worker decides again)."""
DRAIN_TIMEOUT_S: Final = 120.0
READ_TIMEOUT_S: Final = 120.0
EXIT_TIMEOUT_S: Final = 30.0
WORKER_ENV: Final = {"intent__enabled": "false", "fetch_max_wait_ms": "1000"}
"""Search queries unclassified: ``query_intent`` on two shared CPU cores is the slowest model, and
this test is about offsets, not search; every search slot still gets its bid decision.
A long fetch wait: tansu lists every batch of each fetched partition within the wait, one
partition after the other, and with the default 20 ms a restarted worker's fetches never
reached the backlog of ``events.clicks[0]`` (8,000 single-event batches): it stayed at
offset 2,891 for two minutes (see :mod:`streams.consume`)."""
PRODUCER_LINGER_MS: Final = 200
"""The producer batches 200 ms of events (about 8 per partition) instead of one or two: tansu
stores one batch per produce request and lists them all on each fetch, so fewer, larger batches
keep a restarted worker's fetches from stalling on a long backlog (in CI, with 5 ms, the commit
on ``events.searches[0]`` stayed at 332 of 2,061 for 120 s)."""
DECISION_TYPE: Final = {BIDS: "bid", PRICES: "price", FRAUD: "fraud"}


def expected_decisions(event: dict[str, Any], catalogued: set[str]) -> Iterable[tuple[str, str]]:
    """``(topic, decision_id)`` of each decision the contract promises for an input event."""
    if event.get("ad_slot") is not None:
        yield BIDS, decision_id_for(event["event_id"], "bid")
    if event["kind"] == "product_view" and event.get("product_id") in catalogued:
        yield PRICES, decision_id_for(event["event_id"], "price")
    if event["kind"] == "order":
        yield FRAUD, decision_id_for(event["event_id"], "fraud")


@dataclass
class Outcome:
    """What one run wrote, checked against what the contract promises."""

    events: int
    lost: list[tuple[str, str]]
    decisions: int
    duplicates: int
    duplicates_before_kill: list[str]
    """Duplicated decisions of events below the offsets committed just before the first SIGKILL."""
    inconsistent: list[str]
    lost_at: dict[str, list[int]] = field(default_factory=dict)
    """Input offsets of the lost decisions' events, per ``topic[partition]``."""
    rejoin_s: list[float] = field(default_factory=list)
    read: ReadStats = field(default_factory=ReadStats)


class Workers:
    """The worker child processes of one consumer group, all stopped by the test's finalizer."""

    def __init__(self, request: pytest.FixtureRequest, bootstrap: str, triton_url: str, data_dir: Path) -> None:
        self.request, self.bootstrap, self.triton_url, self.data_dir = request, bootstrap, triton_url, data_dir
        self.group = f"sd-crash-{uuid.uuid4().hex[:8]}"
        self.current: ChildProcess | None = None

    def start(self) -> ChildProcess:
        worker = start_worker(self.bootstrap, self.triton_url, self.data_dir, app_id=self.group, **WORKER_ENV)
        self.request.addfinalizer(worker.stop)
        self.current = worker
        return worker

    async def signal_and_restart(self, signum: signal.Signals) -> float:
        """Send ``signum`` to the worker's process group, restart it; seconds until it decides again."""
        worker = self.current
        assert worker is not None and worker.pid is not None and worker.alive, "no running worker"
        os.killpg(worker.pid, signum)
        await asyncio.to_thread(wait_exit, worker, EXIT_TIMEOUT_S)
        began = time.monotonic()
        restarted = self.start()
        await wait_until_deciding(self.bootstrap, restarted)
        return time.monotonic() - began


def wait_exit(worker: ChildProcess, timeout_s: float) -> None:
    """Wait for the worker to exit by itself (after a signal); fail, stopping it, if it does not."""
    deadline = time.monotonic() + timeout_s
    while worker.alive and time.monotonic() < deadline:
        time.sleep(0.1)
    if worker.alive:
        worker.stop()
        raise AssertionError(f"worker still running {timeout_s} s after the signal:\n{worker.log_tail()}")
    worker.stop()  # reaps it and anything left in its process group


@dataclass
class Stream:
    """What happened while the stream ran."""

    rejoin_s: list[float] = field(default_factory=list)
    committed_before_kill: dict[TopicPartition, int] = field(default_factory=dict)
    """The group's committed input offsets just before the first SIGKILL."""
    committed_at_signals: list[dict[TopicPartition, int]] = field(default_factory=list)
    """The group's committed input offsets just before each signal (to place lost events)."""


async def run_stream(workers: Workers, events: int, signal_at: dict[float, signal.Signals]) -> Stream:
    """Produce ``events`` at ``RATE_EPS``; at each fraction of them, signal and restart the worker."""
    sent = {EVENTS_TOTAL: 0}

    def progress(counts: dict[str, int]) -> None:
        sent[EVENTS_TOTAL] = counts.get(EVENTS_TOTAL, 0)

    producer = asyncio.create_task(produce_synthetic(
        workers.bootstrap, rate_eps=RATE_EPS, duration_s=None, max_events=events, seed=SEED, scenario=None,
        client_kwargs={"linger_ms": PRODUCER_LINGER_MS}, on_progress=progress))  # fmt: skip
    stream = Stream()
    try:
        for fraction, signum in sorted(signal_at.items()):
            while sent[EVENTS_TOTAL] < fraction * events:
                if producer.done():
                    producer.result()
                    raise AssertionError(f"the stream ended before {fraction:.0%} of it was sent")
                await asyncio.sleep(0.2)
            parts = [TopicPartition(t, p) for t in EVENT_TOPICS for p in range(PARTITIONS)]
            stream.committed_at_signals.append(await committed_offsets(workers.bootstrap, workers.group, parts))
            if signum == signal.SIGKILL and not stream.committed_before_kill:
                stream.committed_before_kill = stream.committed_at_signals[-1]
            stream.rejoin_s.append(await workers.signal_and_restart(signum))
        await producer
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
    return stream


async def committed_offsets(bootstrap: str, group: str, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=parts)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in committed.items() if meta is not None}


async def wait_drained(bootstrap: str, group: str, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    """Wait until ``group`` committed the end of every input partition (decisions are flushed before a commit).

    Returns the last committed offsets seen: short of ``ends`` when the wait timed out.
    """
    committed: dict[TopicPartition, int] = {}

    async def poll() -> None:
        nonlocal committed
        while True:
            committed = await committed_offsets(bootstrap, group, list(ends))
            if all(committed.get(tp, -1) >= end for tp, end in ends.items()):
                return
            await asyncio.sleep(1.0)

    with suppress(TimeoutError):
        await asyncio.wait_for(poll(), DRAIN_TIMEOUT_S)
    return committed


def stalled(
    committed: dict[TopicPartition, int], ends: dict[TopicPartition, int],
    events: list[tuple[ConsumerRecord, dict[str, Any]]], decided_ids: set[tuple[str, str]], catalogued: set[str],
) -> dict[str, dict[str, object]]:
    """For each partition whose commit stopped short of its end: whether the events at and after it were decided.

    A commit stuck at an event that never got its decision while later ones did means that one
    message was dropped between the fetch and the agent (not acknowledged, so never committed past).
    """
    out: dict[str, dict[str, object]] = {}
    for tp, end in ends.items():
        at = committed.get(tp, -1)
        if at >= end:
            continue
        after = [(r.offset, all(pair in decided_ids for pair in expected_decisions(e, catalogued)))
                 for r, e in events if TopicPartition(r.topic, r.partition) == tp and r.offset >= at]  # fmt: skip
        out[f"{tp.topic}[{tp.partition}]"] = {
            "committed": at, "end": end, "first_after_commit": after[:5],
            "undecided_after_commit": sum(not ok for _, ok in after),
            "decided_after_commit": sum(ok for _, ok in after),
        }  # fmt: skip
    return out


async def read_inputs(bootstrap: str, stats: ReadStats) -> list[tuple[ConsumerRecord, dict[str, Any]]]:
    """Every input and catalog record with its coordinates."""
    reader = read_complete(bootstrap, [*EVENT_TOPICS, PRODUCTS], max_message_bytes=MAX_REQUEST_BYTES, stats=stats)
    return [(record, loads(record.value)) async for record in reader]


async def check(bootstrap: str, workers: Workers, stream: Stream) -> Outcome:
    """Read inputs and decisions completely and compare them with the contract."""
    inputs_stats = ReadStats()
    inputs = await asyncio.wait_for(read_inputs(bootstrap, inputs_stats), READ_TIMEOUT_S)
    ends = {tp: end for tp, end in inputs_stats.ends.items() if tp.topic in EVENT_TOPICS}
    assert workers.current is not None
    committed = await wait_drained(bootstrap, workers.group, ends)
    catalogued = {v["product_id"] for r, v in inputs if r.topic == PRODUCTS}
    events = [(r, v) for r, v in inputs if r.topic in EVENT_TOPICS and not str(v.get("event_id")).startswith("probe-")]
    wanted = {pair for _, e in events for pair in expected_decisions(e, catalogued)}
    before_kill = {
        e["event_id"] for r, e in events
        if r.offset < stream.committed_before_kill.get(TopicPartition(r.topic, r.partition), 0)
    }  # fmt: skip

    stats = ReadStats()
    decided = await asyncio.wait_for(read_all(bootstrap, [BIDS, PRICES, FRAUD], stats), READ_TIMEOUT_S)
    ids = Counter((t, v["decision_id"]) for t, v in decided)
    if behind := stalled(committed, ends, events, set(ids), catalogued):
        raise AssertionError(f"worker did not commit the input ends within {DRAIN_TIMEOUT_S:.0f} s: {behind}; "
                             f"committed at each signal {signal_commits(stream)}\n"
                             f"{workers.current.log_tail()}")  # fmt: skip
    inconsistent = [
        v["decision_id"] for t, v in decided
        if v["decision_id"] != decision_id_for(v["event_id"], DECISION_TYPE[t])
    ]  # fmt: skip
    duplicated = {decision_id for (_, decision_id), n in ids.items() if n > 1}
    lost = sorted(wanted - set(ids))
    return Outcome(
        events=len(events), lost=lost, lost_at=where(lost, events, catalogued), decisions=len(decided),
        duplicates=sum(n - 1 for n in ids.values()),
        duplicates_before_kill=sorted({v["decision_id"] for _, v in decided
                                       if v["decision_id"] in duplicated and v["event_id"] in before_kill}),
        inconsistent=inconsistent, rejoin_s=stream.rejoin_s, read=stats,
    )  # fmt: skip


def where(lost: list[tuple[str, str]], events: list[tuple[ConsumerRecord, dict[str, Any]]],
          catalogued: set[str]) -> dict[str, list[int]]:
    """The input offsets of the events whose decisions are missing, per ``topic[partition]``."""
    missing = set(lost)
    found: dict[str, list[int]] = {}
    for record, event in events:
        if any(pair in missing for pair in expected_decisions(event, catalogued)):
            found.setdefault(f"{record.topic}[{record.partition}]", []).append(record.offset)
    return found


def signal_commits(stream: Stream) -> list[dict[str, int]]:
    """The group's committed input offsets just before each signal, by ``topic[partition]``."""
    return [{f"{tp.topic}[{tp.partition}]": offset for tp, offset in c.items()} for c in stream.committed_at_signals]


def report(name: str, outcome: Outcome, record: Callable[[str, object], None]) -> None:
    print(f"\n{name}: {outcome.events} events, {outcome.decisions} decisions, lost {len(outcome.lost)}, "
          f"duplicates {outcome.duplicates} ({len(outcome.duplicates_before_kill)} before the first SIGKILL), "
          f"rejoin s {[round(s, 1) for s in outcome.rejoin_s]}, "
          f"read: {outcome.read.refetches} gaps fetched again, {outcome.read.holes} holes")  # fmt: skip
    for key in ("events", "decisions", "duplicates", "rejoin_s"):
        record(f"{name}_{key}", getattr(outcome, key))
    record(f"{name}_lost", len(outcome.lost))
    record(f"{name}_duplicates_before_kill", len(outcome.duplicates_before_kill))


@pytest.fixture
def workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, triton: EmbeddedTriton
) -> Workers:
    """A fresh broker, topics and catalog, and a worker deciding (group and data dir kept across restarts)."""
    bootstrap = start_broker(request, tmp_path_factory)
    asyncio.run(create_topics(bootstrap))
    catalog = [(topic, key.encode(), encode(record)) for topic, key, record in iter_catalog(World.from_seed(SEED))]
    asyncio.run(send(bootstrap, catalog))  # before the worker: every product view is of a catalogued product
    workers = Workers(request, bootstrap, triton.grpc_url, tmp_path_factory.mktemp("crash-worker"))
    asyncio.run(wait_until_deciding(bootstrap, workers.start()))
    return workers


def test_stop_and_kills_lose_no_event_and_the_stop_decides_nothing_twice(
    workers: Workers, record_property: Callable[[str, object], None]
) -> None:
    signals = {STOP_AT: signal.SIGTERM, **{f: signal.SIGKILL for f in KILL_AT}}
    stream = asyncio.run(run_stream(workers, EVENTS, signals))
    outcome = asyncio.run(check(workers.bootstrap, workers, stream))
    report("restarts", outcome, record_property)

    assert outcome.events >= EVENTS
    assert not outcome.lost, (
        f"{len(outcome.lost)} eligible events without a decision, e.g. {outcome.lost[:5]}; their input offsets "
        f"{ {tp: (min(o), max(o), len(o)) for tp, o in outcome.lost_at.items()} }; committed at each signal "
        f"{signal_commits(stream)}"
    )
    assert not outcome.inconsistent, f"decision ids not derived from their event: {outcome.inconsistent[:5]}"
    assert not outcome.duplicates_before_kill, (
        f"{len(outcome.duplicates_before_kill)} decisions repeated across the clean stop, "
        f"e.g. {outcome.duplicates_before_kill[:5]}"
    )
    assert outcome.read.holes == 0
