"""``streamdecide bench`` runs every phase on the real stack and accounts for every decision (no timing asserts).

Two processes per phase share the two partitions: the smoke run also covers ``--workers``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.bench import run_bench
from streams.cpu_affinity import core_layout
from streams.embedded.process import free_ports
from streams.settings import Settings

pytestmark = pytest.mark.integration


def test_bench_smoke(tmp_path: Path, model_repository: Path) -> None:
    broker, http, grpc, metrics = free_ports(4)
    settings = Settings(
        _env_file=None, data_dir=tmp_path, model_repository=model_repository, broker_port=broker,
        triton_http_port=http, triton_grpc_port=grpc, triton_metrics_port=metrics, topic_partitions=2,
    )
    result = run_bench(settings, n_events=600, latency_s=2.0, fraction=0.25, seed=3, emit=lambda _: None, workers=2)
    assert result["workers"] == 2 and result["processes"]["decision_worker"]["processes"] >= 2
    layout = core_layout(frozenset(os.sched_getaffinity(0)), 2)  # none on two cores: no core is left for the rest
    assert result["cpu_layout"] == (layout.as_json() if layout else None)
    assert result["decisions_seen"] == result["decisions_expected"] > 0
    assert result["passthrough_eps"] > 0 and result["decision_eps"] > 0
    assert result["latency"]["decisions"] > 0 and result["latency"]["p50_ms"] <= result["latency"]["p99_ms"]
    assert result["latency"]["cpu_us_per_event"]["workers"] > 0 and "broker" in result["latency"]["cpu_us_per_event"]
    assert sum(s["decisions"] for s in result["latency"]["by_slice"]) == result["latency"]["decisions"]
    assert result["triton"]["requests_per_1000_events"] > 0 and result["triton"]["mean_rows_per_request"] >= 1
    assert all(result["processes"][p]["cpu_s"] > 0 for p in ("passthrough_worker", "decision_worker", "broker"))
    per_event = result["cpu_us_per_event_at_saturation"]
    assert per_event["decision_path"]["workers"] > 0 and per_event["passthrough"]["workers"] > 0
    assert "tritonserver_and_stubs" in per_event["decision_path"] and "broker" in per_event["passthrough"]
    assert set(result["triton"]["compute_ms_per_1000_events"]) >= {"ctr", "fraud", "query_intent"}
    saturated = result["batches_at_saturation"]
    assert set(saturated) == {"events.clicks", "events.searches", "events.orders"}
    assert all(1 <= b["mean_records"] <= settings.batching.max_size and b["batches"] > 0 for b in saturated.values())
    assert sum(b["records"] for b in saturated.values()) >= 600  # a rebalance between the two workers may redeliver
    assert result["latency"]["batches"] and all(b["batches"] > 0 for b in result["latency"]["batches"].values())
    for bids in (result["bids_at_saturation"], result["latency"]["bids"]):
        assert bids["bids"] > 0 and 0.0 <= bids["past_deadline"] <= 1.0
    assert result["bids_at_saturation"]["past_deadline"] == 0.0  # preloaded slots carry no deadline: all scored
