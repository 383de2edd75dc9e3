"""What the ``streamdecide train`` and ``streamdecide models`` commands call."""

from __future__ import annotations

from typing import Any

from streams.settings import Settings
from triton_models.card import ModelCard
from triton_models.datasets import MODELS
from triton_models.repository import latest_version, list_versions
from triton_models.train import train_model


def train(settings: Settings, models: list[str] | None = None, if_missing: bool = False) -> list[ModelCard]:
    """Train ``models`` (all three by default) into ``settings.repository_dir``.

    Parameters
    ----------
    settings
        Gives the repository directory and the seed.
    models
        Names among ``ctr``, ``conversion``, ``fraud``; ``None`` = all.
    if_missing
        Skip a model that already has a version.

    Returns
    -------
    list[ModelCard]
        Cards of the versions written (skipped models have none).
    """
    names = list(MODELS) if models is None else models
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    repository = settings.repository_dir
    cards = []
    for name in names:
        if if_missing and latest_version(repository, name) is not None:
            continue
        cards.append(train_model(name, settings.seed, repository, progress=True))
    return cards


def describe(settings: Settings) -> list[dict[str, Any]]:
    """One row per version: model, version, whether it is live, created_at and key held-out metrics.

    The served version is the newest one (``version_policy: latest 1``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     describe(Settings(_env_file=None, model_repository=Path(d)))
    []
    """
    repository = settings.repository_dir
    return [
        {
            "model": model,
            "version": version,
            "live": version == latest_version(repository, model),
            "created_at": card.created_at.isoformat(timespec="seconds"),
            "auc": round(card.metrics.auc, 4),
            "pr_auc": round(card.metrics.pr_auc, 4),
            "log_loss": round(card.metrics.log_loss, 4),
            "ece": round(card.metrics.ece, 4),
            "base_rate": round(card.metrics.base_rate, 4),
            "training_seconds": round(card.training_seconds, 1),
        }
        for model, version, card in list_versions(repository)
    ]
