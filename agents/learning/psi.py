"""Population stability index between a reference sample and a recent one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPSILON = 1e-4


def psi(reference: Sequence[float], recent: Sequence[float], bins: int = 10) -> float:
    """PSI of ``recent`` against ``reference`` on the reference's quantile bins.

    Around 0.1 is a moderate shift, above 0.25 a large one.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(0, 1, 5000), rng.normal(0, 1, 5000)
    >>> psi(a, b) < 0.02, psi(a, rng.normal(1, 1, 5000)) > 0.25
    (True, True)
    """
    ref = np.asarray(reference, dtype=np.float64)
    new = np.asarray(recent, dtype=np.float64)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    new_share = np.bincount(np.searchsorted(edges, new, side="right"), minlength=len(edges) + 1) / len(new)
    ref_share, new_share = np.maximum(ref_share, EPSILON), np.maximum(new_share, EPSILON)
    return float(np.sum((new_share - ref_share) * np.log(new_share / ref_share)))
