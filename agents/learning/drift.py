"""Watch one model's labelled stream for drift: loss (ADWIN), label rate (ADWIN), key feature (PSI)."""

from __future__ import annotations

import math
import uuid
from collections import deque
from datetime import datetime

from river import drift

from agents.features import segment_of
from agents.learning.calibration_shift import CalibrationShift
from agents.learning.labels import Labelled
from agents.learning.psi import psi
from schemas.ops import DriftAlert
from streams.settings import LearningPolicy

LOSS_CLIP = 1e-6


def log_loss(score: float, label: bool) -> float:
    """Log-loss of one prediction, clipped so a confident miss stays finite.

    Examples
    --------
    >>> round(log_loss(0.9, True), 4), round(log_loss(0.9, False), 4)
    (0.1054, 2.3026)
    """
    p = min(max(score, LOSS_CLIP), 1 - LOSS_CLIP)
    return -math.log(p if label else 1 - p)


class DriftWatcher:
    """Raises at most one :class:`DriftAlert` per shift for one model.

    Detectors: ADWIN on the live model's per-example log-loss (an increase),
    ADWIN on the label rate, a CUSUM on each segment's observed / expected events
    per live version (:class:`~agents.learning.calibration_shift.CalibrationShift`;
    e.g. one ad category: a shift confined to it barely moves the overall loss), and PSI of ``feature_index`` between a reference window and the latest window. After an alert, ``cooldown`` examples pass
    before the next one, and the detectors start afresh.
    """

    def __init__(self, model: str, policy: LearningPolicy, feature_index: int = 0) -> None:
        self.model = model
        self.policy = policy
        self.feature_index = feature_index
        self.n = 0
        self._quiet_until = policy.warmup
        self._times: deque[datetime] = deque(maxlen=policy.change_point_memory)
        self._reset()

    def _reset(self) -> None:
        self.loss = drift.ADWIN(delta=self.policy.adwin_delta)
        self.label_rate = drift.ADWIN(delta=self.policy.adwin_delta)
        self.segments: dict[tuple[str, str], CalibrationShift] = {}
        """By (live model version, segment): a promoted version starts with a reference of its own."""
        self.reference: list[float] = []
        self.recent: deque[float] = deque(maxlen=self.policy.psi_window)
        self._loss_before = 0.0
        self._rate_before = 0.0

    def update(self, example: Labelled, now: datetime, labelled_at: datetime | None = None) -> DriftAlert | None:
        """Feed one labelled example (``labelled_at``: when its label arrived, ``now`` by default).

        Returns an alert when a detector fires outside the cooldown; an ADWIN alert dates
        the change by the labelled time of the first example in the detector's new window.
        """
        self.n += 1
        self._times.append(labelled_at or now)
        loss = log_loss(example.score, example.label)
        before_loss, before_rate = self.loss.estimation, self.label_rate.estimation
        self.loss.update(loss)
        self.label_rate.update(float(example.label))
        segment = segment_of(self.model, example.features)
        calibration, shifted = None, False
        if segment is not None:
            key = (example.verdict.model_version, segment)
            calibration = self.segments.get(key)
            if calibration is None:
                calibration = self.segments[key] = CalibrationShift(
                    self.policy.segment_factor, self.policy.segment_threshold, self.policy.segment_min_ratio,
                    self.policy.segment_min_events, self.policy.segment_min_examples,
                )  # fmt: skip
            shifted = calibration.update(example.score, example.label, self.n)
        value = example.features[self.feature_index]
        if len(self.reference) < self.policy.psi_window:
            self.reference.append(value)
        else:
            self.recent.append(value)
        if self.n < self._quiet_until:
            return None
        alert = None
        if self.loss.drift_detected and self.loss.estimation > before_loss:
            alert = self._alert("adwin", "loss", self.loss.estimation, now,
                                {"loss_before": round(before_loss, 5), "loss_after": round(self.loss.estimation, 5),
                                 "window": self.loss.width}, self.loss.width)
        elif self.label_rate.drift_detected:
            alert = self._alert("adwin", "label_rate", self.label_rate.estimation, now,
                                {"rate_before": round(before_rate, 5), "rate_after": round(self.label_rate.estimation, 5),
                                 "window": self.label_rate.width}, self.label_rate.width)
        elif calibration is not None and shifted:
            alert = self._alert("cusum", f"segment_calibration:{segment}", calibration.ratio, now,
                                {"segment": segment, "ratio_before": round(calibration.ratio_before, 4),
                                 "ratio_after": round(calibration.ratio, 4),
                                 "cusum": round(max(calibration.up, calibration.down), 3)},
                                self.n - (calibration.run_start or self.n) + 1)
        elif len(self.recent) == self.policy.psi_window and self.n % (self.policy.psi_window // 4) == 0:
            value_psi = psi(self.reference, self.recent)
            if value_psi > self.policy.psi_threshold:
                alert = self._alert("psi", f"feature_{self.feature_index}", value_psi, now,
                                    {"threshold": self.policy.psi_threshold, "window": self.policy.psi_window})
        if alert is not None:
            self._quiet_until = self.n + self.policy.cooldown
            self._reset()
        return alert

    def _alert(
        self, detector: str, signal: str, statistic: float, now: datetime, details: dict, window: int | None = None
    ) -> DriftAlert:
        """The alert; ``window``: examples the detector attributes to the new regime (None: undated, e.g. PSI)."""
        post = None if window is None else max(1, min(int(window), len(self._times)))
        return DriftAlert(
            alert_id=f"drift-{uuid.uuid4().hex[:12]}",
            model=self.model,
            detector=detector,
            signal=signal,
            detected_at=now,
            n_observations=self.n,
            statistic=round(float(statistic), 6),
            details=details,
            change_at=None if post is None else self._times[-post],
            post_change_examples=post,
        )
