"""The worker's /metrics endpoint, scraped while the real worker decides through the real broker and Triton."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.embedded.process import free_port
from streams.embedded.triton import EmbeddedTriton
from streams.metrics import METRICS
from streams.runtime import SERVED_MODELS
from streams.topics import (
    BIDS, CAMPAIGNS, CLICKS, DRIFT_ALERTS, EVENT_TOPICS, FRAUD, MODEL_EVENTS, ORDERS, PRICES, PRODUCTS, SEARCHES,
)  # fmt: skip
from tests.integration.pipeline import as_message, collect, create_topics, now_iso, send, start_worker, wait_until_deciding
from tests.unit.test_deploy import TRITON_SERVER_METRICS

pytestmark = pytest.mark.integration

SCRAPE_TIMEOUT_S = 60.0
SCRAPE_POLL_S = 1.0
HTTP_TIMEOUT_S = 5.0
RUN = uuid.uuid4().hex[:8]
PRODUCT = {"product_id": f"p-{RUN}", "title": "Lamp", "category": "home", "currency": "USD",
           "list_price": 30.0, "unit_cost": 10.0, "min_price": 20.0, "max_price": 40.0, "stock": 5}
CAMPAIGN = {"campaign_id": f"c-{RUN}", "ad_id": f"ad-{RUN}", "category": "home", "locales": [],
            "max_cpc": 1.0, "daily_budget": 250.0, "currency": "USD"}
DRIFTING_MODEL = f"m{RUN}"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def event(kind: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "event_id": f"{event_id}-{RUN}", "ts": now_iso(), "user_id": f"u-{event_id}",
            "channel": "web", "locale": "en-US", **fields}


def traffic() -> list[tuple[str, bytes, bytes]]:
    """A product view with an ad slot (ctr + conversion), a search (query_intent), an order (fraud), a bad catalog record."""
    order = {"order_id": f"o-{RUN}", "items": [{"product_id": PRODUCT["product_id"], "quantity": 1, "unit_price": 30.0}],
             "amount": 30.0, "currency": "USD", "payment": {"method": "card", "card_hash": "ab"}}
    return [
        as_message(CLICKS, event("product_view", "pv", product_id=PRODUCT["product_id"],
                                 ad_slot={"slot_id": "s1", "floor_cpm": 0.01})),
        as_message(ORDERS, event("order", "order", **order)),
        as_message(SEARCHES, event("search", "search", query="wireless earbuds")),
        (CAMPAIGNS, b"c-bad", b'{"campaign_id": "c-bad"}'),
    ]


def scrape(url: str) -> tuple[set[str], Samples]:
    """Family names and ``{(sample, labels): value}`` of one scrape."""
    body = urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S).read().decode()
    families, samples = set(), {}
    for family in text_string_to_metric_families(body):
        families.add(family.name)
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def scrape_until(url: str, done: Callable[[Samples], bool]) -> tuple[set[str], Samples]:
    """Scrape until ``done`` holds (the worker updates some gauges on timers), then return the last scrape."""
    deadline = time.monotonic() + SCRAPE_TIMEOUT_S
    while True:
        families, samples = scrape(url)
        if done(samples) or time.monotonic() > deadline:
            return families, samples
        time.sleep(SCRAPE_POLL_S)


@pytest.fixture(scope="module")
def deciding_worker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, broker: str, triton: EmbeddedTriton
) -> tuple[str, str]:
    """A worker deciding, with traffic through all three models; returns (bootstrap, metrics URL)."""
    asyncio.run(create_topics(broker))
    asyncio.run(send(broker, [as_message(PRODUCTS, PRODUCT), as_message(CAMPAIGNS, CAMPAIGN)]))
    port = free_port()
    worker = start_worker(broker, triton.grpc_url, tmp_path_factory.mktemp("metrics-worker"), metrics_port=str(port))
    request.addfinalizer(worker.stop)
    asyncio.run(wait_until_deciding(broker, worker))
    asyncio.run(send(broker, traffic()))
    ours = {f"pv-{RUN}", f"order-{RUN}"}
    asyncio.run(collect(broker, [BIDS, PRICES, FRAUD],
                        lambda out: {(t, v["event_id"]) for t, v in out if v["event_id"] in ours} >= {
                            (BIDS, f"pv-{RUN}"), (PRICES, f"pv-{RUN}"), (FRAUD, f"order-{RUN}")},
                        timeout_s=60))
    ops = [(MODEL_EVENTS, b"ctr", b'{"model": "%s", "version": 2, "action": "rejected"}' % DRIFTING_MODEL.encode()),
           (DRIFT_ALERTS, b"ctr", b'{"model": "%s", "detector": "adwin"}' % DRIFTING_MODEL.encode())]
    asyncio.run(send(broker, ops))
    return broker, f"http://127.0.0.1:{port}/metrics"


def test_triton_breaker_and_live_version_are_measured(deciding_worker: tuple[str, str]) -> None:
    _, url = deciding_worker

    def served_all(samples: Samples) -> bool:
        return all((value(samples, "streamdecide_triton_requests_total", model=m) or 0) > 0 for m in SERVED_MODELS)

    _, samples = scrape_until(url, served_all)
    for model in SERVED_MODELS:
        assert value(samples, "streamdecide_triton_requests_total", model=model) >= 1, model
        assert value(samples, "streamdecide_triton_request_latency_ms_count", model=model) >= 1, model
        assert value(samples, "streamdecide_triton_request_latency_ms_sum", model=model) > 0, model
        assert value(samples, "streamdecide_triton_batch_rows_sum", model=model) >= 1, model
        assert value(samples, "streamdecide_circuit_breaker_state", model=model) == 0, model
        assert value(samples, "streamdecide_model_live_version", model=model) >= 1, model
        assert not value(samples, "streamdecide_triton_failures_total", model=model, reason="triton_unavailable")
    assert value(samples, "streamdecide_worker_ready") == 1


def test_worker_tasks_measure_lag_budget_catalog_dlq_and_ops_topics(deciding_worker: tuple[str, str]) -> None:
    _, url = deciding_worker

    def all_in(samples: Samples) -> bool:
        return (
            value(samples, "streamdecide_ad_daily_budget", currency="USD") is not None
            and value(samples, "streamdecide_model_events_total", model=DRIFTING_MODEL, action="rejected") == 1
            and (value(samples, "streamdecide_dlq_messages_total", source_topic=CAMPAIGNS, reason="catalog_invalid")
                 or 0) >= 1
        )

    _, samples = scrape_until(url, all_in)
    lagged = {dict(labels)["topic"] for (name, labels) in samples if name == "streamdecide_consumer_lag"}
    assert lagged == set(EVENT_TOPICS)
    assert all(v >= 0 for (name, _), v in samples.items() if name == "streamdecide_consumer_lag")
    assert value(samples, "streamdecide_ad_daily_budget", currency="USD") >= CAMPAIGN["daily_budget"]
    assert value(samples, "streamdecide_dlq_messages_total", source_topic=CAMPAIGNS, reason="catalog_invalid") >= 1
    assert value(samples, "streamdecide_model_events_total", model=DRIFTING_MODEL, action="rejected") == 1
    assert value(samples, "streamdecide_drift_alerts_total", model=DRIFTING_MODEL, detector="adwin") == 1


def test_every_family_is_exposed(deciding_worker: tuple[str, str]) -> None:
    _, url = deciding_worker
    families, samples = scrape(url)
    exposed = {spec.name.removesuffix("_total") for spec in METRICS}
    assert exposed <= families, sorted(exposed - families)
    assert (value(samples, "streamdecide_events_total", topic=CLICKS, kind="product_view") or 0) >= 1
    assert (value(samples, "streamdecide_events_total", topic=SEARCHES, kind="search") or 0) >= 1
    assert (value(samples, "streamdecide_decision_latency_ms_count", type="price") or 0) >= 1
    assert (value(samples, "streamdecide_decision_latency_ms_count", type="fraud") or 0) >= 1
    decided = sum(v for (name, _), v in samples.items() if name == "streamdecide_decisions_total")
    assert decided >= 3, decided


def test_triton_server_metrics_used_by_dashboard_exist(triton: EmbeddedTriton) -> None:
    """The nv_* series the dashboard plots are exposed by tritonserver 2.51 (CPU build here)."""
    metrics_url = f"http://{triton._address('metrics')}/metrics"  # Lead: a public EmbeddedTriton.metrics_url would do
    families, _ = scrape(metrics_url)
    assert set(TRITON_SERVER_METRICS) <= families, sorted(set(TRITON_SERVER_METRICS) - families)


def test_metrics_port_in_use_fails_naming_the_setting(tmp_path: Path, broker: str, triton: EmbeddedTriton) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        worker = start_worker(broker, triton.grpc_url, tmp_path, metrics_port=str(taken.getsockname()[1]))
        try:
            deadline = time.monotonic() + 30
            while worker.alive and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not worker.alive
            assert "STREAMDECIDE_METRICS_PORT" in worker.log_tail()
        finally:
            worker.stop()
