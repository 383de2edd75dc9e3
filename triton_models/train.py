"""Train, calibrate, evaluate and publish one model version.

Deterministic for a seed: the world, the rows, the split, the initial weights and
the batch order all derive from it, and torch runs on a fixed number of threads.
The conversion model's price slope is pulled towards the elasticity estimated on the
real orangeJuice panel (:mod:`triton_models.orange_juice`) and reported in its card.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from agents.features import MODEL_FEATURES
from streams.synthetic.world import World
from triton_models.calibration import PlattScaling, fit_platt
from triton_models.card import Calibration, DataDescription, HeldOutMetrics, ModelCard
from triton_models.datasets import MODELS, Dataset, Splits, build_splits
from triton_models.metrics import evaluate
from triton_models.nets import MLP, CalibratedClassifier, to_artifact
from triton_models.orange_juice import orange_juice_elasticity
from triton_models.price_response import price_response, prior_penalty
from triton_models.repository import write_version

TORCH_THREADS: Final = 2
SCORING_BATCH: Final = 65_536
MIN_CALIBRATION_CLASS_ROWS: Final = 20
"""Fewer positives (or negatives) than this on the calibration split: no calibration is fitted."""


@dataclass(frozen=True)
class TrainingConfig:
    """Data size and optimisation settings of one model."""

    rows: int
    hidden: tuple[int, ...] = (64, 32)
    epochs: int = 4
    batch_size: int = 1024
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    pos_weight: float = 1.0
    price_prior_weight: float = 0.0
    """Conversion only: weight of the penalty pulling the mean price slope to the orangeJuice elasticity."""


PRICE_PRIOR_WEIGHT: Final = 0.05
"""A slope 0.5 off the orangeJuice elasticity costs about a quarter of the conversion log-loss."""

DEFAULT_CONFIGS: Final[dict[str, TrainingConfig]] = {
    "ctr": TrainingConfig(rows=200_000),
    "conversion": TrainingConfig(rows=240_000, price_prior_weight=PRICE_PRIOR_WEIGHT),
    "fraud": TrainingConfig(rows=400_000, pos_weight=10.0),
}
"""Defaults sized so all three train in well under two minutes on two cores."""


@dataclass(frozen=True)
class TrainedModel:
    """A fitted, calibrated model with its card (version 0 until written) and data."""

    model: CalibratedClassifier
    card: ModelCard
    splits: Splits


def logits_of(net: MLP, x: np.ndarray) -> np.ndarray:
    """Uncalibrated logits of ``net`` for rows ``x`` (float64, ``[rows]``)."""
    net.eval()
    with torch.inference_mode():
        parts = [net(torch.from_numpy(x[i : i + SCORING_BATCH])) for i in range(0, len(x), SCORING_BATCH)]
    return torch.cat(parts).double().numpy().ravel() if parts else np.empty(0)


def fit_net(
    train: Dataset, config: TrainingConfig, seed: int, progress: bool, label: str, price_prior: float | None = None
) -> MLP:
    """Fit an :class:`MLP` to ``train`` with Adam and (weighted) binary cross-entropy.

    With ``price_prior`` (an elasticity) and ``config.price_prior_weight``, the mean slope of
    the logit in the log price pays :func:`~triton_models.price_response.prior_penalty`.
    """
    torch.manual_seed(seed)
    net = MLP(train.x.shape[1], config.hidden)
    x = torch.from_numpy(train.x)
    y = torch.from_numpy(train.y).unsqueeze(1)
    net.set_standardisation(x)
    positives = float(train.y.sum()) * config.pos_weight
    net.set_prior(positives / (positives + len(train.y) - float(train.y.sum())))
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(config.pos_weight))
    order_rng = torch.Generator().manual_seed(seed)
    steps = -(-len(x) // config.batch_size)
    net.train()
    with tqdm(total=config.epochs * steps, desc=f"{label}: train", unit="step", disable=not progress) as bar:
        for epoch in range(config.epochs):
            order = torch.randperm(len(x), generator=order_rng)
            for start in range(0, len(x), config.batch_size):
                batch = order[start : start + config.batch_size]
                optimiser.zero_grad()
                loss = loss_fn(net(x[batch]), y[batch])
                if price_prior is not None:
                    loss = loss + prior_penalty(net, x[batch], price_prior, config.price_prior_weight)
                loss.backward()
                optimiser.step()
                bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")
    return net.eval()


def fit_model(
    name: str, seed: int, config: TrainingConfig | None = None, progress: bool = False, world: World | None = None
) -> TrainedModel:
    """Draw data for ``name``, fit, calibrate on the calibration split and evaluate on the test split."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    config = config or DEFAULT_CONFIGS[name]
    torch.set_num_threads(TORCH_THREADS)
    started = time.perf_counter()
    world = world or World.from_seed(seed)
    splits = build_splits(name, world, config.rows, seed, progress)
    prior = orange_juice_elasticity() if name == "conversion" and config.price_prior_weight > 0 else None
    net = fit_net(splits.train, config, seed, progress, name, None if prior is None else prior.elasticity)
    scaling, method = _calibrate(net, splits.calibration)
    model = CalibratedClassifier(net, scaling.temperature, scaling.bias).eval()
    with torch.inference_mode():
        proba = model(torch.from_numpy(splits.test.x)).double().numpy().ravel()
    metrics = evaluate(splits.test.y, proba)
    all_y = np.concatenate([splits.train.y, splits.calibration.y, splits.test.y])
    card = ModelCard(
        model=name,
        version=0,
        created_at=datetime.now(UTC),
        seed=seed,
        training_seconds=round(time.perf_counter() - started, 3),
        feature_width=MODEL_FEATURES[name],
        data=DataDescription(
            source=f"streams.synthetic world seed {seed}: {splits.description}",
            rows=len(all_y),
            train_rows=splits.train.rows,
            calibration_rows=splits.calibration.rows,
            test_rows=splits.test.rows,
            positive_rate=float(all_y.mean()),
        ),
        metrics=HeldOutMetrics(**{**metrics, "n": int(metrics["n"])}),
        calibration=Calibration(method=method, temperature=scaling.temperature, bias=scaling.bias),
        hyperparameters={k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        price_response=(
            price_response(model, splits.test.x, float(np.mean(world.elasticities)), prior, config.price_prior_weight)
            if name == "conversion"
            else None
        ),
    )
    return TrainedModel(model, card, splits)


def _calibrate(net: MLP, calibration: Dataset) -> tuple[PlattScaling, str]:
    """Platt scaling fitted on the calibration split, or none when it has too few of either class."""
    positives = int(calibration.y.sum())
    if min(positives, calibration.rows - positives) < MIN_CALIBRATION_CLASS_ROWS:
        return PlattScaling(), "none"
    return fit_platt(logits_of(net, calibration.x), calibration.y), "platt"


def train_model(
    name: str, seed: int, out_repository: Path, progress: bool, config: TrainingConfig | None = None
) -> ModelCard:
    """Train ``name`` and write it as the next version in ``out_repository``.

    Parameters
    ----------
    name
        ``ctr``, ``conversion`` or ``fraud``.
    seed
        Seeds the world, the data and the fit (same seed → same weights).
    out_repository
        The Triton model repository.
    progress
        Show tqdm progress bars (stderr).
    config
        Data size and optimisation; :data:`DEFAULT_CONFIGS` by default.

    Returns
    -------
    ModelCard
        The card written next to the weights, with its version.
    """
    trained = fit_model(name, seed, config, progress)
    return write_version(out_repository, trained.card, to_artifact(trained.model))
