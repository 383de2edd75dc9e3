"""Seeded streams with a known change point: the alert lands within a bounded number of labels after it."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

from agents.learning.drift import DriftWatcher
from agents.learning.labels import Labelled
from streams.settings import LearningPolicy

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHANGE_AT = 6000
DETECTION_BOUND = 500
"""Labelled examples after the change within which the alert must come (the bound we achieve)."""


def stream(seed: int, shift_logit: float, feature_shift: float = 0.0, n: int = 12000) -> list[Labelled]:
    """A calibrated live model until ``CHANGE_AT``; then the world moves and the model does not."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x = rng.gauss(0, 1) + (feature_shift if i >= CHANGE_AT else 0.0)
        logit = -3.0 + 1.2 * x
        score = 1 / (1 + math.exp(-logit))
        truth = 1 / (1 + math.exp(-(logit + (shift_logit if i >= CHANGE_AT else 0.0))))
        out.append(Labelled("ctr", str(i), (x,), score, rng.random() < truth, NOW))
    return out


def alerts_of(examples: list[Labelled]) -> list[tuple[int, str]]:
    watcher = DriftWatcher("ctr", LearningPolicy())
    return [(i, a.signal) for i, e in enumerate(examples) if (a := watcher.update(e, NOW)) is not None]


def test_no_alert_without_a_shift() -> None:
    for seed in range(3):
        assert alerts_of(stream(seed, shift_logit=0.0)) == []


def test_label_shift_alerts_once_within_the_bound() -> None:
    for seed in range(3):
        alerts = alerts_of(stream(seed, shift_logit=1.5))
        assert alerts, f"seed {seed}: no alert"
        first, _ = alerts[0]
        assert CHANGE_AT <= first <= CHANGE_AT + DETECTION_BOUND, alerts
        assert len(alerts) == 1, alerts


def test_feature_shift_is_seen_by_psi_or_loss() -> None:
    alerts = alerts_of(stream(1, shift_logit=0.0, feature_shift=1.0))
    assert alerts and CHANGE_AT <= alerts[0][0] <= CHANGE_AT + DETECTION_BOUND, alerts
