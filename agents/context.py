"""What the decision families need, passed in as one object (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from agents.bidding.budget import BudgetBook
from agents.catalog import CatalogStore
from agents.scoring import Scores
from schemas.events import Event
from streams.settings import Settings


class Scorer(Protocol):
    """Anything that scores feature rows with a named model (Triton in production)."""

    async def score(self, model: str, features: np.ndarray) -> Scores: ...


@dataclass(frozen=True)
class Incoming:
    """A decoded event with the coordinates of the record that carried it."""

    event: Event
    received_ms: int
    topic: str = ""
    partition: int = 0
    offset: int = 0


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass
class DecisionContext:
    """Settings, model scorer, catalog, budgets and the clock shared by the decision families."""

    settings: Settings
    scorer: Scorer
    catalog: CatalogStore = field(default_factory=CatalogStore)
    budget: BudgetBook = field(default_factory=BudgetBook)
    clock: Callable[[], datetime] = utc_now

    def latency_ms(self, incoming: Incoming, now: datetime) -> float:
        """Milliseconds from the record's arrival in Kafka to ``now`` (never negative)."""
        return max(0.0, now.timestamp() * 1000.0 - incoming.received_ms)
