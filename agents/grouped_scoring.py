"""Score many small row blocks with one request per served model (the scene route names the model)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agents.scoring import ScoringUnavailable

if TYPE_CHECKING:
    from agents.context import Scorer

FALLBACK_VERSION = "fallback"


@dataclass(slots=True)
class Scored:
    """Probabilities of one block's rows, or ``None`` with the failure's reason code."""

    proba: np.ndarray | None
    model_version: str
    failure: str = ""
    shadow_proba: np.ndarray | None = None
    shadow_version: str | None = None

    @property
    def degraded(self) -> bool:
        """The served model did not answer (no scores, or a fallback's)."""
        return self.proba is None or bool(self.failure)


async def score_blocks(scorer: Scorer, blocks: Sequence[tuple[str, np.ndarray]]) -> list[Scored]:
    """Score ``(model, rows)`` blocks: one request per distinct model, all in flight together.

    Examples
    --------
    >>> from agents.scoring import Scores
    >>> class Echo:
    ...     calls = []
    ...     async def score(self, model, rows):
    ...         self.calls.append((model, len(rows)))
    ...         return Scores(rows[:, 0], f"{model}:1")
    >>> echo = Echo()
    >>> out = asyncio.run(score_blocks(echo, [("a", np.array([[1.0], [2.0]])), ("b", np.array([[3.0]])),
    ...                                       ("a", np.array([[4.0]]))]))
    >>> [o.proba.tolist() for o in out], sorted(echo.calls)
    ([[1.0, 2.0], [3.0], [4.0]], [('a', 3), ('b', 1)])
    """
    by_model: dict[str, list[int]] = {}
    for index, (model, rows) in enumerate(blocks):
        if len(rows):
            by_model.setdefault(model, []).append(index)
    out: list[Scored] = [Scored(np.empty(0), FALLBACK_VERSION) for _ in blocks]

    async def one(model: str, indexes: list[int]) -> None:
        rows = np.concatenate([blocks[i][1] for i in indexes])
        try:
            scores = await scorer.score(model, rows)
        except ScoringUnavailable as exc:
            for i in indexes:
                out[i] = Scored(None, FALLBACK_VERSION, exc.reason.value)
            return
        start = 0
        for i in indexes:
            size = len(blocks[i][1])
            shadow = None if scores.shadow_proba is None else scores.shadow_proba[start : start + size]
            proba = scores.proba[start : start + size]
            out[i] = Scored(proba, scores.model_version, scores.failure, shadow, scores.shadow_version)
            start += size

    await asyncio.gather(*(one(model, indexes) for model, indexes in by_model.items()))
    return out
