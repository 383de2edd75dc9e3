"""``streamdecide demo``: the stack, synthetic traffic, a live view, a run report, and a JSON summary last."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from schemas.codec import encode, loads
from schemas.errors import StreamdecideError
from streams.admin import kafka_client_kwargs
from streams.consume import follow
from streams.report import DECISION_NAMES, percentile_ms
from streams.report_source import write_run_report
from streams.settings import Settings
from streams.synthetic.produce import produce_synthetic
from streams.topics import DECISION_TOPICS, DLQ, DRIFT_ALERTS, EVENT_TOPICS, FRAUD, ORDERS

WARMUP_TIMEOUT_S = 180.0
DRAIN_QUIET_S = 3.0
DRAIN_MAX_S = 60.0
VIEW_EVERY_S = 2.0


@dataclass
class Tally:
    """What the live view has seen so far."""

    decisions: Counter[str] = field(default_factory=Counter)
    scenes: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    degraded: int = 0
    dlq: int = 0
    drift_alerts: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    event_ids: set[str] = field(default_factory=set)
    last_at: float = field(default_factory=time.monotonic)

    def add(self, topic: str, value: bytes) -> None:
        """Count one record from a decision or ops topic."""
        self.last_at = time.monotonic()
        if topic == DLQ:
            self.dlq += 1
            return
        if topic == DRIFT_ALERTS:
            self.drift_alerts += 1
            return
        decision = loads(value)
        self.decisions[DECISION_NAMES[topic]] += 1
        self.scenes[decision["scene"]] += 1
        self.degraded += bool(decision["degraded"])
        self.latencies_ms.append(float(decision["latency_ms"]))
        self.event_ids.add(decision["event_id"])
        if topic == FRAUD:
            self.actions[decision["action"]] += 1

    def percentile(self, q: float) -> float:
        """Latency percentile in ms (0 before any decision), computed as the run report does."""
        return percentile_ms(self.latencies_ms, q)

    def line(self, elapsed_s: float, produced: int) -> str:
        """One live-view line."""
        d = self.decisions
        scenes = " ".join(f"{k}={v}" for k, v in sorted(self.scenes.items()))
        return (
            f"[{elapsed_s:5.0f}s] events={produced} bids={d['bids']} prices={d['prices']} fraud={d['fraud']} "
            f"({dict(self.actions)}) dlq={self.dlq} degraded={self.degraded} "
            f"p50={self.percentile(50)}ms p99={self.percentile(99)}ms | scenes: {scenes}"
        )


def warmup_order(event_id: str) -> dict[str, object]:
    """A harmless order whose fraud decision proves the worker is consuming."""
    return {
        "kind": "order", "event_id": event_id, "ts": datetime.now(UTC).isoformat(), "user_id": "demo-warmup",
        "channel": "web", "order_id": event_id, "items": [{"product_id": "warmup", "quantity": 1, "unit_price": 1.0}],
        "amount": 1.0, "currency": "USD", "payment": {"method": "card", "card_hash": "warmup"},
    }


DEMO_LEARNING_ENV: dict[str, str] = {
    "STREAMDECIDE_LEARNING__CLICK_WINDOW_S": "30",
    "STREAMDECIDE_LEARNING__ORDER_WINDOW_S": "60",
    "STREAMDECIDE_LEARNING__CHARGEBACK_WINDOW_S": "90",
}
"""Label windows short enough for a demo of minutes (unless set in the environment)."""


def apply_demo_learning_env() -> None:
    """Put :data:`DEMO_LEARNING_ENV` into the environment the worker inherits, keeping explicit values."""
    for name, value in DEMO_LEARNING_ENV.items():
        os.environ.setdefault(name, value)


async def run_demo(
    settings: Settings, *, duration_s: float | None, rate_eps: float, seed: int, emit: Callable[[str], None]
) -> dict[str, object]:
    """Drive synthetic traffic through the running stack and return the summary."""
    bootstrap = settings.kafka_bootstrap or ""
    kwargs = kafka_client_kwargs(settings)
    tally = Tally()
    watched = (*DECISION_TOPICS, DLQ, DRIFT_ALERTS)
    warmup_id = f"demo-warmup-{uuid.uuid4().hex[:8]}"
    warmed = asyncio.Event()

    async def watch() -> None:
        async for record in follow(bootstrap, watched, from_beginning=False, client_kwargs=kwargs):
            if not warmed.is_set():
                if record.topic == FRAUD and loads(record.value)["event_id"] == warmup_id:
                    warmed.set()
                continue
            tally.add(record.topic, record.value)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(1.0)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **kwargs)
    await producer.start()
    try:
        await producer.send_and_wait(ORDERS, encode(warmup_order(warmup_id)), key=b"demo-warmup")
    finally:
        await producer.stop()
    emit("waiting for the worker to join its consumer group and decide a first event ...")
    await asyncio.wait_for(warmed.wait(), WARMUP_TIMEOUT_S)
    emit(f"worker is deciding; producing synthetic traffic at {rate_eps:g} events/s")

    began = time.monotonic()
    produced = Counter[str]()

    def on_progress(counts: dict[str, int]) -> None:
        produced.clear()
        produced.update(counts)

    async def view() -> None:
        while True:
            await asyncio.sleep(VIEW_EVERY_S)
            emit(tally.line(time.monotonic() - began, sum(produced[t] for t in EVENT_TOPICS)))

    viewer = asyncio.create_task(view())
    try:
        counts = await produce_synthetic(
            bootstrap, rate_eps=rate_eps, duration_s=duration_s, max_events=None, seed=seed, scenario=None,
            client_kwargs=kwargs, on_progress=on_progress, closed_loop=True,
        )
        on_progress(counts)
        drain_began = time.monotonic()
        while time.monotonic() - tally.last_at < DRAIN_QUIET_S and time.monotonic() - drain_began < DRAIN_MAX_S:
            await asyncio.sleep(0.5)
    finally:
        viewer.cancel()
        watcher.cancel()
        await asyncio.gather(viewer, watcher, return_exceptions=True)
    emit(tally.line(time.monotonic() - began, sum(produced[t] for t in EVENT_TOPICS)))
    return {
        "events": sum(produced[t] for t in EVENT_TOPICS),
        "decisions": {name: tally.decisions[name] for name in ("bids", "prices", "fraud")},
        "dlq": tally.dlq,
        "drift_alerts": tally.drift_alerts,
        "p50_ms": tally.percentile(50),
        "p99_ms": tally.percentile(99),
        "degraded": tally.degraded,
        "scenes": dict(tally.scenes),
        "fraud_actions": dict(tally.actions),
    }


def write_demo_report(settings: Settings, emit: Callable[[str], None]) -> str | None:
    """Write the run report (``DATA_DIR/report.html``) while the demo's broker is up; returns its path.

    A report that can't be written is told, not raised: the demo itself went fine.
    """
    out = settings.data_dir / "report.html"
    emit("writing the run report ...")
    try:
        written = asyncio.run(write_run_report(settings, out))
    except StreamdecideError as exc:
        emit(f"no report: {exc}")
        return None
    emit(f"report: {written.html} (figure: {written.png})")
    return str(written.html)
