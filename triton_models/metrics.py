"""Held-out metrics of a binary classifier, in NumPy: AUC, PR-AUC, log-loss and ECE."""

from __future__ import annotations

from typing import Final

import numpy as np

ECE_BINS: Final = 15
LOG_LOSS_EPS: Final = 1e-7


def _as_arrays(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels have {y.size} values but scores have {s.size}")
    return y, s


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); NaN with a single class.

    Examples
    --------
    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    >>> roc_auc(np.array([0, 1]), np.array([0.5, 0.5]))
    0.5
    """
    y, s = _as_arrays(y_true, y_score)
    n_pos = y.sum()
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(y.size, dtype=np.float64)
    ranks[order] = np.arange(1, y.size + 1)
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    mean_rank = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, counts)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve, step-wise); NaN without positives.

    Examples
    --------
    >>> average_precision(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.8333333333333333
    >>> average_precision(np.array([1, 0, 0]), np.array([0.9, 0.2, 0.1]))
    1.0
    """
    y, s = _as_arrays(y_true, y_score)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], y.size - 1]
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall_step = np.diff(np.r_[0.0, tp]) / n_pos
    return float((precision * recall_step).sum())


def log_loss(y_true: np.ndarray, y_proba: np.ndarray) -> float:
    """Mean binary cross-entropy (probabilities clipped away from 0 and 1).

    Examples
    --------
    >>> round(log_loss(np.array([0, 1]), np.array([0.5, 0.5])), 4)
    0.6931
    """
    y, p = _as_arrays(y_true, y_proba)
    return float(_row_log_losses(y, p).mean())


def _row_log_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def relative_log_loss_change(
    y_true: np.ndarray, reference: np.ndarray, candidate: np.ndarray
) -> tuple[float, float] | None:
    """``(candidate - reference) / reference`` mean log-loss on the same rows, and its standard error.

    The rows are paired, so the error is that of the mean per-row difference: what matters
    on a few dozen held-out rows with a handful of positives, where one click moves the mean.
    ``None`` when the reference's log-loss is 0 (no rows, or a perfect reference); the error
    is infinite with a single row.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1] * 25)
    >>> change, se = relative_log_loss_change(y, np.full(100, 0.5), np.where(y == 1, 0.6, 0.4))
    >>> round(change, 3), round(se, 4)
    (-0.263, 0.0)
    """
    y, p_reference = _as_arrays(y_true, reference)
    _, p_candidate = _as_arrays(y_true, candidate)
    loss_reference = _row_log_losses(y, p_reference)
    base = float(loss_reference.mean()) if y.size else 0.0
    if base <= 0:
        return None
    difference = _row_log_losses(y, p_candidate) - loss_reference
    se = float(difference.std(ddof=1) / np.sqrt(y.size)) / base if y.size > 1 else float("inf")
    return float(difference.mean()) / base, se


def expected_calibration_error(y_true: np.ndarray, y_proba: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error over ``n_bins`` equal-width probability bins.

    The sum over bins of (share of rows in the bin) × |observed rate − mean probability|.

    Examples
    --------
    >>> expected_calibration_error(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5]))
    0.0
    >>> round(expected_calibration_error(np.array([0, 0, 1, 1]), np.array([0.2, 0.2, 0.6, 1.0])), 4)
    0.2
    """
    y, p = _as_arrays(y_true, y_proba)
    if y.size == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, weights=y, minlength=n_bins) - np.bincount(bins, weights=p, minlength=n_bins))
    return float(gap.sum() / y.size) if count.any() else float("nan")


def evaluate(y_true: np.ndarray, y_proba: np.ndarray) -> dict[str, float]:
    """All held-out metrics of the model card.

    Examples
    --------
    >>> m = evaluate(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> m["auc"], round(m["pr_auc"], 3), m["base_rate"], m["n"]
    (0.75, 0.833, 0.5, 4.0)
    """
    y, p = _as_arrays(y_true, y_proba)
    return {
        "auc": roc_auc(y, p),
        "pr_auc": average_precision(y, p),
        "log_loss": log_loss(y, p),
        "ece": expected_calibration_error(y, p),
        "base_rate": float(y.mean()) if y.size else float("nan"),
        "n": float(y.size),
    }
