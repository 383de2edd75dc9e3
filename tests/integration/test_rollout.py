"""Refit → load next to live → shadow → promote, rollback, a rejected worse candidate: real broker and Triton.

A loop of versioned ``TritonScorer.score`` calls at a steady rate runs through every
step and must see zero failed requests. The shadow examples are what a worker would
publish: the live version's score and the candidate's shadow score of fresh post-shift
rows, each joined with its label.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest
import torch
from aiokafka import AIOKafkaProducer

from agents.learning.live import LiveVersions, cached_live_versions, follow_live_versions
from agents.learning.store import ExampleStore, examples_dir
from agents.scoring import ScoringUnavailable, TritonScorer
from schemas.codec import encode
from schemas.learning import LabelledExample
from schemas.ops import ModelEvent
from streams.admin import ensure_topics
from streams.rollout import Rollout, TritonControl, refit_and_roll_out, roll_back
from streams.settings import RefitPolicy, Settings, TritonClientSettings
from streams.topics import LABELLED, topic_specs
from tests.integration.conftest import TritonFactory, start_broker
from tests.unit.test_refit import RECENT_ROWS, REPLAY_ROWS, SEED, draw_rows, live_model, shifted_ctr_row, shifted_world
from triton_models.cli import describe
from triton_models.datasets import Dataset
from triton_models.nets import CalibratedClassifier, to_artifact
from triton_models.refit import refit, write_candidate
from triton_models.repository import write_version

pytestmark = pytest.mark.integration

MODEL: Final = "ctr"
SHADOW_ROWS: Final = 2_000
POLICY: Final = RefitPolicy(recent_window=RECENT_ROWS, replay_size=REPLAY_ROWS, min_examples=2_000,
                            holdout_fraction=0.25, min_recent_improvement=0.005, max_replay_regression=0.05,
                            shadow_examples=SHADOW_ROWS, shadow_timeout_s=60.0, unload_grace_s=1.5)  # fmt: skip
LOAD_RATE_HZ: Final = 50.0
LOAD_ROWS: Final = 16
STEP_TIMEOUT_S: Final = 180.0
CLIENT: Final = TritonClientSettings(deadline_s=5.0)


@pytest.fixture(scope="module")
def bootstrap(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A broker of this module's own: the model-events topic must start empty."""
    return start_broker(request, tmp_path_factory)


@dataclass
class Load:
    """Counts of the steady scoring loop."""

    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    by_version: Counter[str] = field(default_factory=Counter)


async def steady_load(scorer: TritonScorer, live: LiveVersions, stop: asyncio.Event, load: Load) -> None:
    """Score ``LOAD_ROWS`` rows against the live version every ``1 / LOAD_RATE_HZ`` s until ``stop``."""
    x = draw_rows(shifted_ctr_row(), live_model()[0], LOAD_ROWS, SEED + 9).x
    period = 1.0 / LOAD_RATE_HZ
    next_at = time.monotonic()
    while not stop.is_set():
        try:
            scores = await scorer.score(MODEL, x, version=live.live(MODEL))
            load.ok += 1
            load.by_version[scores.model_version] += 1
        except ScoringUnavailable as exc:
            load.failed += 1
            load.errors.append(str(exc))
        next_at += period
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def feed_shadow(bootstrap: str, scorer: TritonScorer, live: LiveVersions, rows: Dataset) -> int:
    """Once a candidate is in shadow, publish ``rows`` as labelled examples scored by live and candidate."""
    while live.shadow(MODEL) is None:
        await asyncio.sleep(0.05)
    live_version, candidate = live.live(MODEL), live.shadow(MODEL)
    assert live_version is not None and candidate is not None
    served = await scorer.score(MODEL, rows.x, version=live_version)
    shadow = await scorer.score_shadow(MODEL, rows.x, candidate)
    assert shadow is not None and shadow.model_version == f"{MODEL}:{candidate}"
    assert served.model_version == f"{MODEL}:{live_version}"
    now = datetime.now(UTC)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(LABELLED, encode(LabelledExample(
                model=MODEL, decision_id=f"bid-{uuid.uuid4().hex[:12]}", features=row.tolist(), score=float(p),
                model_version=served.model_version, label=bool(y), decided_at=now, labelled_at=now,
                shadow_score=float(s), shadow_version=shadow.model_version)), key=MODEL.encode())
            for row, y, p, s in zip(rows.x, rows.y, served.proba, shadow.proba, strict=True)
        ]  # fmt: skip
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(rows.y)


async def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def as_examples(rows: Dataset, live: CalibratedClassifier) -> list[LabelledExample]:
    """``rows`` as labelled examples scored by ``live`` (what the worker's label joins write to the store)."""
    with torch.inference_mode():
        proba = live(torch.from_numpy(rows.x)).numpy().ravel()
    now = datetime.now(UTC)
    return [
        LabelledExample(model=MODEL, decision_id=f"bid-{i}", features=row.tolist(), score=float(p),
                        model_version=f"{MODEL}:1", label=bool(y), decided_at=now, labelled_at=now)
        for i, (row, y, p) in enumerate(zip(rows.x, rows.y, proba, strict=True))
    ]  # fmt: skip


def actions(events: list[ModelEvent], version: int) -> list[str]:
    return [e.action for e in events if e.version == version]


async def test_refit_shadow_promote_rollback_and_reject(
    bootstrap: str, triton_factory: TritonFactory, tmp_path: Path
) -> None:
    repository, data_dir = tmp_path / "models", tmp_path / "data"
    _, trained = live_model()
    assert write_version(repository, trained.card, to_artifact(trained.model)).version == 1
    server = triton_factory(repository, [MODEL])
    await ensure_topics(bootstrap, topic_specs(1))
    _, live_net, recent, replay = shifted_world()
    world = live_model()[0]

    live, ready, seen = LiveVersions(), asyncio.Event(), []
    live.listeners.append(seen.append)
    follower = asyncio.create_task(follow_live_versions(bootstrap, live, ready))
    scorer = TritonScorer(server.grpc_url, CLIENT)
    stop, load = asyncio.Event(), Load()
    loop = asyncio.create_task(steady_load(scorer, live, stop, load))
    control = TritonControl(server.grpc_url)
    try:
        await asyncio.wait_for(ready.wait(), STEP_TIMEOUT_S)

        # 1. `streamdecide refit ctr`: the example store holds pre-shift rows, then post-shift rows; the refit
        #    passes the offline gates, is written as version 2, loaded next to 1, shadowed and promoted
        store = ExampleStore(examples_dir(data_dir, MODEL), POLICY.recent_window, POLICY.replay_size, SEED)
        store.extend(as_examples(replay, live_net))
        store.extend(as_examples(recent, live_net))
        settings = Settings(_env_file=None, kafka_bootstrap=bootstrap, triton_url=server.grpc_url, data_dir=data_dir,
                            model_repository=repository, seed=SEED, refit=POLICY)  # fmt: skip
        fresh = draw_rows(shifted_ctr_row(), world, SHADOW_ROWS, SEED + 20)
        feeder = asyncio.create_task(feed_shadow(bootstrap, scorer, live, fresh))
        run = asyncio.create_task(refit_and_roll_out(settings, MODEL))
        await wait_for(lambda: live.shadow(MODEL) == 2, STEP_TIMEOUT_S)
        assert await control.ready_versions(MODEL) == [1, 2] and live.live(MODEL) == 1  # both served, 1 live
        summary = await asyncio.wait_for(run, STEP_TIMEOUT_S)
        await feeder
        assert summary["action"] == "promoted" and summary["offline"] == "promote", summary
        assert summary["version"] == 2 and summary["live_before"] == 1
        await wait_for(lambda: live.live(MODEL) == 2)
        assert actions(seen, 1) == ["promoted"]  # the baseline: what served before the first rollout
        assert actions(seen, 2) == ["trained", "loaded", "shadow", "promoted"]
        assert await control.ready_versions(MODEL) == [2]
        assert cached_live_versions(data_dir) == {MODEL: 2}
        assert [r["version"] for r in describe(settings) if r["live"]] == [2]
        print(f"\nrefit: {summary}")

        # 2. `streamdecide rollback ctr` is one call: version 1 is live (and the only one served) again
        back = await roll_back(settings, MODEL)
        assert back.action == "rolled_back" and back.version == 2
        await wait_for(lambda: live.live(MODEL) == 1)
        assert await control.ready_versions(MODEL) == [1] and live.previous(MODEL) is None
        assert cached_live_versions(data_dir) == {MODEL: 1}

        async with Rollout(bootstrap, server.grpc_url, repository, POLICY, data_dir) as rollout:
            # 3. a worse candidate (shuffled training labels) fails the offline gates ...
            worse = refit(MODEL, recent, replay, POLICY, SEED, live=live_net, live_version=1, shuffle_labels=True)
            assert not worse.promote
            assert write_candidate(repository, worse).version == 3
            rejected = await rollout.run(MODEL, 3)
            assert rejected.action == "rejected" and actions(rollout.events, 3) == ["trained", "rejected"]
            assert await control.ready_versions(MODEL) == [1]
            # ... and, rehearsed through shadow anyway, is rejected there and unloaded
            feeder = asyncio.create_task(feed_shadow(bootstrap, scorer, live, fresh))
            drill = await asyncio.wait_for(rollout.run(MODEL, 3, drill=True), STEP_TIMEOUT_S)
            await feeder
            assert drill.action == "rejected", drill.reason
            assert actions(rollout.events, 3)[-4:] == ["trained", "loaded", "shadow", "rejected"]
            assert await control.ready_versions(MODEL) == [1]
            assert live.live(MODEL) == 1 and live.shadow(MODEL) is None
            print(f"drill rejection: {drill.reason}")
        await wait_for(lambda: len(seen) >= len(rollout.events))
        assert [(e.version, e.action) for e in seen[-len(rollout.events) :]] == [
            (e.version, e.action) for e in rollout.events
        ]
    finally:
        stop.set()
        await asyncio.gather(loop, return_exceptions=True)
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await scorer.close()
        await control.close()
    print(f"steady load: {load.ok} ok, {load.failed} failed, by version {dict(load.by_version)}")
    assert load.failed == 0, load.errors[:5]
    assert load.ok > 0 and load.by_version[f"{MODEL}:2"] > 0 and load.by_version[f"{MODEL}:1"] > 0
