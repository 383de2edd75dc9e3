"""``streamdecide bench --pure``: the decision path in one process, without Kafka or Triton.

What ``streamdecide bench`` cannot tell apart from the broker's, Faust's and the host's noise:
the CPU the worker spends *deciding* an event (decoding and the personal-data check,
staging profiles, budgets and the bandit, bidding, pricing, fraud, online learning), and
whether a change altered any decision. The same generated events as the bench's
preload go through the worker's own functions (:func:`agents.ingest.split_batch`,
:func:`agents.route.decide_batch`) in per-topic micro-batches, with the worker's
garbage-collector policy; models are stand-ins whose probabilities follow from the
feature rows, and the clock follows the events, so a run is deterministic. The digest
hashes every decision but its timestamps: equal digests, equal decisions.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import hashlib
import io
import pstats
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

import numpy as np
import orjson

from agents.catalog import CatalogStore
from agents.context import DecisionContext
from agents.ingest import split_batch
from agents.intent import QueryIntent
from agents.learning.live import LiveVersions
from agents.learning.loop import LearningLoop
from agents.learning.versioned import VersionedScorer
from agents.profiles.model import profile_to_json
from agents.route import Outgoing, decide_batch
from agents.scoring import Scores
from agents.tables import MemoryStore
from schemas.common import CATEGORIES
from streams.bench import build_workload
from streams.gc_policy import apply_gc_policy, freeze_long_lived
from streams.settings import Settings

START = datetime(2026, 12, 7, tzinfo=UTC)
"""Time of the first generated event (fixed: the digest must not depend on the day). The session ids it
gives seed 7 (``s-08a118a4-…``) hold no 14-digit run, as in most bench runs; ids that do make every
event pay for the Luhn check (``tests/unit/test_pii_check.py`` covers that case)."""
DECISION_LAG = timedelta(milliseconds=5)
"""The stand-in clock runs this far behind a batch's newest event."""
BIAS: dict[str, float] = {"ctr": -4.0, "conversion": -4.5, "fraud": -6.0}
"""Log-odds of the stand-in models at an all-zero row: about a 2 %, 1 % and 0.25 % base rate."""
VOLATILE = frozenset({"decided_at", "latency_ms"})
"""Decision fields left out of the digest (they depend on when the run happened)."""
LANGUAGES = ("en", "zh", "es")
V = TypeVar("V")


class StandInModels:
    """Probabilities that depend on every feature, without a server: ``sigmoid(bias + 0.1·Σ tanh(row))``."""

    async def score(self, model: str, features: np.ndarray, version: int | None = None) -> Scores:
        logit = BIAS.get(model.split("_", 1)[0], -4.0) + 0.1 * np.tanh(features).sum(axis=1)
        return Scores((1.0 / (1.0 + np.exp(-logit))).astype(np.float32), f"{model}:{version or 1}")

    async def score_shadow(self, model: str, features: np.ndarray, version: int) -> Scores | None:
        return None


async def stand_in_intents(queries: list[str]) -> list[QueryIntent]:
    """A category and language per query from its checksum (confident, so bids use them)."""
    sums = [zlib.crc32(q.encode()) for q in queries]
    return [QueryIntent(CATEGORIES[s % len(CATEGORIES)], LANGUAGES[s % len(LANGUAGES)], 0.9, "query_intent:1")
            for s in sums]  # fmt: skip


@dataclass
class EncodingStore(MemoryStore[V], Generic[V]):
    """A dict that encodes every value written, as the worker's table does for the write's changelog record."""

    dumps: Callable[[Any], bytes] = field(default=orjson.dumps)
    encoded_bytes: int = 0

    def put(self, key: str, value: V, origin: Any) -> None:
        self.data[key] = value
        self.encoded_bytes += len(self.dumps(value))


@dataclass
class Clock:
    """The decision clock: a batch's newest event time less :data:`DECISION_LAG` (set before each batch)."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


def context(settings: Settings, catalog: CatalogStore, clock: Clock) -> DecisionContext:
    """The worker's decision context (learning on, live versions pinned) around the stand-in models.

    Profiles and spend are dicts that encode each write as the worker's tables do for the changelog.
    """
    learning = LearningLoop(settings.learning) if settings.learning.enabled else None
    scorer = VersionedScorer(StandInModels(), LiveVersions(), learning.fallback if learning else None)
    ctx = DecisionContext(settings=settings, scorer=scorer, catalog=catalog, classify=stand_in_intents,
                          learning=learning, clock=clock, profiles=EncodingStore(dumps=profile_to_json))  # fmt: skip
    ctx.budget.spend = EncodingStore()
    return ctx


def records(events: list[tuple[str, bytes, bytes]], partitions: int) -> list[Any]:
    """Each event as the record fields :func:`split_batch` reads (offsets per topic and partition)."""
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for topic, key, value in events:
        partition = zlib.crc32(key) % partitions
        offset = offsets[topic, partition] = offsets.get((topic, partition), -1) + 1
        ts = orjson.loads(value).get("ts")
        stamp = datetime.fromisoformat(ts).timestamp() if isinstance(ts, str) else START.timestamp()
        message = SimpleNamespace(value=value, key=key, topic=topic, partition=partition, offset=offset,
                                  timestamp=stamp)  # fmt: skip
        out.append(SimpleNamespace(message=message))
    return out


def micro_batches(recs: list[Any], size: int) -> Iterator[list[Any]]:
    """Per-topic batches of ``size`` records in arrival order, as one agent per input topic would take them."""
    open_batches: dict[str, list[Any]] = {}
    for rec in recs:
        batch = open_batches.setdefault(rec.message.topic, [])
        batch.append(rec)
        if len(batch) == size:
            yield open_batches.pop(rec.message.topic)
    yield from (batch for batch in open_batches.values() if batch)


def digest_of(outgoing: list[Outgoing]) -> str:
    """16 hex digits of the SHA-256 over every decision, timestamps left out, in order."""
    h = hashlib.sha256()
    for out in outgoing:
        h.update(out.topic.encode())
        h.update(orjson.dumps(out.decision.model_dump(mode="json", exclude=VOLATILE), option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()[:16]


async def _decide_all(batches: list[list[Any]], ctx: DecisionContext, clock: Clock) -> list[Outgoing]:
    decided: list[Outgoing] = []
    for batch in batches:
        good, _ = split_batch(batch, ctx)
        if not good:
            continue
        clock.now = max(i.event.ts for i in good) - DECISION_LAG
        decided += await decide_batch(good, ctx)
    return decided


def run_pure_path(settings: Settings, *, n_events: int, batch_size: int, seed: int, profile_top: int = 0,
                  emit: Callable[[str], None] = lambda _: None,
                  around_deciding: Callable[[], AbstractContextManager[None]] = nullcontext) -> dict[str, Any]:  # fmt: skip
    """Decide the bench's first ``n_events`` events in process; CPU per event, decisions per topic and the digest.

    With ``profile_top`` > 0 the run is under ``cProfile`` (slower) and the result holds the
    functions of this project with the most cumulative time. ``around_deciding`` wraps the
    deciding alone (:func:`streams.instructions.counting` counts its instructions).
    """
    workload, _ = build_workload(seed, n_events, START)
    catalog = CatalogStore()
    for topic, key, value in workload.catalog:
        catalog.apply(topic, key, value)
    clock = Clock()
    ctx = context(settings, catalog, clock)
    stores = [store for store in (ctx.profiles, ctx.budget.spend) if isinstance(store, EncodingStore)]
    batches = list(micro_batches(records(workload.events, settings.topic_partitions), batch_size))
    emit(f"deciding {n_events} events in {len(batches)} micro-batches of at most {batch_size}")
    thresholds = gc.get_threshold()
    apply_gc_policy(settings.gc)
    freeze_long_lived(settings.gc)
    profiler = cProfile.Profile() if profile_top else None
    try:
        with around_deciding():
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            decided = asyncio.run(_decide_all(batches, ctx, clock))
            if profiler is not None:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    by_topic: dict[str, int] = {}
    for out in decided:
        by_topic[out.topic] = by_topic.get(out.topic, 0) + 1
    result: dict[str, Any] = {
        "events": n_events, "batch_size": batch_size, "seed": seed, "decisions": by_topic,
        "decisions_expected": workload.expected_decisions,
        "cpu_us_per_event": round(cpu / n_events * 1e6, 1), "wall_s": round(wall, 2),
        "table_bytes_per_event": round(sum(store.encoded_bytes for store in stores) / n_events, 1),
        "digest": digest_of(decided), "profiled": profiler is not None,
    }  # fmt: skip
    if profiler is not None:
        result["top_cumulative"] = top_functions(profiler, profile_top)
    return result


def top_functions(profiler: cProfile.Profile, top: int) -> list[dict[str, Any]]:
    """This project's functions with the most cumulative time: share of the run, calls, µs per call."""
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    rows = []
    for (path, line, name), (_, calls, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "/site-packages/" in path or not any(f"/{pkg}/" in path for pkg in ("agents", "schemas", "streams")):
            continue
        rows.append({"function": f"{path.rsplit('/', 2)[-2]}/{path.rsplit('/', 1)[-1]}:{line} {name}",
                     "share": round(cumulative / total, 4), "calls": calls,
                     "us_per_call": round(cumulative / max(calls, 1) * 1e6, 2)})  # fmt: skip
    rows.sort(key=lambda r: -r["share"])
    return rows[:top]
