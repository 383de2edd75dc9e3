"""A burst of ten times the steady rate: latency rises, memory stays bounded, nothing is lost.

The worker bounds what it holds: each ingest agent decides one micro-batch at a time
(``batching.max_size``), Faust buffers at most ``batching.buffer_max`` records per
input partition and the consumer fetches at most four ``max_message_bytes`` per
request; the rest waits in Kafka. The test samples the worker's resident memory
from /proc while it works through a burst and checks a generous bound on its peak.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.embedded.process import ChildProcess
from streams.embedded.triton import EmbeddedTriton
from streams.topics import BIDS, CAMPAIGNS, CLICKS, DECISION_TOPICS, FRAUD, ORDERS, PRICES, PRODUCTS, SEARCHES
from tests.integration.conftest import start_broker
from tests.integration.faults import peak_rss_mb, probe, read_topics, send_all
from tests.integration.pipeline import as_message, create_topics, now_iso, start_worker
from tests.integration.test_pipeline import CAMPAIGN, ORDER_FIELDS, PRODUCT

pytestmark = pytest.mark.integration

STEADY_EPS = 100.0
STEADY_S = 6.0
BURST_FACTOR = 10
BURST_S = 5.0
TICK_S = 0.1
SAMPLE_S = 0.2
READ_TIMEOUT_S = 240.0
PEAK_RSS_GROWTH_MB = 400.0
"""Generous bound on how much the worker's peak RSS may grow over its steady-state peak during the burst."""
OWED = {"order": (FRAUD,), "product_view": (BIDS, PRICES), "search": (BIDS,)}


@pytest.fixture(scope="module")
def burst_worker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 triton: EmbeddedTriton) -> tuple[str, ChildProcess]:  # fmt: skip
    bootstrap = start_broker(request, tmp_path_factory)
    asyncio.run(create_topics(bootstrap))
    asyncio.run(send_all(bootstrap, [as_message(PRODUCTS, PRODUCT), as_message(CAMPAIGNS, CAMPAIGN)]))
    worker = start_worker(bootstrap, triton.grpc_url, tmp_path_factory.mktemp("burst-worker"))
    request.addfinalizer(worker.stop)
    asyncio.run(probe(bootstrap, worker, FRAUD))
    return bootstrap, worker


class RssSampler:
    """Samples a process's resident memory (VmRSS) in a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples_mb = pid, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self._stop.wait(SAMPLE_S):
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.samples_mb.append(int(line.split()[1]) / 1024)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def events(count: int, phase: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for i in range(count):
        event_id = f"{phase}-{uuid.uuid4().hex[:12]}"
        base = {"event_id": event_id, "ts": now_iso(), "user_id": f"u-{i % 500}", "channel": "web"}
        if i % 3 == 0:
            yield ORDERS, {**base, "kind": "order", **ORDER_FIELDS, "order_id": event_id}
        elif i % 3 == 1:
            yield CLICKS, {**base, "kind": "product_view", "product_id": PRODUCT["product_id"],
                           "ad_slot": {"slot_id": "s-b", "floor_cpm": 0.01}}  # fmt: skip
        else:
            yield SEARCHES, {**base, "kind": "search", "query": f"phone case {i % 50}", "ad_slot": {"slot_id": "s-q"}}


async def paced(bootstrap: str, rate_eps: float, duration_s: float, phase: str, sent: dict[str, str]) -> None:
    per_tick = max(1, round(rate_eps * TICK_S))
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        began = time.monotonic()
        batch = list(events(per_tick, phase))
        sent.update({e["event_id"]: e["kind"] for _, e in batch})
        await send_all(bootstrap, [as_message(topic, e) for topic, e in batch])
        await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - began)))


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def test_a_ten_fold_burst_raises_latency_but_not_memory_without_bound(burst_worker: tuple[str, ChildProcess]) -> None:
    bootstrap, worker = burst_worker
    assert worker.pid is not None
    sent: dict[str, str] = {}
    asyncio.run(paced(bootstrap, STEADY_EPS, STEADY_S, "steady", sent))
    steady_peak_mb = peak_rss_mb(worker.pid)
    with RssSampler(worker.pid) as sampler:
        asyncio.run(paced(bootstrap, STEADY_EPS * BURST_FACTOR, BURST_S, "burst", sent))
        owed = {(topic, e) for e, kind in sent.items() for topic in OWED[kind]}
        got: dict[tuple[str, str], float] = {}
        looked = [0]

        def done(records: list[Any]) -> bool:
            for r in records[looked[0] :]:
                key = (r.topic, r.value.get("event_id"))
                if key in owed:
                    got.setdefault(key, r.value["latency_ms"])
            looked[0] = len(records)
            return owed <= got.keys()

        began = time.monotonic()
        asyncio.run(read_topics(bootstrap, list(DECISION_TOPICS), done, READ_TIMEOUT_S))
        drained_s = time.monotonic() - began
    burst_peak_mb = peak_rss_mb(worker.pid)

    missing = owed - got.keys()
    assert not missing, f"{len(missing)} of {len(owed)} decisions missing"
    assert worker.alive
    assert burst_peak_mb <= steady_peak_mb + PEAK_RSS_GROWTH_MB, (steady_peak_mb, burst_peak_mb)
    steady = [ms for (_, e), ms in got.items() if e.startswith("steady")]
    burst = [ms for (_, e), ms in got.items() if e.startswith("burst")]
    print(f"\nburst: {len(sent)} events ({STEADY_EPS:.0f} ev/s for {STEADY_S:.0f} s, then "
          f"{STEADY_EPS * BURST_FACTOR:.0f} ev/s for {BURST_S:.0f} s), {len(got)} decisions; "
          f"latency p50/p99 steady {percentile(steady, 50):.0f}/{percentile(steady, 99):.0f} ms, "
          f"burst {percentile(burst, 50):.0f}/{percentile(burst, 99):.0f} ms; worker peak RSS steady "
          f"{steady_peak_mb:.0f} MiB, after burst {burst_peak_mb:.0f} MiB (max sampled {max(sampler.samples_mb):.0f}); "
          f"drained {drained_s:.1f} s after the burst ended")  # fmt: skip
