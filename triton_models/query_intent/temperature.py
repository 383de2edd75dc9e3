"""Temperature scaling of multi-class logits: ``softmax(logits / T)`` with ``T`` fitted on held-out rows."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

LOG_T_BOUNDS: Final = (-3.0, 3.0)
"""Search ``log T`` within these bounds (T from 0.05 to 20)."""
GOLDEN_STEPS: Final = 80
INV_PHI: Final = (math.sqrt(5) - 1) / 2


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64).

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0], [2.0, 0.0]]), 2.0).round(4)
    array([[0.5   , 0.5   ],
           [0.7311, 0.2689]])
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of integer ``labels`` under ``softmax(logits / temperature)``.

    Examples
    --------
    >>> round(nll(np.zeros((2, 4)), np.array([0, 3])), 4)
    1.3863
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float((log_norm - z[np.arange(len(z)), np.asarray(labels)]).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising :func:`nll` (golden-section search on ``log T``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> true = rng.normal(0, 2, size=(20_000, 3))
    >>> p = softmax(true)
    >>> y = (rng.random(len(p))[:, None] > p.cumsum(axis=1)).sum(axis=1)
    >>> round(fit_temperature(3.0 * true, y), 1)   # three times too confident
    3.0
    """
    lo, hi = LOG_T_BOUNDS
    a, b = hi - INV_PHI * (hi - lo), lo + INV_PHI * (hi - lo)
    fa, fb = nll(logits, labels, math.exp(a)), nll(logits, labels, math.exp(b))
    for _ in range(GOLDEN_STEPS):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - INV_PHI * (hi - lo)
            fa = nll(logits, labels, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + INV_PHI * (hi - lo)
            fb = nll(logits, labels, math.exp(b))
    return math.exp((lo + hi) / 2)
