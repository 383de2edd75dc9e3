"""What the ``streamdecide train`` and ``streamdecide models`` commands call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.settings import Settings
from triton_models.card import IntentMetrics, ModelCard
from triton_models.datasets import MODELS
from triton_models.query_intent.contract import MODEL_NAME as QUERY_INTENT
from triton_models.repository import latest_version, list_versions
from triton_models.train import train_model

ALL_MODELS: tuple[str, ...] = (*MODELS, QUERY_INTENT)
"""Every model ``streamdecide train`` knows: the three tabular ones, then the text model."""


def train_query_intent(seed: int, out_repository: Path, progress: bool) -> ModelCard:
    """Fine-tune ``query_intent`` into ``out_repository`` (transformers is imported only here)."""
    from triton_models.query_intent.train import train_query_intent as fine_tune

    return fine_tune(seed, out_repository, progress)


def train(settings: Settings, models: list[str] | None = None, if_missing: bool = False) -> list[ModelCard]:
    """Train ``models`` (all four by default) into ``settings.repository_dir``.

    Parameters
    ----------
    settings
        Gives the repository directory and the seed.
    models
        Names among ``ctr``, ``conversion``, ``fraud``, ``query_intent``; ``None`` = all.
    if_missing
        Skip a model that already has a version.

    Returns
    -------
    list[ModelCard]
        Cards of the versions written (skipped models have none).
    """
    names = list(ALL_MODELS) if models is None else models
    unknown = [n for n in names if n not in ALL_MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(ALL_MODELS)}")
    repository = settings.repository_dir
    cards = []
    for name in names:
        if if_missing and latest_version(repository, name) is not None:
            continue
        if name == QUERY_INTENT:
            cards.append(train_query_intent(settings.seed, repository, progress=True))
        else:
            cards.append(train_model(name, settings.seed, repository, progress=True))
    return cards


def describe(settings: Settings) -> list[dict[str, Any]]:
    """One row per version: model, version, whether it is live, created_at and key held-out metrics.

    The live version is the one recorded by the last rollout (the cache of
    :mod:`agents.learning.live` under ``data_dir``); without one, the newest version
    (``version_policy: latest 1``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     describe(Settings(_env_file=None, model_repository=Path(d)))
    []
    """
    from agents.learning.live import cached_live_versions

    repository = settings.repository_dir
    live = cached_live_versions(settings.data_dir)
    return [
        _row(model, version, card, live.get(model, latest_version(repository, model)))
        for model, version, card in list_versions(repository)
    ]


def _row(model: str, version: int, card: ModelCard, live_version: int | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": model,
        "version": version,
        "live": version == live_version,
        "created_at": card.created_at.isoformat(timespec="seconds"),
        "auc": round(card.metrics.auc, 4),
        "pr_auc": round(card.metrics.pr_auc, 4),
        "log_loss": round(card.metrics.log_loss, 4),
        "ece": round(card.metrics.ece, 4),
        "base_rate": round(card.metrics.base_rate, 4),
        "training_seconds": round(card.training_seconds, 1),
    }
    if isinstance(card.metrics, IntentMetrics):
        row.update({f"accuracy_{k}": round(v, 4) for k, v in card.metrics.accuracy_by_language.items()})
        row["language_accuracy"] = round(card.metrics.language_accuracy, 4)
    if card.price_response is not None:
        row["elasticity"] = round(card.price_response.elasticity, 3)
    return row
