"""What the decision families need, passed in as one object (no globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from agents.bidding.budget import BudgetBook
from agents.bidding.campaign_cache import CampaignCache
from agents.catalog import CatalogStore
from agents.intent import QueryIntent
from agents.learning.loop import LearningLoop
from agents.pricing.bandit import PriceBandit
from agents.pricing.plans import PricePlans
from agents.profiles.buckets import VelocityBucket
from agents.profiles.model import Profile
from agents.scoring import Scores
from agents.tables import KeyedStore, MemoryStore, MemoryWindowedStore, WindowedStore
from schemas.events import Event
from streams.metrics import Metrics
from streams.settings import Settings


class Scorer(Protocol):
    """Anything that scores feature rows with a named model (Triton in production)."""

    async def score(self, model: str, features: np.ndarray) -> Scores: ...


@dataclass(slots=True)
class Incoming:
    """A decoded event with the coordinates of the record that carried it.

    ``origin`` is the Faust event of that record (state written because of this
    event goes to its partition's changelog); None outside a Faust stream.

    Never changed once built. Like the other per-event records of the hot path (a staged
    event, a price view and its choice, a bid, a scored row), it is a slotted dataclass,
    not a frozen one: a frozen dataclass sets each field through ``object.__setattr__``, and
    took 1.4 µs to build against 0.4.
    """

    event: Event
    received_ms: int
    topic: str = ""
    partition: int = 0
    offset: int = 0
    origin: Any = field(default=None, repr=False, compare=False)


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass
class DecisionContext:
    """Settings, model scorer, catalog, profiles, velocity counters, budgets, the price bandit, metrics and the clock.

    Profiles, velocity buckets and spend default to in-memory stores; the worker
    swaps in Faust tables (:func:`agents.ingest.register_ingest`).
    """

    settings: Settings
    scorer: Scorer
    catalog: CatalogStore = field(default_factory=CatalogStore)
    budget: BudgetBook = field(default_factory=BudgetBook)
    profiles: KeyedStore[Profile] = field(default_factory=MemoryStore)
    velocity: WindowedStore[VelocityBucket] = field(default_factory=MemoryWindowedStore)
    bandit: PriceBandit = field(default_factory=PriceBandit)
    metrics: Metrics = field(default_factory=Metrics)
    classify: Callable[[list[str]], Awaitable[list[QueryIntent]]] | None = None
    learning: LearningLoop | None = None
    clock: Callable[[], datetime] = utc_now
    campaigns: CampaignCache = field(init=False, repr=False)
    """Targeting and budget shares derived from ``catalog``, rebuilt when it changes."""
    price_plans: PricePlans = field(init=False, repr=False, default_factory=PricePlans)
    """Candidate prices and what pricing derives from them, per catalogued product."""

    def __post_init__(self) -> None:
        self.campaigns = CampaignCache(self.settings.bidding, self.settings.topic_partitions)

    def event_clock(self, items: Sequence[Incoming]) -> datetime:
        """The newest event time of ``items``, but no later than the clock plus ``max_clock_skew_s``.

        Windows (label joins, win notices, price exposures) expire by event time; one
        event stamped far in the future must not expire everyone else's.
        """
        newest = max(i.event.ts for i in items)
        return min(newest, self.clock() + timedelta(seconds=self.settings.max_clock_skew_s))

    def latency_ms(self, incoming: Incoming, now: datetime) -> float:
        """Milliseconds from the record's arrival in Kafka to ``now`` (never negative)."""
        return latency_ms_at(incoming, now.timestamp() * 1000.0)


def latency_ms_at(incoming: Incoming, now_ms: float) -> float:
    """Milliseconds from the record's arrival in Kafka to ``now_ms`` (epoch ms; never negative).

    >>> latency_ms_at(Incoming(None, received_ms=1_000), 1_250.5), latency_ms_at(Incoming(None, received_ms=9), 5.0)
    (250.5, 0.0)
    """
    return max(0.0, now_ms - incoming.received_ms)
