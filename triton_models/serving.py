"""Scoring a trained version outside any server: what the Triton python backend calls."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from triton_models.nets import CalibratedClassifier, from_artifact
from triton_models.repository import WEIGHTS_FILE


class ModelScorer:
    """Calibrated probabilities from one version's ``weights.pt``.

    Parameters
    ----------
    weights
        A version directory or its ``weights.pt``.

    Examples
    --------
    >>> import tempfile
    >>> from triton_models.nets import MLP, to_artifact
    >>> _ = torch.manual_seed(0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     torch.save(to_artifact(CalibratedClassifier(MLP(3, (4,)))), Path(d) / WEIGHTS_FILE)
    ...     scorer = ModelScorer(Path(d))
    >>> out = scorer.score(np.zeros((2, 3), dtype=np.float32))
    >>> out.shape, out.dtype, scorer.width
    ((2, 1), dtype('float32'), 3)
    >>> scorer.score(np.zeros((2, 4), dtype=np.float32))
    Traceback (most recent call last):
    ...
    ValueError: expected features of shape (rows, 3), got (2, 4)
    """

    def __init__(self, weights: Path) -> None:
        path = weights / WEIGHTS_FILE if weights.is_dir() else weights
        self.model: CalibratedClassifier = from_artifact(torch.load(path, map_location="cpu", weights_only=True))
        self.width: int = self.model.net.in_features

    def check(self, features: np.ndarray) -> np.ndarray:
        """``features`` as a contiguous ``float32[rows, width]`` array.

        Raises
        ------
        ValueError
            On a wrong shape or non-finite values.
        """
        x = np.asarray(features)
        if x.ndim != 2 or x.shape[1] != self.width:
            raise ValueError(f"expected features of shape (rows, {self.width}), got {x.shape}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise ValueError("features contain NaN or infinity")
        return x

    def score(self, features: np.ndarray) -> np.ndarray:
        """Probabilities ``float32[rows, 1]`` for ``float32[rows, width]`` features.

        Raises
        ------
        ValueError
            On a wrong shape or non-finite values.
        """
        x = self.check(features)
        with torch.inference_mode():
            return self.model(torch.from_numpy(x)).numpy().astype(np.float32, copy=False)

    def score_batches(self, batches: Sequence[np.ndarray | Exception]) -> list[np.ndarray | Exception]:
        """Score the requests of one dynamic batch with a single forward pass.

        Parameters
        ----------
        batches
            One feature array per request, or the exception met while reading it.

        Returns
        -------
        list
            Per request, in order: its probabilities, or the exception that rejected it
            (earlier exceptions pass through; a bad array gets its ``ValueError``).

        Examples
        --------
        >>> import tempfile
        >>> from triton_models.nets import MLP, to_artifact
        >>> _ = torch.manual_seed(0)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     torch.save(to_artifact(CalibratedClassifier(MLP(2, (4,)))), Path(d) / WEIGHTS_FILE)
        ...     scorer = ModelScorer(Path(d))
        >>> a, b = np.zeros((3, 2), np.float32), np.ones((1, 2), np.float32)
        >>> out = scorer.score_batches([a, np.full((1, 2), np.nan, np.float32), b])
        >>> out[0].shape, type(out[1]).__name__, bool(np.array_equal(out[2], scorer.score(b)))
        ((3, 1), 'ValueError', True)
        """
        results: list[np.ndarray | Exception] = []
        good: list[np.ndarray] = []
        for item in batches:
            if isinstance(item, Exception):
                results.append(item)
                continue
            try:
                good.append(self.check(item))
                results.append(good[-1])
            except ValueError as exc:
                results.append(exc)
        if not good:
            return results
        try:
            scores = self.score(np.concatenate(good))
        except (RuntimeError, ValueError) as exc:
            return [r if isinstance(r, Exception) else exc for r in results]
        offsets = np.cumsum([0] + [len(x) for x in good])
        parts = iter(np.split(scores, offsets[1:-1]))
        return [r if isinstance(r, Exception) else next(parts) for r in results]
