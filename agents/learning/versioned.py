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
from collections.abc import Callable
from typing import Final, Protocol

import numpy as np

from agents.learning.live import LiveVersions
from agents.scoring import Scores, ScoringUnavailable

ONLINE_VERSION: Final = "online"
"""Version label of scores from the online learner standing in for the served model (``ctr:online``)."""

Fallback = Callable[[str, np.ndarray], np.ndarray | None]
"""Scores of ``rows`` for ``model`` from a stand-in (the online learner), or None when it cannot."""


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

    def __init__(self, backend: VersionedBackend, live: LiveVersions, fallback: Fallback | None = None) -> None:
        self.backend = backend
        self.live = live
        self.fallback = fallback

    async def score(self, model: str, features: np.ndarray) -> Scores:
        """Live scores, with shadow scores attached when a candidate answers.

        When the served model cannot answer, the ``fallback`` (the online learner) scores
        the rows and ``failure`` says why; without a usable fallback it raises like the backend.

        Examples
        --------
        >>> class Down:
        ...     async def score(self, model, rows, version=None):
        ...         raise ScoringUnavailable(model, Reason.CIRCUIT_OPEN)
        >>> from schemas.reasons import Reason
        >>> scorer = VersionedScorer(Down(), LiveVersions(), fallback=lambda model, rows: rows[:, 0] / 2)
        >>> out = asyncio.run(scorer.score("ctr", np.array([[0.5]])))
        >>> out.proba.tolist(), out.model_version, out.failure
        ([0.25], 'ctr:online', 'circuit_open')
        """
        try:
            return await self._served(model, features)
        except ScoringUnavailable as exc:
            proba = None if self.fallback is None else self.fallback(model, features)
            if proba is None:
                raise
            return Scores(proba, f"{model}:{ONLINE_VERSION}", failure=exc.reason.value)

    async def _served(self, model: str, features: np.ndarray) -> Scores:
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
