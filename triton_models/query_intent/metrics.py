"""Held-out metrics of a multi-class classifier, reported like the binary models' (AUC, PR-AUC, log-loss, ECE).

AUC and PR-AUC are one-vs-rest macro averages over classes; log-loss is the multi-class
cross-entropy; ECE compares the top-class confidence with whether that class was right.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from triton_models.metrics import LOG_LOSS_EPS, average_precision, expected_calibration_error, roc_auc


def accuracy(labels: np.ndarray, proba: np.ndarray) -> float:
    """Share of rows whose most probable class is the label (NaN without rows).

    Examples
    --------
    >>> accuracy(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    0.6666666666666666
    """
    y = np.asarray(labels)
    return float((np.asarray(proba).argmax(axis=1) == y).mean()) if len(y) else float("nan")


def multiclass_metrics(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, macro one-vs-rest AUC and PR-AUC, log-loss, top-label ECE, majority share and rows.

    ``base_rate`` is the share of the most frequent class: the accuracy of always guessing it.

    Examples
    --------
    >>> y = np.array([0, 1, 2, 2])
    >>> p = np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6], [0.5, 0.1, 0.4]])
    >>> m = multiclass_metrics(y, p)
    >>> m["accuracy"], round(m["auc"], 3), round(m["log_loss"], 3), m["base_rate"], m["n"]
    (0.75, 1.0, 0.502, 0.5, 4.0)
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    present = [k for k in range(p.shape[1]) if 0 < (y == k).sum() < len(y)]
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    return {
        "accuracy": accuracy(y, p),
        "auc": float(np.mean([roc_auc(y == k, p[:, k]) for k in present])) if present else float("nan"),
        "pr_auc": float(np.mean([average_precision(y == k, p[:, k]) for k in present])) if present else float("nan"),
        "log_loss": float(-np.log(np.clip(p[np.arange(len(y)), y], LOG_LOSS_EPS, 1.0)).mean()),
        "ece": expected_calibration_error(correct, confidence),
        "base_rate": float(np.bincount(y).max() / len(y)) if len(y) else float("nan"),
        "n": float(len(y)),
    }


def accuracy_by_group(labels: np.ndarray, proba: np.ndarray, groups: Sequence[str]) -> dict[str, float]:
    """:func:`accuracy` within each group (e.g. each language), groups in first-seen order.

    Examples
    --------
    >>> accuracy_by_group(np.array([0, 1, 1]), np.eye(2)[[0, 0, 1]], ["en", "zh", "zh"])
    {'en': 1.0, 'zh': 0.5}
    """
    names = list(dict.fromkeys(groups))
    g = np.asarray(groups)
    return {name: accuracy(np.asarray(labels)[g == name], np.asarray(proba)[g == name]) for name in names}
