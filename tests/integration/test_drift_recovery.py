"""Drift → alert → automatic refit → shadow → promotion, end to end: real broker, Triton, worker and refit.

Closed-loop synthetic traffic (the generator acts as the ad exchange, so clicks follow
the campaigns the worker bid for) runs the ``ctr-electronics`` scenario: from event
``SHIFT_AT`` on, electronics ads draw about 6x the clicks. Nothing but the worker's
own machinery reacts: its per-segment drift watcher raises an alert, the worker starts
``streamdecide refit ctr --since <alert>`` as a child process, the refit trains on the
post-drift examples plus a replay of older ones, loads version 2 in this module's own
Triton next to version 1, the worker scores it in shadow on live traffic, and the refit
promotes it. Measured, not assumed: how many post-shift labelled examples the alert
took, the live model's calibration (Σp / Σclicks) before the shift, while stale, and
after promotion, and that every eligible event got its decisions, none degraded. The
shifted category counts as calibrated again when its calibration is far better than the
stale model's and no worse than before the shift beyond what the clicks counted in the two
phases can resolve (:func:`calibration_gap_tolerance`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pytest

from agents.features import ctr_slot_context, segment_of
from schemas.codec import encode, loads
from schemas.decisions import decision_id_for
from schemas.ops import ModelEvent
from streams.consume import follow
from streams.embedded.triton import EmbeddedTriton
from streams.runtime import SERVED_MODELS
from streams.synthetic.produce import produce_synthetic
from streams.synthetic.traffic import iter_catalog
from streams.synthetic.world import World
from streams.topics import (
    BIDS, CLICKS, DLQ, DRIFT_ALERTS, FRAUD, LABELLED, MODEL_EVENTS, ORDERS, PRICES, SEARCHES,
)  # fmt: skip
from tests.integration.conftest import start_broker, start_triton
from tests.integration.pipeline import collect, create_topics, read_all, send, start_worker
from tests.integration.pipeline import wait_until_deciding

pytestmark = pytest.mark.integration

MODEL: Final = "ctr"
SCENARIO: Final = "ctr-electronics"
SHIFTED: Final = "electronics"
SHIFT_AT: Final = 6_000
"""After the drift watcher's warm-up (``WORKER_ENV``): at 60 events/s about 500 ctr examples, 200 of electronics,
are labelled before it. A shift inside the warm-up is absorbed into the detectors' reference and never alerts."""
RATE_EPS: Final = 60.0
"""Slow enough for the worker, on 2 cores shared with broker, Triton and the refit, to answer most
ad slots within their tmax_ms (50-120 ms): a late bid passes (``deadline``) and never wins."""
MAX_EVENTS: Final = 120_000
"""A bound only: the run ends once the promoted version is measured (or a wait times out)."""
PROMOTION_TIMEOUT_S: Final = 900.0
"""Bound on the wait for the refit's outcome (about 5-9 min here: the alert, 300 post-alert examples, training,
loading, 200 shadow examples)."""
REFITTED_EXAMPLES: Final = 120
"""Labelled electronics ctr examples scored by the promoted version that traffic keeps flowing for, to measure it."""
AFTER_PROMOTION_TIMEOUT_S: Final = 400.0
"""Bound on that wait (60 examples took about 60-90 s here; budgets and pacing make the example rate vary 3x)."""
CALIBRATION_Z: Final = 2.0
"""Standard errors of counting noise by which the refitted calibration may miss the pre-shift one."""
DRAIN_TIMEOUT_S: Final = 90.0
ALERT_BOUND: Final = 2_500
"""Post-shift labelled ctr examples within which the drift alert must come (measured: 455, 631, 839, 869, 902 and
1,903; the slow run had 175 pre-shift examples where the others had about 600, so a noisier reference)."""
WORKER_ENV: Final = {
    "learning__click_window_s": "5", "learning__order_window_s": "5", "learning__chargeback_window_s": "10",
    "refit__auto": "true", "refit__min_examples": "300", "refit__shadow_examples": "200",
    "refit__change_wait_s": "240", "refit__shadow_timeout_s": "240", "refit__unload_grace_s": "2",
    "learning__warmup": "200", "learning__segment_min_examples": "100",
    "intent__enabled": "false", "fetch_max_wait_ms": "200",
}  # fmt: skip
"""Short label windows, a short drift warm-up, small refit and shadow samples; search queries unclassified
(``query_intent`` on CPU would hold search bids past their tmax_ms: this test is about the ctr model's life,
not search). The alert bound at the default warm-up is measured in ``tests/functional/test_drift_scenario.py``."""
INPUT_TOPICS: Final = [CLICKS, SEARCHES, ORDERS]
SEED: Final = 11
"""The synthetic world's seed: its catalog is published before the worker starts, its events by the generator."""


@dataclass
class Run:
    """What one scenario run wrote to the broker, read back after the worker drained."""

    events: list[dict[str, Any]]
    decisions: dict[str, list[dict[str, Any]]]
    labelled: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    model_events: list[ModelEvent]
    dlq: list[dict[str, Any]]
    shift_at: datetime
    refit_log: str
    printed_report: bool = False


def expected_decisions(event: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """``(topic, decision_id)`` of each decision the contract promises for an input event."""
    if event.get("ad_slot") is not None:
        yield BIDS, decision_id_for(event["event_id"], "bid")
    if event["kind"] == "product_view":
        yield PRICES, decision_id_for(event["event_id"], "price")
    if event["kind"] == "order":
        yield FRAUD, decision_id_for(event["event_id"], "fraud")


def generator_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The generator's own events in stream order (the exchange's win notices and clicks, the probe left out)."""
    own = [e for e in events if not e["event_id"].endswith(("-win", "-clk")) and not e["event_id"].startswith("probe-")]
    return sorted(own, key=lambda e: at(e["ts"]))


async def refit_outcome(bootstrap: str) -> ModelEvent:
    """The first ``promoted`` or ``rejected`` event of a refitted ctr version."""
    async for record in follow(bootstrap, [MODEL_EVENTS], from_beginning=True):
        event = ModelEvent.model_validate(loads(record.value))
        if event.model == MODEL and event.version > 1 and event.action in ("promoted", "rejected"):
            return event
    raise AssertionError("ops.model-events ended")


async def refitted_examples(bootstrap: str, promoted: ModelEvent) -> None:
    """Returns once ``REFITTED_EXAMPLES`` shifted-segment ctr examples scored by ``promoted`` are labelled."""
    seen = 0
    async for record in follow(bootstrap, [LABELLED], from_beginning=True):
        example = loads(record.value)
        if example["model"] == MODEL and example["model_version"] == f"{MODEL}:{promoted.version}":
            seen += segment_of(MODEL, example["features"]) == SHIFTED
            if seen >= REFITTED_EXAMPLES:
                return


async def run_until_promoted(bootstrap: str) -> None:
    """Closed-loop traffic with the shift until the ctr refit is promoted (or rejected), then until the promoted
    version has scored enough labelled examples.

    Raises ``TimeoutError`` when no outcome comes within ``PROMOTION_TIMEOUT_S``.
    """
    producer = asyncio.create_task(produce_synthetic(
        bootstrap, rate_eps=RATE_EPS, duration_s=None, max_events=MAX_EVENTS, seed=SEED,
        scenario=f"{SCENARIO}@{SHIFT_AT}", client_kwargs={}, closed_loop=True))  # fmt: skip
    try:
        outcome = await asyncio.wait_for(refit_outcome(bootstrap), PROMOTION_TIMEOUT_S)
        if outcome.action == "promoted":
            with contextlib.suppress(TimeoutError):  # too few examples fails the quality test, with its report
                await asyncio.wait_for(refitted_examples(bootstrap, outcome), AFTER_PROMOTION_TIMEOUT_S)
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)


@pytest.fixture(scope="module")
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model_repository: Path) -> Run:
    bootstrap = start_broker(request, tmp_path_factory)
    asyncio.run(create_topics(bootstrap))
    baseline = ModelEvent(model=MODEL, version=1, action="promoted", reason="baseline", at=datetime.now(UTC))
    asyncio.run(send(bootstrap, [(MODEL_EVENTS, MODEL.encode(), encode(baseline))]))
    # The worker is ready only once it has read the catalog it finds at start. The generator sends the
    # catalog again right before its first events: had the worker to learn it then, a product view could
    # outrun its product's catalog record (no price decision is promised for an unknown product).
    catalog = [(topic, key.encode(), encode(record)) for topic, key, record in iter_catalog(World.from_seed(SEED))]
    asyncio.run(send(bootstrap, catalog))
    repository = tmp_path_factory.mktemp("drift-models") / "models"
    shutil.copytree(model_repository, repository, ignore=shutil.ignore_patterns("__pycache__"))
    triton: EmbeddedTriton = start_triton(request, tmp_path_factory, repository, list(SERVED_MODELS))
    data_dir = tmp_path_factory.mktemp("drift-worker")
    worker = start_worker(bootstrap, triton.grpc_url, data_dir, model_repository=str(repository), **WORKER_ENV)
    request.addfinalizer(worker.stop)
    asyncio.run(wait_until_deciding(bootstrap, worker))
    try:
        asyncio.run(run_until_promoted(bootstrap))
    except TimeoutError:
        refit_log = data_dir / "logs" / f"refit-{MODEL}.log"
        tail = refit_log.read_text()[-3000:] if refit_log.exists() else "(no refit started)"
        raise AssertionError(f"no ctr refit finished in time\nrefit log:\n{tail}\nworker:\n{worker.log_tail()}") from None

    inputs = asyncio.run(read_all(bootstrap, INPUT_TOPICS))
    events = [e for _, e in inputs if "kind" in e]
    wanted = {pair for e in events for pair in expected_decisions(e)}

    def drained(records: list[tuple[str, dict[str, Any]]]) -> bool:
        return wanted <= {(t, v.get("decision_id")) for t, v in records}

    decided = asyncio.run(collect(bootstrap, [BIDS, PRICES, FRAUD], drained, DRAIN_TIMEOUT_S))
    ops = asyncio.run(read_all(bootstrap, [LABELLED, DRIFT_ALERTS, MODEL_EVENTS, DLQ]))
    own = generator_events(events)
    refit_log = data_dir / "logs" / f"refit-{MODEL}.log"
    return Run(
        events=events,
        decisions={t: [v for topic, v in decided if topic == t] for t in (BIDS, PRICES, FRAUD)},
        labelled=[v for t, v in ops if t == LABELLED],
        alerts=[v for t, v in ops if t == DRIFT_ALERTS],
        model_events=[ModelEvent.model_validate(v) for t, v in ops if t == MODEL_EVENTS],
        dlq=[v for t, v in ops if t == DLQ],
        shift_at=datetime.fromisoformat(own[SHIFT_AT]["ts"]),
        refit_log=refit_log.read_text() if refit_log.exists() else "",
    )


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def ctr_examples(run: Run) -> list[dict[str, Any]]:
    return [e for e in run.labelled if e["model"] == MODEL]


def calibration(examples: list[dict[str, Any]]) -> float:
    """Σ predicted / Σ observed clicks (1.0 = calibrated; < 1 = the model expects too few clicks)."""
    clicks = sum(e["label"] for e in examples)
    return sum(e["score"] for e in examples) / max(clicks, 1)


def log_loss(examples: list[dict[str, Any]]) -> float:
    eps = 1e-7
    return -sum(
        math.log(min(max(e["score"], eps), 1 - eps)) if e["label"] else math.log(min(max(1 - e["score"], eps), 1 - eps))
        for e in examples
    ) / max(len(examples), 1)


def by_segment(examples: list[dict[str, Any]], shifted: bool) -> list[dict[str, Any]]:
    return [e for e in examples if (segment_of(MODEL, e["features"]) == SHIFTED) == shifted]


def phases(run: Run) -> dict[str, list[dict[str, Any]]]:
    """ctr examples decided before the shift, after it by version 1, and by the promoted version."""
    promoted = next(e for e in run.model_events if e.model == MODEL and e.action == "promoted" and e.version > 1)
    examples = ctr_examples(run)
    return {
        "pre": [e for e in examples if at(e["decided_at"]) < run.shift_at],
        "stale": [e for e in examples if at(e["decided_at"]) >= run.shift_at and e["model_version"] == f"{MODEL}:1"],
        "refitted": [e for e in examples if e["model_version"] == f"{MODEL}:{promoted.version}"],
    }


def test_every_eligible_event_is_decided_once_and_none_degraded(run: Run) -> None:
    wanted = Counter(pair for e in run.events for pair in expected_decisions(e))
    got = Counter((t, d["decision_id"]) for t, ds in run.decisions.items() for d in ds)
    missing = set(wanted) - set(got)
    print(f"\nevents {len(run.events)}, decisions {sum(got.values())} "
          f"({ {t: len(d) for t, d in run.decisions.items()} }), duplicates {sum(got.values()) - len(got)}")  # fmt: skip
    assert not missing, f"{len(missing)} eligible events without a decision, e.g. {sorted(missing)[:5]}"
    degraded = [d for ds in run.decisions.values() for d in ds if d["degraded"]]
    assert not degraded, f"{len(degraded)} degraded decisions, e.g. {degraded[:2]}"
    assert not run.dlq, run.dlq[:3]


def test_shift_raises_one_ctr_alert_within_the_bound(run: Run) -> None:
    ctr_alerts = [a for a in run.alerts if a["model"] == MODEL]
    assert ctr_alerts, f"no ctr alert; alerts: {run.alerts}"
    first = ctr_alerts[0]
    detected = at(first["detected_at"])
    assert detected >= run.shift_at, f"ctr alert before the shift: {first}"
    post_shift = [e for e in ctr_examples(run) if run.shift_at <= at(e["labelled_at"]) <= detected]
    shifted = by_segment(post_shift, shifted=True)
    print(f"\nctr alert {first['signal']} after {len(post_shift)} post-shift labelled ctr examples "
          f"({len(shifted)} {SHIFTED}), {(detected - run.shift_at).total_seconds():.0f} s after the shift")
    assert len(post_shift) <= ALERT_BOUND, first


def test_refit_is_shadowed_and_promoted_from_the_live_worker(run: Run) -> None:
    steps = [(e.version, e.action) for e in run.model_events if e.model == MODEL and e.version > 1]
    print(f"\nctr model events: {steps}")
    assert steps[:4] == [(2, "trained"), (2, "loaded"), (2, "shadow"), (2, "promoted")], (steps, run.refit_log[-2000:])
    promoted = next(e for e in run.model_events if (e.version, e.action) == (2, "promoted"))
    print(f"promotion metrics: {promoted.metrics}")


def mix_report(run: Run) -> None:
    """Print the other categories' examples, clicks and Σp per phase by scene and category match (the mix)."""
    print("\nothers by phase / scene / ad matches the slot's category: examples, clicks, Σp")
    for name, examples in phases(run).items():
        cells: Counter[tuple[str, bool]] = Counter()
        clicks: Counter[tuple[str, bool]] = Counter()
        expected: Counter[tuple[str, bool]] = Counter()
        for e in by_segment(examples, shifted=False):
            cell = ctr_slot_context(e["features"])
            cells[cell] += 1
            clicks[cell] += e["label"]
            expected[cell] += e["score"]
        for cell in sorted(cells):
            scene, matches = cell
            print(f"  {name:9s} {scene:8s} {str(matches):5s} {cells[cell]:6d} {clicks[cell]:5d} {expected[cell]:7.2f}")


def quality_report(run: Run) -> dict[tuple[str, str], tuple[int, int, float, float]]:
    """(examples, clicks, Σp/Σclicks, log-loss) per phase and segment, printed once."""
    report = {}
    for name, examples in phases(run).items():
        for label, shifted in ((SHIFTED, True), ("others", False)):
            part = by_segment(examples, shifted)
            report[name, label] = (len(part), sum(e["label"] for e in part), calibration(part), log_loss(part))
    if not run.printed_report:
        print("\nphase / segment: examples, clicks, Σp/Σclicks, log-loss")
        for (name, label), (n, clicks, cal, loss) in report.items():
            print(f"  {name:9s} {label:11s} {n:6d} {clicks:6d}  {cal:5.2f}  {loss:.4f}")
        mix_report(run)
        run.printed_report = True
    return report


def calibration_gap(ratio: float) -> float:
    """``|log Σp/Σclicks|``: how far a phase is from calibrated, either way (0 = calibrated).

    >>> calibration_gap(1.0), round(calibration_gap(0.5), 3) == round(calibration_gap(2.0), 3)
    (0.0, True)
    """
    return abs(math.log(max(ratio, 1e-9)))


def calibration_gap_tolerance(clicks: int, reference_clicks: int) -> float:
    """How far ``|log Σp/Σclicks|`` of one phase may exceed a reference phase's from counting noise alone.

    The standard error of ``log Σclicks`` is about ``1/sqrt(Σclicks)`` (clicks are Poisson given the
    scores), so that of the difference of two phases is ``sqrt(1/c + 1/c_ref)``; the tolerance is
    ``CALIBRATION_Z`` of them.

    >>> round(calibration_gap_tolerance(25, 100), 2)
    0.45
    """
    return CALIBRATION_Z * math.sqrt(1 / max(clicks, 1) + 1 / max(reference_clicks, 1))


def test_the_shifted_category_is_calibrated_again_after_promotion(run: Run) -> None:
    report = quality_report(run)
    pre, stale, refitted = (report[p, SHIFTED] for p in ("pre", "stale", "refitted"))
    assert refitted[0] >= REFITTED_EXAMPLES and stale[0] >= 50, report
    gap = {name: calibration_gap(phase[2]) for name, phase in (("pre", pre), ("stale", stale), ("refitted", refitted))}
    tolerance = calibration_gap_tolerance(refitted[1], pre[1])
    print(f"\n{SHIFTED} |log Σp/Σclicks|: pre {gap['pre']:.2f}, stale {gap['stale']:.2f}, refitted "
          f"{gap['refitted']:.2f} (allowed {gap['pre']:.2f} + {tolerance:.2f})")
    # the stale model expects far too few electronics clicks; the refitted one is back to its pre-shift
    # calibration, within what the clicks counted in the two phases can resolve
    assert gap["refitted"] < gap["stale"] - 0.5, report
    assert gap["refitted"] <= gap["pre"] + tolerance, report


@pytest.mark.xfail(strict=False, reason=(
    "open finding (issue 6): the other categories' Σp/clicks is dominated by search slots, where with query "
    "intent off (WORKER_ENV) the model cannot see the query's category and expects 2.4-5.5x too few clicks in "
    "every phase, version 1 included (pre 2.76 for 15 clicks, stale 4.23 for 10, refitted 2.80 for 9 in one run); "
    "the aggregate then swings with the share of search impressions the closed loop wins: 0.27 to 2.22 after "
    "promotion in nine measured runs, and version 1 alone went from 0.52 to 0.81 and 0.56 to 0.92 between phases"))
def test_the_other_categories_are_not_forgotten_on_live_traffic(run: Run) -> None:
    report = quality_report(run)
    pre, refitted = report["pre", "others"], report["refitted", "others"]
    tolerance = calibration_gap_tolerance(refitted[1], pre[1])
    assert calibration_gap(refitted[2]) <= calibration_gap(pre[2]) + tolerance, report


def test_no_decision_failed_during_the_rollout(run: Run) -> None:
    versions = Counter(d["model_version"] for d in run.decisions[BIDS] if d["campaign_id"])
    print(f"\nbid decisions by model version: {dict(versions)}")
    assert versions[f"{MODEL}:1"] > 0 and versions[f"{MODEL}:2"] > 0, versions
    assert set(versions) <= {f"{MODEL}:1", f"{MODEL}:2"}, versions


def test_closed_loop_wins_follow_the_bids(run: Run) -> None:
    bids = {d["decision_id"]: d for d in run.decisions[BIDS]}
    wins = [e for e in run.events if e["kind"] == "ad_impression"]
    assert wins
    for win in wins:
        bid = bids[win["decision_id"]]
        assert win["campaign_id"] == bid["campaign_id"] and 0 < win["clearing_cpm"] <= bid["bid_cpm"], (win, bid)
    clicks = [e for e in run.events if e["kind"] == "ad_click"]
    passes = Counter(r for b in bids.values() if b["bid_cpm"] == 0 for r in b["reasons"])
    latencies = sorted(b["latency_ms"] for b in bids.values())
    print(f"\nwins {len(wins)} of {sum(1 for b in bids.values() if b['bid_cpm'] > 0)} bids of {len(bids)} slots, "
          f"clicks {len(clicks)}; pass reasons {dict(passes.most_common())}; bid latency p50 "
          f"{latencies[len(latencies) // 2]:.0f} ms, p90 {latencies[len(latencies) * 9 // 10]:.0f} ms")  # fmt: skip
