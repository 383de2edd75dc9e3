"""``streamdecide bench``: bare passthrough vs the full decision path on the same events, in one run.

Phases, on the embedded broker and Triton (fixed seed):
1. preload ``events`` synthetic events (plus the catalog) into the input topics;
2. saturation of a bare Faust passthrough worker (consume → produce the same bytes);
3. saturation of the decision worker on the same records (fresh consumer group),
   with Triton's own request counters read before and after;
4. event→decision latency with the decision worker fed at ``fraction`` of the
   slower saturation rate, paced in real time, and each process's CPU per event
   meanwhile (small batches cost more per event than the saturated ones).
Throughput is measured on the output records' timestamps, first to last, so
consumer-group joins do not count. With ``workers`` > 1 both phases run that many
processes in one consumer group (the input partitions split between them).
Where the cores allow, each worker runs on a core of its own and the broker, Triton and
this driver on the others (``--no-pin-cores`` lets the kernel place them all).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from schemas.codec import decode_event, encode, loads
from schemas.reasons import Reason
from streams.admin import ensure_topics, kafka_client_kwargs
from streams.consume import follow
from streams.cpu_affinity import CPU_AFFINITY_SETTING, CoreLayout, core_layout, pin_process
from streams.embedded.process import ChildProcess, free_port
from streams.metrics import BATCH_EVENTS, METRICS_PORT_SETTING
from streams.passthrough import PASSTHROUGH_TOPIC
from streams.procstat import tree_stat
from streams.runtime import Stack, child_env
from streams.settings import Settings
from streams.synthetic.traffic import iter_catalog, iter_events
from streams.synthetic.world import World
from streams.topics import DECISION_TOPICS, PRODUCTS, TopicSpec

PRELOAD_RATE_EPS = 1_000.0
PHASE_TIMEOUT_S = 600.0
LATENCY_SLICE_S = 5.0
BATCHES_TIMEOUT_S = 30.0
"""Longest wait for the workers to have taken every record of a phase before their batch counters are read."""
BATCHES_POLL_S = 0.1
"""Width of the latency phase's time slices (by when the event was sent)."""
MAX_REQUEST_BYTES = 4_000_000
TRITON_COUNTERS = ("nv_inference_request_success", "nv_inference_count", "nv_inference_exec_count")
TRITON_COMPUTE_COUNTERS = (
    "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
)  # fmt: skip
COMPUTE_PREFIX = "compute_us:"
_METRIC_LINE = re.compile(r'^(\w+)\{model="([^"]+)",version="[^"]*"\} ([0-9.e+]+)$')


@dataclass(frozen=True)
class Workload:
    """Encoded catalog and events, and how many decisions the events must produce."""

    catalog: list[tuple[str, bytes, bytes]]
    events: list[tuple[str, bytes, bytes]]
    expected_decisions: int


def build_workload(
    seed: int, n_events: int, start: datetime, slot_deadlines: bool = False
) -> tuple[Workload, Iterator[tuple[str, str, dict]]]:
    """The first ``n_events`` of the world of ``seed`` and the stream that continues after them.

    Preloaded events wait seconds before the decision worker reads them, so every ad slot's
    ``tmax_ms`` would have passed and every bid would be answered ``deadline``, skipping
    ranking, budgets and the ``ctr`` model. Without ``slot_deadlines`` their slots carry no
    ``tmax_ms``, so the saturation phase pays for every decision a worker that keeps up
    makes. The paced stream keeps its deadlines.
    """
    world = World.from_seed(seed)
    catalog = [(t, k.encode(), encode(v)) for t, k, v in iter_catalog(world)]
    products = {k.decode() for t, k, _ in catalog if t == PRODUCTS}
    stream = iter_events(world, start, PRELOAD_RATE_EPS, None)
    events, expected = [], 0
    for _ in range(n_events):
        topic, key, value = next(stream)
        if not slot_deadlines:
            value = without_slot_deadline(value)
        raw = encode(value)
        event = decode_event(raw, topic)
        expected += getattr(event, "ad_slot", None) is not None
        expected += event.kind == "product_view" and event.product_id in products
        expected += event.kind == "order"
        events.append((topic, key.encode(), raw))
    return Workload(catalog, events, expected), stream


def without_slot_deadline(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with its ad slot's ``tmax_ms`` removed (an unbounded slot), if it has one.

    >>> without_slot_deadline({"kind": "search", "ad_slot": {"slot_id": "s", "tmax_ms": 80}})
    {'kind': 'search', 'ad_slot': {'slot_id': 's'}}
    >>> without_slot_deadline({"kind": "order"})
    {'kind': 'order'}
    """
    slot = event.get("ad_slot")
    if not slot or "tmax_ms" not in slot:
        return event
    return {**event, "ad_slot": {k: v for k, v in slot.items() if k != "tmax_ms"}}


async def publish(bootstrap: str, messages: list[tuple[str, bytes, bytes]], kwargs: dict[str, Any]) -> float:
    """Send ``messages`` as fast as possible; returns messages per second."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=MAX_REQUEST_BYTES, **kwargs)
    await producer.start()
    began = time.monotonic()
    try:
        futures = [await producer.send(t, v, key=k) for t, k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(messages) / max(time.monotonic() - began, 1e-9)


async def wait_outputs(
    bootstrap: str,
    topics: list[str],
    want: int,
    kwargs: dict[str, Any],
    identity: Callable[[bytes], object] = bytes,
    on_first: Callable[[], None] | None = None,
) -> list[tuple[int, bytes]]:
    """Read ``topics`` from the beginning until ``want`` distinct records arrived; the first of each.

    A rebalance between workers redelivers records, so a phase's outputs can hold a record
    twice; counting records would end the phase before every owed one was written. Records
    with the same ``identity`` (a decision's ``decision_id``; the bytes of a passthrough's copy)
    count once. ``on_first`` is called when the first record arrived (the phase's CPU is
    counted from there).
    """
    out: list[tuple[int, bytes]] = []
    seen: set[object] = set()

    async def read() -> None:
        async for record in follow(bootstrap, topics, from_beginning=True, client_kwargs=kwargs):
            key = identity(record.value)
            if key in seen:
                continue
            if not out and on_first is not None:
                on_first()
            seen.add(key)
            out.append((record.timestamp, record.value))
            if len(out) >= want:
                return

    await asyncio.wait_for(read(), PHASE_TIMEOUT_S)
    return out


def decision_id_of(value: bytes) -> str:
    """A decision record's ``decision_id`` (what a redelivered decision repeats).

    >>> decision_id_of(b'{"decision_id":"bid-e1","latency_ms":3.0}')
    'bid-e1'
    """
    return str(loads(value)["decision_id"])


def bids_past_deadline(decisions: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Bid decisions among ``decisions`` and the share answered ``deadline`` (the slot's ``tmax_ms`` had passed).

    Such a bid skips ranking, budgets and the ``ctr`` model, so a phase where many slots
    are late decides more cheaply than one where they are not.

    >>> bids_past_deadline([{"decision_id": "bid-1", "reasons": ["deadline"]},
    ...                     {"decision_id": "bid-2", "reasons": ["optimised"]}, {"decision_id": "price-3"}])
    {'bids': 2, 'past_deadline': 0.5}
    """
    bids = [d for d in decisions if str(d.get("decision_id", "")).startswith("bid-")]
    late = sum(Reason.DEADLINE.value in d.get("reasons", ()) for d in bids)
    return {"bids": len(bids), "past_deadline": round(late / len(bids), 3) if bids else 0.0}


def rate_of(timestamps_ms: list[int], count: int) -> float:
    """Records per second between the first and the last output timestamp.

    Examples
    --------
    >>> rate_of([1000, 1500, 3000], 3)
    1.5
    """
    span_s = (max(timestamps_ms) - min(timestamps_ms)) / 1000.0
    return round(count / span_s, 1) if span_s > 0 else float("inf")


def triton_counters(metrics_url: str) -> dict[str, float]:
    """Triton's request/inference/execution counters summed over models, from its /metrics.

    Also ``compute_us:<model>``: each model's cumulative compute time (input, inference, output),
    which says where Triton's CPU goes.
    """
    text = _scrape(metrics_url)
    totals: Counter[str] = Counter()
    for line in text.splitlines():
        match = _METRIC_LINE.match(line)
        if match and match.group(1) in TRITON_COUNTERS:
            totals[match.group(1)] += float(match.group(3))
        elif match and match.group(1) in TRITON_COMPUTE_COUNTERS:
            totals[f"{COMPUTE_PREFIX}{match.group(2)}"] += float(match.group(3))
    return dict(totals)


def _scrape(url: str) -> str:
    """The text a Prometheus endpoint serves."""
    return urllib.request.urlopen(url, timeout=5).read().decode()


def compute_ms_by_model(before: dict[str, float], after: dict[str, float], n_events: int) -> dict[str, float]:
    """Milliseconds of Triton compute per 1,000 events, per model, between two :func:`triton_counters` readings.

    >>> compute_ms_by_model({"compute_us:ctr": 1_000.0}, {"compute_us:ctr": 21_000.0, "compute_us:fraud": 500.0}, 2_000)
    {'ctr': 10.0, 'fraud': 0.25}
    """
    return {key.removeprefix(COMPUTE_PREFIX): round((after[key] - before.get(key, 0.0)) / n_events, 2)
            for key in sorted(after) if key.startswith(COMPUTE_PREFIX)}  # fmt: skip


BatchCounters = dict[tuple[str, str], float]
"""Micro-batch counters of the decision workers: ``(topic, "sum" | "count")`` → value."""


def batch_counters(urls: list[str]) -> BatchCounters:
    """The workers' micro-batch counters, summed: ``(topic, "sum" | "count")`` → value, from their /metrics."""
    totals: Counter[tuple[str, str]] = Counter()
    for url in urls:
        for family in text_string_to_metric_families(_scrape(url)):
            if family.name != BATCH_EVENTS:
                continue
            for sample in family.samples:
                part = sample.name.removeprefix(f"{BATCH_EVENTS}_")
                if part in ("sum", "count"):
                    totals[(sample.labels["topic"], part)] += sample.value
    return dict(totals)


def all_batched(urls: list[str], records: Mapping[str, int], timeout_s: float = BATCHES_TIMEOUT_S) -> BatchCounters:
    """:func:`batch_counters` once the workers' batches hold ``records[topic]`` records of every topic.

    A phase ends when its owed decisions are out, which a few stragglers (an order, say) can
    still be short of: the counters are read once every input record was taken (or after
    ``timeout_s``). Counted per topic: records a rebalance redelivered to the other worker
    inflate a total, which then reached the owed count while an order batch was still out.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        counters = batch_counters(urls)
        taken = all(counters.get((topic, "sum"), 0.0) >= n for topic, n in records.items())
        if taken or time.monotonic() >= deadline:
            return counters
        time.sleep(BATCHES_POLL_S)


def batch_sizes(before: BatchCounters, after: BatchCounters) -> dict[str, dict[str, float]]:
    """Micro-batches and their mean records per input topic between two :func:`batch_counters` readings.

    >>> batch_sizes({("events.clicks", "sum"): 10.0, ("events.clicks", "count"): 2.0},
    ...             {("events.clicks", "sum"): 110.0, ("events.clicks", "count"): 6.0})
    {'events.clicks': {'batches': 4, 'records': 100, 'mean_records': 25.0}}
    """
    sizes = {}
    for topic in sorted({topic for topic, _ in after}):
        batches = after.get((topic, "count"), 0.0) - before.get((topic, "count"), 0.0)
        records = after.get((topic, "sum"), 0.0) - before.get((topic, "sum"), 0.0)
        if batches > 0:
            sizes[topic] = {"batches": int(batches), "records": int(records),
                            "mean_records": round(records / batches, 1)}  # fmt: skip
    return sizes


def metrics_urls(children: list[ChildProcess]) -> list[str]:
    """The /metrics endpoints of bench children (their ports are in their environment)."""
    return [f"http://127.0.0.1:{c.env[METRICS_PORT_SETTING]}/metrics" for c in children if c.env]


def start_child(
    settings: Settings, module: str, name: str, group: str | None = None, core: int | None = None
) -> ChildProcess:
    """A worker-like child process in consumer group ``group`` (default: a group of its own), on ``core`` if given."""
    env = child_env(settings)
    env["STREAMDECIDE_APP_ID"] = group or f"bench-{name}-{uuid.uuid4().hex[:6]}"
    env[METRICS_PORT_SETTING] = str(free_port())
    if core is not None:
        env[CPU_AFFINITY_SETTING] = str(core)
    log = settings.data_dir / "logs" / f"bench-{name}.log"
    return ChildProcess(name, [sys.executable, "-m", module, *([] if module != "streams.cli" else ["worker"])], log,
                        env=env).start()


def stat_of(pid: int | None, children: bool = True) -> dict[str, float] | None:
    """CPU seconds and peak RSS of a process (tree); None when absent."""
    stat = tree_stat(pid, children) if pid is not None else None
    return None if stat is None else {"cpu_s": stat.cpu_s, "peak_rss_mb": stat.peak_rss_mb, "processes": stat.processes}


def start_group(
    settings: Settings, module: str, name: str, n: int, layout: CoreLayout | None = None
) -> list[ChildProcess]:
    """``n`` worker-like children sharing one new consumer group, each on its own core of ``layout`` if given."""
    group = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    cores: list[int | None] = list(layout.workers) if layout else [None] * n
    return [start_child(settings, module, f"{name}-{i}" if n > 1 else name, group, cores[i]) for i in range(n)]


def stat_of_group(children: list[ChildProcess]) -> dict[str, float] | None:
    """CPU seconds summed and the largest peak RSS over ``children`` (see :func:`stat_of`)."""
    stats = [s for s in (stat_of(c.pid) for c in children) if s is not None]
    if not stats:
        return None
    return {"cpu_s": round(sum(s["cpu_s"] for s in stats), 2), "peak_rss_mb": max(s["peak_rss_mb"] for s in stats),
            "processes": sum(s["processes"] for s in stats)}  # fmt: skip


class PhaseCpu:
    """CPU seconds each named process (tree) spent between :meth:`start` and :meth:`stop`.

    Started at a phase's first output record, so start-up, imports and consumer-group joins
    are not counted: what remains is the cost of the stream itself.
    """

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.began: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        totals = {}
        for name, pids in self.pids.items():
            stats = [tree_stat(pid) for pid in pids]
            totals[name] = sum(s.cpu_s for s in stats if s is not None)
        return totals

    def start(self) -> None:
        """Read every process's CPU time now."""
        self.began = self._now()

    def stop(self) -> None:
        """CPU time since :meth:`start` (all zero when it never started)."""
        now = self._now()
        self.spent = {name: now[name] - self.began.get(name, now[name]) for name in now}

    def us_per_event(self, events: int) -> dict[str, float]:
        """CPU microseconds per event of each process.

        >>> cpu = PhaseCpu({})
        >>> cpu.spent = {"worker": 1.5, "broker": 0.25}
        >>> cpu.us_per_event(5_000)
        {'worker': 300.0, 'broker': 50.0}
        """
        return {name: round(1e6 * seconds / events, 1) for name, seconds in self.spent.items()}


def phase_pids(workers: list[ChildProcess], stack: Stack) -> dict[str, list[int]]:
    """The processes whose CPU a saturation phase counts: its workers, Triton (with stubs), the broker."""
    pids = {"workers": [c.pid for c in workers if c.pid is not None]}
    if stack.triton is not None and stack.triton.pid is not None:
        pids["tritonserver_and_stubs"] = [stack.triton.pid]
    if stack.broker is not None and stack.broker.pid is not None:
        pids["broker"] = [stack.broker.pid]
    return pids


class PacedLatency(NamedTuple):
    """One decision of the latency phase: its topic, its ``latency_ms``, when its event was sent, and its reasons."""

    topic: str
    ms: float
    sent_s: float
    """Seconds from the start of the phase to the event's send."""
    decision: dict[str, Any] | None = None
    """The decision's ``decision_id`` and ``reasons``."""


async def latency_phase(
    bootstrap: str,
    stream: Iterator[tuple[str, str, dict]],
    rate_eps: float,
    seconds: float,
    kwargs: dict[str, Any],
    cpu: PhaseCpu | None = None,
) -> tuple[list[PacedLatency], Counter[str]]:
    """Feed fresh events at ``rate_eps`` (real-time ``ts``); their decisions' latencies, and events sent per topic.

    ``cpu`` counts the processes' CPU while the events are fed (how busy "half of saturation" keeps them).
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, **kwargs)
    await producer.start()
    sent_at: dict[str, float] = {}
    began = time.monotonic()
    sent: Counter[str] = Counter()
    if cpu is not None:
        cpu.start()
    try:
        while time.monotonic() - began < seconds:
            due = int((time.monotonic() - began) * rate_eps)
            while sent.total() < due:
                topic, key, value = next(stream)
                value = {**value, "ts": datetime.now(UTC).isoformat()}
                sent_at[value["event_id"]] = time.monotonic() - began
                await producer.send(topic, encode(value), key=key.encode())
                sent[topic] += 1
            await asyncio.sleep(0.002)
        await producer.flush()
        if cpu is not None:
            cpu.stop()
    finally:
        await producer.stop()
    latencies: list[PacedLatency] = []

    async def read() -> None:
        async for record in follow(bootstrap, list(DECISION_TOPICS), from_beginning=True, client_kwargs=kwargs,
                                   idle_timeout_s=5.0):
            decision = loads(record.value)
            sent_s = sent_at.get(decision["event_id"])
            if sent_s is not None:
                latencies.append(PacedLatency(record.topic, float(decision["latency_ms"]), sent_s,
                                              {"decision_id": decision["decision_id"], "reasons": decision["reasons"]}))

    await asyncio.wait_for(read(), PHASE_TIMEOUT_S)
    return latencies, sent


def latency_by_topic(latencies: list[PacedLatency]) -> dict[str, dict[str, float]]:
    """Decisions, p50 and p99 latency per decision topic (where the tail comes from).

    >>> latency_by_topic([PacedLatency("decisions.bids", 10.0, 0.1), PacedLatency("decisions.bids", 30.0, 0.2),
    ...                   PacedLatency("decisions.fraud", 5.0, 0.3)])
    {'decisions.bids': {'decisions': 2, 'p50_ms': 20.0, 'p99_ms': 29.8}, 'decisions.fraud': {'decisions': 1, 'p50_ms': 5.0, 'p99_ms': 5.0}}
    """
    topics: dict[str, list[float]] = {}
    for paced in latencies:
        topics.setdefault(paced.topic, []).append(paced.ms)
    return {topic: _tail(values) for topic, values in sorted(topics.items())}


def latency_by_slice(latencies: list[PacedLatency], slice_s: float = LATENCY_SLICE_S) -> list[dict[str, float]]:
    """Decisions, p50 and p99 latency per ``slice_s`` of the phase, by when the event was sent.

    A steady tail and a growing one have the same p99 over the phase; the slices tell them
    apart (the embedded broker's fetches slow down as partitions fill, see BENCHMARKS.md).

    >>> latency_by_slice([PacedLatency("decisions.bids", 10.0, 0.5), PacedLatency("decisions.bids", 30.0, 1.5),
    ...                   PacedLatency("decisions.prices", 50.0, 6.0)], slice_s=5.0)
    [{'from_s': 0.0, 'decisions': 2, 'p50_ms': 20.0, 'p99_ms': 29.8}, {'from_s': 5.0, 'decisions': 1, 'p50_ms': 50.0, 'p99_ms': 50.0}]
    """
    slices: dict[int, list[float]] = {}
    for paced in latencies:
        slices.setdefault(int(paced.sent_s // slice_s), []).append(paced.ms)
    return [{"from_s": index * slice_s, **_tail(values)} for index, values in sorted(slices.items())]


def _tail(values: list[float]) -> dict[str, float]:
    """Count, p50 and p99 of one group of latencies."""
    return {"decisions": len(values), "p50_ms": _pct(values, 50), "p99_ms": _pct(values, 99)}


def run_bench(
    settings: Settings,
    *,
    n_events: int,
    latency_s: float,
    fraction: float,
    seed: int,
    emit: Callable[[str], None],
    workers: int = 1,
    pin_cores: bool = True,
    slot_deadlines: bool = False,
) -> dict[str, Any]:
    """Run every phase and return the JSON-ready result (``workers`` processes per phase).

    With ``pin_cores``, where the cores allow (:func:`core_layout`), each worker runs on a core
    of its own and this process, the broker and Triton (which inherit it) on the others.
    ``slot_deadlines`` keeps the preloaded slots' deadlines (:func:`build_workload`).
    """
    stack = Stack(settings)
    passthroughs: list[ChildProcess] = []
    deciders: list[ChildProcess] = []
    own_cores = frozenset(os.sched_getaffinity(0))
    layout = core_layout(own_cores, workers) if pin_cores else None
    try:
        if layout is not None:
            pin_process(layout.rest)
        eff = stack.start(with_worker=False)
        bootstrap, kwargs = eff.kafka_bootstrap or "", kafka_client_kwargs(eff)
        asyncio.run(ensure_topics(bootstrap, [TopicSpec(PASSTHROUGH_TOPIC, eff.topic_partitions)], **kwargs))
        workload, stream = build_workload(seed, n_events, datetime.now(UTC), slot_deadlines)
        emit(f"preloading {n_events} events ({workload.expected_decisions} decisions expected)")
        asyncio.run(publish(bootstrap, workload.catalog, kwargs))
        produce_eps = asyncio.run(publish(bootstrap, workload.events, kwargs))

        emit(f"phase 1: bare passthrough ({workers} process{'es' if workers > 1 else ''})")
        passthroughs = start_group(eff, "streams.passthrough", "passthrough", workers, layout)
        pass_cpu = PhaseCpu(phase_pids(passthroughs, stack))
        out = asyncio.run(wait_outputs(bootstrap, [PASSTHROUGH_TOPIC], n_events, kwargs, on_first=pass_cpu.start))
        pass_cpu.stop()
        pass_eps = rate_of([ts for ts, _ in out], n_events)
        pass_stat = stat_of_group(passthroughs)
        for child in passthroughs:
            child.stop()

        metrics_url = f"http://127.0.0.1:{eff.triton_metrics_port}/metrics" if stack.triton else None
        before = triton_counters(metrics_url) if metrics_url else {}
        emit(f"phase 2: decision path ({workers} worker{'s' if workers > 1 else ''})")
        deciders = start_group(eff, "streams.cli", "worker", workers, layout)
        decide_cpu = PhaseCpu(phase_pids(deciders, stack))
        decided = asyncio.run(wait_outputs(bootstrap, list(DECISION_TOPICS), workload.expected_decisions, kwargs,
                                           identity=decision_id_of, on_first=decide_cpu.start))  # fmt: skip
        decide_cpu.stop()
        decide_eps = rate_of([ts for ts, _ in decided], n_events)
        preloaded = Counter(topic for topic, _, _ in workload.events)
        saturated_batches = all_batched(metrics_urls(deciders), preloaded)
        after = triton_counters(metrics_url) if metrics_url else {}
        delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in TRITON_COUNTERS}

        target = round(fraction * min(pass_eps, decide_eps), 1)
        emit(f"phase 3: latency at {target} events/s ({fraction:.0%} of saturation) for {latency_s:g} s")
        paced_cpu = PhaseCpu(phase_pids(deciders, stack))
        paced_decisions, paced_events = asyncio.run(latency_phase(bootstrap, stream, target, latency_s, kwargs, paced_cpu))
        paced_batches = all_batched(metrics_urls(deciders), preloaded + paced_events)
        latencies = [paced.ms for paced in paced_decisions]
        result = {
            "command": "streamdecide bench " + " ".join(sys.argv[2:]),
            "events": n_events,
            "workers": workers,
            "decisions_expected": workload.expected_decisions,
            "decisions_seen": len(decided),
            "preload_produce_eps": round(produce_eps, 1),
            "passthrough_eps": pass_eps,
            "decision_eps": decide_eps,
            "ratio": round(decide_eps / pass_eps, 3),
            "latency": {
                "rate_eps": target,
                "fraction_of_saturation": fraction,
                "decisions": len(latencies),
                "p50_ms": _pct(latencies, 50),
                "p95_ms": _pct(latencies, 95),
                "p99_ms": _pct(latencies, 99),
                "by_topic": latency_by_topic(paced_decisions),
                "by_slice": latency_by_slice(paced_decisions),
                "bids": bids_past_deadline(p.decision for p in paced_decisions if p.decision is not None),
                "cpu_us_per_event": paced_cpu.us_per_event(max(paced_events.total(), 1)),
                "batches": batch_sizes(saturated_batches, paced_batches),
            },
            "batches_at_saturation": batch_sizes({}, saturated_batches),
            "bids_at_saturation": bids_past_deadline(loads(value) for _, value in decided),
            "triton": {
                "requests_per_1000_events": round(1000 * delta["nv_inference_request_success"] / n_events, 2),
                "mean_rows_per_request": round(delta["nv_inference_count"] / max(delta["nv_inference_request_success"], 1), 1),
                "executions_per_1000_events": round(1000 * delta["nv_inference_exec_count"] / n_events, 2),
                "compute_ms_per_1000_events": compute_ms_by_model(before, after, n_events),
            } if metrics_url else None,
            "cpu_us_per_event_at_saturation": {
                "passthrough": pass_cpu.us_per_event(n_events),
                "decision_path": decide_cpu.us_per_event(n_events),
            },
            "processes": {
                "passthrough_worker": pass_stat,
                "decision_worker": stat_of_group(deciders),
                "tritonserver_and_stubs": stat_of(stack.triton.pid) if stack.triton else None,
                "broker": stat_of(stack.broker.pid) if stack.broker else None,
                "bench_driver": stat_of(os.getpid(), children=False),
            },
            "cores": os.cpu_count(),
            "cpu_layout": layout.as_json() if layout else None,
        }
        return result
    finally:
        for child in (*deciders, *passthroughs):
            child.stop()
        stack.stop()
        if layout is not None:
            pin_process(own_cores)


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None

