"""Has one segment's calibration moved? A CUSUM on clicks (or any rare event) against what the scores expect.

For rare events (clicks at 1–3 %) ADWIN on ``label − score`` needs many hundreds of
examples per segment: it bounds a difference of means without using that a
label's variance is tied to its probability. Here each example's score says how
many events to expect, and the segment's ratio observed / expected so far (its
*reference*, which absorbs a model's steady miscalibration, e.g. the selection
bias of won bids) says how far off the score usually is. Two one-sided CUSUMs of
the Poisson log-likelihood ratio test "the ratio rose ``factor``-fold" and "fell
``factor``-fold" against it:

    S⁺ ← max(0, S⁺ + y·ln(k) − p·r·(k − 1)),    S⁻ ← max(0, S⁻ − y·ln(k) + p·r·(1 − 1/k))

with ``r`` the reference ratio and ``k = factor``. When a CUSUM falls back to 0 its
run's examples join the reference. A shift is reported when a CUSUM passes
``threshold`` *and* the run's own ratio is off from 1 by ``min_ratio`` or more: the
model now misjudges the segment (a newly promoted, calibrated model raises nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class _Run:
    """Expected and observed events over a stretch of examples, and the caller's index of its first one."""

    expected: float = 0.0
    observed: float = 0.0
    examples: int = 0
    first: int | None = None


@dataclass
class CalibrationShift:
    """Upward and downward CUSUMs of one segment's observed / expected event ratio.

    Examples
    --------
    >>> watch = CalibrationShift(factor=3.0, threshold=8.0, min_ratio=1.5, min_events=10)
    >>> [watch.update(0.05, i % 20 == 0) for i in range(2000)].count(True)
    0
    >>> shifted = [watch.update(0.05, i % 4 == 0) for i in range(200)]
    >>> shifted.index(True) < 100, watch.ratio > 3, 0.9 < watch.ratio_before < 1.2
    (True, True, True)
    """

    factor: float
    threshold: float
    min_ratio: float
    min_events: int
    min_examples: int = 0
    reference_expected: float = 0.0
    reference_observed: float = 0.0
    reference_examples: int = 0
    up: float = 0.0
    down: float = 0.0

    def __post_init__(self) -> None:
        self._pending = _Run()
        self._up_run = _Run()
        self._down_run = _Run()
        self._log_k = math.log(self.factor)

    @property
    def ratio_before(self) -> float:
        """Observed / expected events of the reference (1.0 before any)."""
        return (self.reference_observed + 1.0) / (self.reference_expected + 1.0)

    @property
    def ratio(self) -> float:
        """Observed / expected events of the leading CUSUM's run (the suspected new regime)."""
        run = self._up_run if self.up >= self.down else self._down_run
        return run.observed / run.expected if run.expected > 0 else 1.0

    @property
    def run_start(self) -> int | None:
        """The ``index`` of the leading run's first example (where the suspected new regime began)."""
        return (self._up_run if self.up >= self.down else self._down_run).first

    def update(self, score: float, label: bool, index: int = 0) -> bool:
        """Add one scored, labelled example (``index``: the caller's count, to date a run); True on a shift."""
        y = 1.0 if label else 0.0
        rate = self.ratio_before * score
        warm = self.reference_observed >= self.min_events and self.reference_examples >= self.min_examples
        self.up = max(0.0, self.up + y * self._log_k - rate * (self.factor - 1)) if warm else 0.0
        self.down = max(0.0, self.down - y * self._log_k + rate * (1 - 1 / self.factor)) if warm else 0.0
        for run in (self._pending, self._up_run, self._down_run):
            run.expected += score
            run.observed += y
            run.examples += 1
            if run.first is None:
                run.first = index
        if self.up == 0.0:
            self._up_run = _Run()
        if self.down == 0.0:
            self._down_run = _Run()
        if self.up == 0.0 and self.down == 0.0:  # no suspicion left: what came since joins the reference
            self.reference_expected += self._pending.expected
            self.reference_observed += self._pending.observed
            self.reference_examples += self._pending.examples
            self._pending = _Run()
        return self.detected()

    def detected(self) -> bool:
        """A CUSUM passed its threshold and the suspected regime's ratio is off by ``min_ratio`` or more."""
        off = self.ratio >= self.min_ratio or self.ratio <= 1 / self.min_ratio
        return off and max(self.up, self.down) > self.threshold
