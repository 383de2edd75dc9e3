"""Pin every live request to the live version, and score a shadow candidate alongside it.

During a rollout Triton serves two versions of a model; an unpinned request would
be answered by the newest (the candidate). This wrapper asks the live version
known from ``ops.model-events`` (:class:`~agents.learning.live.LiveVersions`) and,
while a candidate is in shadow, sends the same rows to it concurrently. The
candidate's scores ride along in :class:`~agents.scoring.Scores` (never used to
decide) so label joins can compare both on the same outcomes.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import numpy as np

from agents.learning.live import LiveVersions
from agents.scoring import Scores


class VersionedBackend(Protocol):
    """What the wrapper needs of :class:`~agents.scoring.TritonScorer`."""

    async def score(self, model: str, features: np.ndarray, version: int | None = None) -> Scores: ...

    async def score_shadow(self, model: str, features: np.ndarray, version: int) -> Scores | None: ...


class VersionedScorer:
    """A scorer for the decision families: live version pinned, shadow scored on the side.

    Examples
    --------
    >>> class Backend:
    ...     async def score(self, model, rows, version=None):
    ...         return Scores(rows[:, 0], f"{model}:{version or 1}")
    ...     async def score_shadow(self, model, rows, version):
    ...         return Scores(rows[:, 0] * 2, f"{model}:{version}")
    >>> from agents.learning.live import ModelState
    >>> live = LiveVersions({"ctr": ModelState(live=1, shadow=2)})
    >>> out = asyncio.run(VersionedScorer(Backend(), live).score("ctr", np.array([[0.25]])))
    >>> out.model_version, out.shadow_version, out.shadow_proba.tolist()
    ('ctr:1', 'ctr:2', [0.5])
    """

    def __init__(self, backend: VersionedBackend, live: LiveVersions) -> None:
        self.backend = backend
        self.live = live

    async def score(self, model: str, features: np.ndarray) -> Scores:
        """Live scores (raises like the backend); shadow scores attached when a candidate answers."""
        version, candidate = self.live.live(model), self.live.shadow(model)
        if candidate is None or candidate == version:
            return await self.backend.score(model, features, version=version)
        live, shadow = await asyncio.gather(
            self.backend.score(model, features, version=version),
            self.backend.score_shadow(model, features, candidate),
        )
        if shadow is None:
            return live
        return Scores(live.proba, live.model_version, shadow.proba, shadow.model_version)
