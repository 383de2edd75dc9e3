"""Triton faults under steady load, with a dedicated real tritonserver that the test kills and restarts.

- Killed for 30 s: every event still gets its decisions; those of events sent while
  Triton was down are ``degraded``; from 10 s after Triton is back (its models ready)
  every decision is served by the model again (the breaker closed by itself).
- A model unloaded, then loaded with a wrong input shape: its decisions fall back,
  and the failure is logged once for the whole outage, not once per event.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agents.features import MODEL_FEATURES
from streams.embedded.process import ChildProcess
from streams.embedded.triton import EmbeddedTriton
from streams.topics import BIDS, CAMPAIGNS, CLICKS, DECISION_TOPICS, FRAUD, ORDERS, PRICES, PRODUCTS
from tests.integration.conftest import start_broker, start_triton
from tests.integration.faults import kill_triton, log_events, probe, read_topics, restart_triton, send_all
from tests.integration.pipeline import as_message, create_topics, now_iso, start_worker
from tests.integration.test_pipeline import CAMPAIGN, ORDER_FIELDS, PRODUCT

pytestmark = pytest.mark.integration

MODELS = sorted(MODEL_FEATURES)
"""The decision models (query_intent is off here: a lighter server restarts faster)."""
RATE_EPS = 40.0
TICK_S = 0.1
BEFORE_S = 5.0
DOWN_S = 30.0
AFTER_S = 14.0
RECOVERY_BOUND_S = 10.0
"""The requirement: back to model-served decisions within 10 s of Triton's return."""
READ_TIMEOUT_S = 180.0
PHASE_ORDERS = 40
FAILED = "triton request failed; fallback decides"
RECOVERED = "triton recovered"
OWED = {"order": (FRAUD,), "product_view": (BIDS, PRICES)}


@dataclass
class Rig:
    bootstrap: str
    worker: ChildProcess
    log_path: Path
    repository: Path
    work_dir: Path
    server: EmbeddedTriton
    sent: dict[str, tuple[str, float]] = field(default_factory=dict)
    """event_id -> (kind, monotonic send time)."""


@pytest.fixture(scope="module")
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model_repository: Path) -> Rig:
    """A broker, a tritonserver on a copy of the model repository, and a worker against them."""
    bootstrap = start_broker(request, tmp_path_factory)
    repository = tmp_path_factory.mktemp("fault-models") / "repo"
    for model in MODELS:
        shutil.copytree(model_repository / model, repository / model)
    server = start_triton(request, tmp_path_factory, repository, MODELS)
    asyncio.run(create_topics(bootstrap))
    asyncio.run(send_all(bootstrap, [as_message(PRODUCTS, PRODUCT), as_message(CAMPAIGNS, CAMPAIGN)]))
    data_dir = tmp_path_factory.mktemp("fault-worker")
    worker = start_worker(bootstrap, server.grpc_url, data_dir, intent__enabled="false")
    request.addfinalizer(worker.stop)
    asyncio.run(probe(bootstrap, worker, FRAUD))
    rig = Rig(bootstrap, worker, data_dir / "worker.log", repository, tmp_path_factory.mktemp("fault-triton"), server)
    request.addfinalizer(lambda: rig.server.stop())
    return rig


def load_event(kind: str) -> dict[str, Any]:
    event_id = f"ld-{kind[:2]}-{uuid.uuid4().hex[:10]}"
    base = {"kind": kind, "event_id": event_id, "ts": now_iso(), "user_id": f"u-{event_id[-3:]}", "channel": "web"}
    if kind == "order":
        return {**base, **ORDER_FIELDS, "order_id": event_id}
    return {**base, "product_id": PRODUCT["product_id"], "ad_slot": {"slot_id": "s-load", "floor_cpm": 0.01}}


async def steady_load(rig: Rig, stop: asyncio.Event) -> None:
    """Orders and product views (with an ad slot) at ``RATE_EPS`` until ``stop`` is set."""
    per_tick = max(1, round(RATE_EPS * TICK_S))
    n = 0
    while not stop.is_set():
        began = time.monotonic()
        events = []
        for _ in range(per_tick):
            kind = "order" if n % 2 else "product_view"
            events.append((ORDERS if kind == "order" else CLICKS, load_event(kind)))
            n += 1
        for _, event in events:
            rig.sent[event["event_id"]] = (event["kind"], time.monotonic())
        await send_all(rig.bootstrap, [as_message(topic, event) for topic, event in events])
        await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - began)))


async def read_owed(rig: Rig, event_ids: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """The decision of every (topic, event_id) owed for ``event_ids``."""
    owed = {(topic, e) for e in event_ids for topic in OWED[rig.sent[e][0]]}
    got: dict[tuple[str, str], dict[str, Any]] = {}
    looked = [0]

    def done(records: list[Any]) -> bool:
        for r in records[looked[0] :]:
            key = (r.topic, r.value.get("event_id"))
            if key in owed:
                got.setdefault(key, r.value)
        looked[0] = len(records)
        return owed <= got.keys()

    await read_topics(rig.bootstrap, list(DECISION_TOPICS), done, READ_TIMEOUT_S)
    missing = owed - got.keys()
    assert not missing, f"{len(missing)} of {len(owed)} owed decisions missing, e.g. {sorted(missing)[:5]}"
    return got


def test_triton_killed_for_30_s_degrades_every_decision_then_recovers_within_10_s(rig: Rig) -> None:
    failed_before = Counter(r["model"] for r in log_events(rig.log_path, FAILED))

    async def run() -> dict[str, float]:
        stop = asyncio.Event()
        load = asyncio.create_task(steady_load(rig, stop))
        marks: dict[str, float] = {}
        try:
            await asyncio.sleep(BEFORE_S)
            marks["killed"] = time.monotonic()
            kill_triton(rig.server)
            await asyncio.sleep(DOWN_S)
            marks["restarting"] = time.monotonic()
            rig.server = await asyncio.to_thread(restart_triton, rig.server, rig.repository, MODELS, rig.work_dir)
            marks["back"] = time.monotonic()
            await asyncio.sleep(AFTER_S)
        finally:
            stop.set()
            await load
        return marks

    marks = asyncio.run(run())
    decisions = asyncio.run(read_owed(rig, set(rig.sent)))
    sent_at = {e: at for e, (_, at) in rig.sent.items()}

    down = [d for (_, e), d in decisions.items() if marks["killed"] <= sent_at[e] <= marks["restarting"]]
    assert down and all(d["degraded"] for d in down), Counter(d["model_version"] for d in down if not d["degraded"])
    late = [d for (_, e), d in decisions.items() if sent_at[e] >= marks["back"] + RECOVERY_BOUND_S]
    assert late and not any(d["degraded"] for d in late), Counter(d["model_version"] for d in late if d["degraded"])
    last_degraded = max(sent_at[e] for (_, e), d in decisions.items() if d["degraded"])
    recovered_after_s = max(0.0, last_degraded - marks["back"])

    assert rig.worker.alive, rig.worker.log_tail()
    failed = Counter(r["model"] for r in log_events(rig.log_path, FAILED)) - failed_before
    assert failed == Counter({m: 1 for m in MODELS}), failed
    print(f"\ntriton killed {DOWN_S:.0f} s (restart took {marks['back'] - marks['restarting']:.1f} s): "
          f"{len(decisions)} decisions for {len(rig.sent)} events, {len(down)} while down (all degraded), "
          f"last degraded decision for an event sent {recovered_after_s:.1f} s after Triton was back")  # fmt: skip


def test_unloaded_then_misshapen_model_falls_back_and_is_logged_once(rig: Rig) -> None:
    failed_before = len([r for r in log_events(rig.log_path, FAILED) if r["model"] == "fraud"])
    recovered_before = len([r for r in log_events(rig.log_path, RECOVERED) if r["model"] == "fraud"])
    config = rig.repository / "fraud" / "config.pbtxt"
    original = config.read_text()
    width = MODEL_FEATURES["fraud"]
    assert f"dims: [ {width} ]" in original

    def orders(count: int) -> set[str]:
        events = [load_event("order") for _ in range(count)]
        for e in events:
            rig.sent[e["event_id"]] = ("order", time.monotonic())
        asyncio.run(send_all(rig.bootstrap, [as_message(ORDERS, e) for e in events]))
        return {e["event_id"] for e in events}

    try:
        rig.server.unload_model("fraud")
        unloaded = asyncio.run(read_owed(rig, orders(PHASE_ORDERS)))
        config.write_text(original.replace(f"dims: [ {width} ]", f"dims: [ {width + 1} ]"))
        rig.server.load_model("fraud")
        misshapen = asyncio.run(read_owed(rig, orders(PHASE_ORDERS)))
    finally:
        config.write_text(original)
        rig.server.load_model("fraud")
    for phase in (unloaded, misshapen):
        assert all(d["degraded"] and d["action"] in ("allow", "review", "block") for d in phase.values())

    deadline = time.monotonic() + READ_TIMEOUT_S
    while time.monotonic() < deadline:  # the breaker closes at its next half-open probe
        if not any(d["degraded"] for d in asyncio.run(read_owed(rig, orders(5))).values()):
            break
    else:
        raise AssertionError("fraud decisions still degraded after the model was restored")
    failed = len([r for r in log_events(rig.log_path, FAILED) if r["model"] == "fraud"]) - failed_before
    recovered = len([r for r in log_events(rig.log_path, RECOVERED) if r["model"] == "fraud"]) - recovered_before
    assert (failed, recovered) == (1, 1), f"logged {failed} failures and {recovered} recoveries for {2 * PHASE_ORDERS}+ orders"
