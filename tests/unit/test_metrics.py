"""streams.metrics and the scorer's observations, without sockets: fake Triton and Kafka clients."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

from agents.scoring import ScoringUnavailable, TritonScorer
from schemas.decisions import BidDecision, FraudDecision, PriceDecision
from schemas.ops import DlqRecord
from streams.metrics import (
    BREAKER_STATE_VALUES,
    METRICS,
    Metrics,
    measure_consumer_lag,
    metrics_reference,
    observe_many,
)
from streams.settings import TritonClientSettings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COMMON = dict(decision_id="d", event_id="e", user_id="u", decided_at=NOW, model_version="m:1")


def bid(bid_cpm: float, degraded: bool = False, latency_ms: float = 4.0) -> BidDecision:
    return BidDecision(**COMMON, latency_ms=latency_ms, scene="search", degraded=degraded, slot_id="s",
                       bid_cpm=bid_cpm, currency="USD", p_ctr=0.02)


def price(value: float) -> PriceDecision:
    return PriceDecision(**COMMON, latency_ms=12.0, scene="product", degraded=False, product_id="p", price=value,
                         list_price=10.0, currency="USD", p_convert=0.1)


def fraud(action: str, degraded: bool = False) -> FraudDecision:
    return FraudDecision(**COMMON, latency_ms=700.0, scene="checkout", degraded=degraded, order_id="o",
                         action=action, risk_score=0.5)


def test_registries_are_isolated() -> None:
    a, b = Metrics(), Metrics()
    a.observe_triton_request("ctr", 1.0, 4)
    assert a.value("streamdecide_triton_requests_total", model="ctr") == 1
    assert b.value("streamdecide_triton_requests_total", model="ctr") is None


def test_names_follow_prometheus_conventions() -> None:
    for spec in METRICS:
        assert spec.name.startswith("streamdecide_"), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        assert spec.help.endswith("."), spec.name
        if spec.kind == "histogram":
            assert spec.buckets == tuple(sorted(spec.buckets)), spec.name
    assert len({spec.name for spec in METRICS}) == len(METRICS)


def test_exposition_declares_every_family_with_its_type() -> None:
    families = {f.name: f.type for f in text_string_to_metric_families(Metrics().exposition().decode())}
    for spec in METRICS:
        assert families[spec.name.removesuffix("_total")] == spec.kind, spec.name


def test_decisions_are_counted_by_type_action_scene_with_latency_and_degraded() -> None:
    m = Metrics()
    m.observe_decisions([bid(0.0), bid(1.5), bid(0.0, degraded=True), price(11.0), price(10.0),
                         fraud("block"), fraud("review", degraded=True)])
    assert m.value("streamdecide_decisions_total", type="bid", action="no_bid", scene="search") == 2
    assert m.value("streamdecide_decisions_total", type="bid", action="bid", scene="search") == 1
    assert m.value("streamdecide_decisions_total", type="price", action="up", scene="product") == 1
    assert m.value("streamdecide_decisions_total", type="price", action="list", scene="product") == 1
    assert m.value("streamdecide_decisions_total", type="fraud", action="block", scene="checkout") == 1
    assert m.value("streamdecide_degraded_decisions_total", type="bid") == 1
    assert m.value("streamdecide_degraded_decisions_total", type="fraud") == 1
    assert m.value("streamdecide_degraded_decisions_total", type="price") == 0
    assert m.value("streamdecide_decision_latency_ms_count", type="bid") == 3
    assert m.value("streamdecide_decision_latency_ms_bucket", type="bid", le="5.0") == 3
    assert m.value("streamdecide_decision_latency_ms_bucket", type="fraud", le="500.0") == 0
    assert m.value("streamdecide_decision_latency_ms_bucket", type="fraud", le="1000.0") == 2


def test_dlq_records_are_counted_by_reason_with_unknown_codes_bounded() -> None:
    record = dict(source_topic="events.clicks", partition=0, offset=3, payload="x", payload_bytes=1, received_at=NOW)
    m = Metrics()
    m.observe_dlq([DlqRecord(**record, error="invalid_json: bad"), DlqRecord(**record, error="boom: ?")])
    assert m.value("streamdecide_dlq_messages_total", source_topic="events.clicks", reason="invalid_json") == 1
    assert m.value("streamdecide_dlq_messages_total", source_topic="events.clicks", reason="other") == 1
    assert m.value("streamdecide_dlq_messages_total", source_topic="events.orders", reason="too_large") == 0


def test_outside_label_values_cannot_explode_cardinality() -> None:
    m = Metrics()
    for i in range(3):
        m.observe_ops_message("ops.drift-alerts", b'{"model": "%s", "detector": "adwin"}' % (b"x" * (70 + i)))
    assert m.value("streamdecide_drift_alerts_total", model="other", detector="adwin") == 3


def test_live_version_ignores_non_numeric_versions() -> None:
    m = Metrics()
    m.set_live_version("ctr", "4")
    m.set_live_version("ctr", "latest")
    assert m.value("streamdecide_model_live_version", model="ctr") == 4


def test_metrics_reference_lists_every_family() -> None:
    table = metrics_reference()
    assert all(f"`{spec.name}`" in table for spec in METRICS)


# --- the scorer records requests, failures, breaker state and versions --------------------------


class FakeResult:
    def __init__(self, rows: int, version: str) -> None:
        self.rows, self.version = rows, version

    def as_numpy(self, name: str) -> np.ndarray:
        return np.full((self.rows, 1), 0.25, dtype=np.float32)

    def get_response(self) -> Any:
        return SimpleNamespace(model_version=self.version)


class FakeTriton:
    """Answers ``infer`` (advancing the fake clock) or raises the queued errors."""

    def __init__(self, clock: list[float], errors: list[InferenceServerException] | None = None) -> None:
        self.clock, self.errors, self.calls = clock, list(errors or []), 0

    async def infer(self, model: str, inputs: list[Any], outputs: Any, client_timeout: float) -> FakeResult:
        self.calls += 1
        self.clock[0] += 0.004
        if self.errors:
            raise self.errors.pop(0)
        return FakeResult(inputs[0].shape()[0], "3")

    async def close(self) -> None:
        return None


def scorer_with(fake: FakeTriton, clock: list[float], failures_to_open: int = 2) -> tuple[TritonScorer, Metrics]:
    metrics = Metrics()
    settings = TritonClientSettings(breaker_failures=failures_to_open, breaker_reset_s=1.0)
    scorer = TritonScorer("fake:1", settings, clock=lambda: clock[0], metrics=metrics)
    scorer._client = fake  # the gRPC channel is the one thing faked
    return scorer, metrics


async def test_scorer_records_latency_rows_and_live_version() -> None:
    clock = [100.0]
    scorer, m = scorer_with(FakeTriton(clock), clock)
    scores = await scorer.score("ctr", np.zeros((5, 3), dtype=np.float32))
    assert scores.model_version == "ctr:3"
    assert m.value("streamdecide_triton_requests_total", model="ctr") == 1
    assert m.value("streamdecide_triton_request_latency_ms_sum", model="ctr") == pytest.approx(4.0)
    assert m.value("streamdecide_triton_batch_rows_sum", model="ctr") == 5
    assert m.value("streamdecide_triton_batch_rows_bucket", model="ctr", le="4.0") == 0
    assert m.value("streamdecide_circuit_breaker_state", model="ctr") == BREAKER_STATE_VALUES["closed"]
    assert m.value("streamdecide_model_live_version", model="ctr") == 3


async def test_scorer_records_failures_breaker_opening_and_recovery() -> None:
    clock = [0.0]
    timeout = InferenceServerException("deadline", status="StatusCode.DEADLINE_EXCEEDED")
    down = InferenceServerException("refused", status="StatusCode.UNAVAILABLE")
    scorer, m = scorer_with(FakeTriton(clock, [timeout, down]), clock)
    rows = np.zeros((2, 3), dtype=np.float32)
    for expected in ("triton_timeout", "triton_unavailable", "circuit_open"):
        with pytest.raises(ScoringUnavailable) as failure:
            await scorer.score("fraud", rows)
        assert failure.value.reason.value == expected
    for reason in ("triton_timeout", "triton_unavailable", "circuit_open"):
        assert m.value("streamdecide_triton_failures_total", model="fraud", reason=reason) == 1, reason
    assert m.value("streamdecide_circuit_breaker_state", model="fraud") == BREAKER_STATE_VALUES["open"]
    assert m.value("streamdecide_circuit_breaker_opens_total", model="fraud") == 1
    clock[0] += 5.0
    await scorer.score("fraud", rows)
    assert m.value("streamdecide_circuit_breaker_state", model="fraud") == BREAKER_STATE_VALUES["closed"]
    assert m.value("streamdecide_circuit_breaker_opens_total", model="fraud") == 1
    assert m.value("streamdecide_triton_requests_total", model="fraud") == 1


# --- consumer lag from committed and end offsets -----------------------------------------------


class FakeAdmin:
    def __init__(self, committed: dict[TopicPartition, int]) -> None:
        self.committed = committed

    async def list_consumer_group_offsets(self, group: str, partitions: list[TopicPartition]) -> dict:
        return {tp: OffsetAndMetadata(self.committed[tp], "") for tp in partitions if tp in self.committed}


class FakeOffsets:
    def __init__(self, partitions: dict[str, int], beginning: int, end: int) -> None:
        self.partitions, self.beginning, self.end = partitions, beginning, end

    async def topics(self) -> set[str]:
        return set(self.partitions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(range(self.partitions[topic])) if topic in self.partitions else None

    async def beginning_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.beginning for tp in parts}

    async def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.end for tp in parts}


async def test_consumer_lag_per_partition_counts_uncommitted_partitions_from_the_beginning() -> None:
    admin = FakeAdmin({TopicPartition("events.clicks", 0): 90, TopicPartition("events.clicks", 1): 100})
    offsets = FakeOffsets({"events.clicks": 2, "events.orders": 1}, beginning=10, end=100)
    lags = await measure_consumer_lag(admin, offsets, "g", ["events.clicks", "events.orders", "events.searches"])
    assert lags == {("events.clicks", 0): 10, ("events.clicks", 1): 0, ("events.orders", 0): 90}
    m = Metrics()
    m.set_consumer_lag("g", lags)
    assert m.value("streamdecide_consumer_lag", group="g", topic="events.orders", partition="0") == 90


def test_observing_many_latencies_at_once_equals_observing_each() -> None:
    rng = random.Random(4)
    values = [rng.choice([0.0, 1.0, 5.0, 10.0, 250.0, 1e9, -3.0]) for _ in range(50)]
    values += [rng.uniform(0.0, 3000.0) for _ in range(500)]
    one, many = (Histogram("lat_ms", "latency", ["type"], registry=CollectorRegistry()) for _ in range(2))
    for value in values:
        one.labels(type="bid").observe(value)
    observe_many(many.labels(type="bid"), values)
    observe_many(many.labels(type="bid"), [])
    samples = [{s.labels.get("le"): s.value for s in family.samples if s.name.endswith("_bucket")}
               for family in (one.collect()[0], many.collect()[0])]  # fmt: skip
    assert samples[0] == samples[1]
    assert one.labels(type="bid")._sum.get() == pytest.approx(many.labels(type="bid")._sum.get())
