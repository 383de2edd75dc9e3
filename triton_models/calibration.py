"""Platt scaling of a network's logits on a calibration split.

The calibrated probability is ``sigmoid(logit / temperature + bias)``: the temperature
undoes over- or under-confidence, the bias undoes a shifted base rate (for example
after training with a positive-class weight).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

MAX_NEWTON_STEPS: Final = 100
TOLERANCE: Final = 1e-10
MAX_HALVINGS: Final = 30
RIDGE: Final = 1e-6
"""Keeps the Newton step defined when the calibration set is separable or tiny."""
MAX_OFFSET_STEP: Final = 2.0
"""Largest Newton step of a segment offset (in logits): keeps a far start from overshooting."""


@dataclass(frozen=True)
class PlattScaling:
    """``p = sigmoid(logit / temperature + bias)``."""

    temperature: float = 1.0
    bias: float = 0.0

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``logits``.

        Examples
        --------
        >>> PlattScaling(2.0, 0.0).apply(np.array([0.0, 4.0])).round(4)
        array([0.5   , 0.8808])
        """
        return 1.0 / (1.0 + np.exp(-(np.asarray(logits, dtype=np.float64) / self.temperature + self.bias)))


def fit_platt(logits: np.ndarray, y_true: np.ndarray) -> PlattScaling:
    """Fit slope and intercept of a one-feature logistic regression on ``logits`` (Newton's method).

    Parameters
    ----------
    logits
        Uncalibrated logits on the calibration split.
    y_true
        Their 0/1 labels.

    Returns
    -------
    PlattScaling
        ``temperature = 1 / slope`` and ``bias = intercept``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> true_logit = rng.normal(-1.0, 2.0, 20_000)
    >>> y = (rng.random(20_000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    >>> fitted = fit_platt(2.0 * true_logit + 3.0, y)   # twice too confident, shifted by +3
    >>> round(fitted.temperature, 1), round(fitted.bias, 1)
    (2.0, -1.5)
    """
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(y_true, dtype=np.float64).ravel()
    design = np.stack([z, np.ones_like(z)], axis=1)
    theta = np.array([1.0, 0.0])
    loss = _penalised_loss(design, y, theta)
    for _ in range(MAX_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (p - y) + RIDGE * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + RIDGE * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        for _ in range(MAX_HALVINGS):
            candidate_loss = _penalised_loss(design, y, theta - step)
            if candidate_loss <= loss:
                break
            step = step / 2
        theta, loss = theta - step, candidate_loss
        if np.abs(step).max() < TOLERANCE:
            break
    slope, intercept = float(theta[0]), float(theta[1])
    if slope <= 0:
        raise ValueError(f"calibration slope {slope:.4g} <= 0: the logits do not rank the labels")
    return PlattScaling(temperature=1.0 / slope, bias=intercept)


def _penalised_loss(design: np.ndarray, y: np.ndarray, theta: np.ndarray) -> float:
    margin = design @ theta
    return float((np.logaddexp(0.0, margin) - y * margin).sum() + RIDGE * (theta @ theta) / 2)


def fit_offset(logits: np.ndarray, y_true: np.ndarray, prior_precision: float) -> tuple[float, float]:
    """The logit offset ``w`` that calibrates one segment, and its z-score ``w / standard error``.

    ``w`` minimises the log-loss of ``sigmoid(logit + w)`` plus ``λw²/2``; the standard error
    is ``1 / sqrt(Σ p(1 − p) + λ)`` at ``w`` (the curvature of that objective).

    The Gaussian prior (precision ``λ``) keeps a segment with few rows or no events near 0:
    a few dozen rows cannot move it much, a segment whose events really are several times
    what the logits expect moves close to ``log(observed / expected)``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> z = np.full(4000, -4.0)
    >>> y = (rng.random(4000) < 1 / (1 + np.exp(-(z + 1.5)))).astype(float)   # the segment is 1.5 logits off
    >>> w, z_score = fit_offset(z, y, 1.0)
    >>> round(w, 1), z_score > 10
    (1.5, True)
    >>> [round(v, 2) for v in fit_offset(z[:40], np.zeros(40), 1.0)], fit_offset(z[:0], y[:0], 1.0)
    ([-0.46, -0.55], (0.0, 0.0))
    """
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(y_true, dtype=np.float64).ravel()
    w = 0.0
    for _ in range(MAX_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(z + w)))
        step = (float((p - y).sum()) + prior_precision * w) / (float((p * (1 - p)).sum()) + prior_precision)
        step = max(-MAX_OFFSET_STEP, min(MAX_OFFSET_STEP, step))
        w -= step
        if abs(step) < TOLERANCE:
            break
    p = 1.0 / (1.0 + np.exp(-(z + w)))
    return w, w * float(np.sqrt((p * (1 - p)).sum() + prior_precision))
