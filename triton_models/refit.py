"""Fit a candidate version on recent labelled data plus a replay of older data, and judge it.

The candidate starts from the live version's weights (fine-tuning; its feature
standardisation is kept) or from scratch when there is none, and is trained on the
training part of the recent window together with the training part of the replay
sample (continual learning without forgetting). Platt scaling is refitted on a slice
of those rows, and a logit offset per segment (e.g. ad category) on the recent rows, so a
shift confined to one segment is corrected where fine-tuning on a few hundred rows would
barely move it. Candidate and live are then scored on held-out recent rows and on
held-out replay rows: the candidate is promoted only if its log-loss on recent data
improves by ``min_recent_improvement`` (or the held-out recent rows hold too few positives
to tell, see :func:`judge`) and rises by at most ``max_replay_regression`` on the old data (both
relative to the live model's). The replay gate measures forgetting,
so it scores the candidate without its segment offsets: an offset is the evidence that one
segment's world changed, and it is judged on recent data and in shadow instead (its cost on
the old rows is recorded as ``replay_regression_with_offsets``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from agents.features import MODEL_FEATURES, SEGMENTS
from schemas.errors import StreamdecideError
from schemas.learning import LabelledExample
from streams.settings import RefitPolicy
from triton_models.calibration import PlattScaling, fit_offset
from triton_models.card import Calibration, DataDescription, HeldOutMetrics, ModelCard
from triton_models.datasets import MODELS, Dataset
from triton_models.metrics import evaluate, relative_log_loss_change
from triton_models.nets import MLP, CalibratedClassifier, from_artifact, to_artifact
from triton_models.repository import WEIGHTS_FILE, write_version
from triton_models.train import TORCH_THREADS, TrainingConfig, _calibrate, fit_net

FINE_TUNE: Final = TrainingConfig(rows=0, epochs=2, batch_size=512, learning_rate=1e-3)
"""Optimisation of a refit: two epochs at a third of the initial learning rate (more epochs forget more)."""
CALIBRATION_SHARE: Final = 0.2
"""Share of the refit's training rows kept aside to refit the Platt scaling."""
POS_WEIGHTS: Final[dict[str, float]] = {"ctr": 1.0, "conversion": 1.0, "fraud": 10.0}
"""Positive-class weight per model, as in the initial training (calibration undoes it)."""

Decision = Literal["promote", "reject"]


class InsufficientExamplesError(StreamdecideError):
    """Too few recent labelled examples to fit and judge a candidate."""

    def __init__(self, model: str, rows: int, needed: int) -> None:
        super().__init__(f"{model}: only {rows} recent labelled examples, a refit needs {needed}")
        self.model = model
        self.rows = rows
        self.needed = needed


class RefitEvaluation(BaseModel):
    """Candidate vs live on held-out recent and replay rows, the data counts and the verdict."""

    model_config = ConfigDict(frozen=True)

    live_version: int | None
    decision: Decision
    reasons: list[str]
    recent_rows: int = Field(ge=0, description="Recent-window rows given to the refit.")
    replay_rows: int = Field(ge=0, description="Replay rows given to the refit.")
    train_rows: int = Field(ge=0)
    calibration_rows: int = Field(ge=0)
    holdout_recent_rows: int = Field(ge=0)
    holdout_replay_rows: int = Field(ge=0)
    candidate_recent: HeldOutMetrics | None
    live_recent: HeldOutMetrics | None
    candidate_replay: HeldOutMetrics | None
    live_replay: HeldOutMetrics | None
    recent_improvement: float | None = Field(description="(live - candidate) / live log-loss on held-out recent rows.")
    recent_improvement_se: float | None = Field(
        None, description="Standard error of recent_improvement (paired held-out rows)."
    )
    replay_regression: float | None = Field(
        description="(candidate - live) / live log-loss on held-out replay rows, the candidate without segment offsets."
    )
    replay_regression_with_offsets: float | None = Field(
        None, description="The same with the segment offsets: what fitting the new regime costs on old rows."
    )
    shuffled_labels: bool = Field(False, description="Training labels were shuffled on purpose (a rejection drill).")


class RefitCard(ModelCard):
    """A model card with the refit's evaluation (``read_card`` still reads it as a plain card)."""

    refit: RefitEvaluation


@dataclass(frozen=True)
class RefitOutcome:
    """The fitted candidate, its card (version 0 until written) and the verdict."""

    model: CalibratedClassifier
    card: RefitCard

    @property
    def evaluation(self) -> RefitEvaluation:
        """The refit's evaluation."""
        return self.card.refit

    @property
    def promote(self) -> bool:
        """Whether the candidate passed the offline gates."""
        return self.card.refit.decision == "promote"


def examples_to_dataset(examples: Sequence[LabelledExample], width: int) -> Dataset:
    """Features and labels of ``examples`` (rows of another width are skipped).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> rows = [LabelledExample(model="m", decision_id=f"d{i}", features=[float(i)] * w, score=0.5,
    ...                         model_version="m:1", label=bool(i), decided_at=t, labelled_at=t)
    ...         for i, w in ((0, 2), (1, 2), (2, 3))]
    >>> d = examples_to_dataset(rows, 2)
    >>> d.x.shape, d.y.tolist()
    ((2, 2), [0.0, 1.0])
    """
    kept = [e for e in examples if len(e.features) == width]
    x = np.asarray([e.features for e in kept], dtype=np.float32).reshape(len(kept), width)
    y = np.asarray([1.0 if e.label else 0.0 for e in kept], dtype=np.float32)
    return Dataset(x, y)


def _cut(data: Dataset, share: float, rng: np.random.Generator) -> tuple[Dataset, Dataset]:
    """Shuffle ``data`` and cut it into (rest, ``share`` of the rows)."""
    order = rng.permutation(data.rows)
    n_cut = int(round(share * data.rows))
    rest, cut = order[n_cut:], order[:n_cut]
    return Dataset(data.x[rest], data.y[rest]), Dataset(data.x[cut], data.y[cut])


def _concat(*parts: Dataset) -> Dataset:
    return Dataset(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))


def load_live(repository: Path, model: str, version: int | None) -> CalibratedClassifier | None:
    """The live version's calibrated model from its ``weights.pt`` (``None`` without a version)."""
    if version is None:
        return None
    path = repository / model / str(version) / WEIGHTS_FILE
    return from_artifact(torch.load(path, map_location="cpu", weights_only=True))


def live_scaling(live: CalibratedClassifier) -> PlattScaling:
    """The live version's Platt scaling, for a candidate fine-tuned from it.

    Too few positives to fit a scaling (fraud's chargebacks are rare) must not leave the
    candidate uncalibrated: it was fine-tuned from the live network with the same
    positive-class weight, so its logits carry the same shift, and the live scaling undoes it.
    """
    return PlattScaling(temperature=float(live.temperature), bias=float(live.bias))


def fine_tune(net: MLP, train: Dataset, config: TrainingConfig, pos_weight: float, seed: int) -> MLP:
    """Continue training ``net`` on ``train`` (its standardisation is kept), in place."""
    torch.manual_seed(seed)
    x = torch.from_numpy(train.x)
    y = torch.from_numpy(train.y).unsqueeze(1)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
    order_rng = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=order_rng)
        for start in range(0, len(x), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimiser.zero_grad()
            loss_fn(net(x[batch]), y[batch]).backward()
            optimiser.step()
    return net.eval()


def _proba(model: CalibratedClassifier, data: Dataset) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(data.x)).double().numpy().ravel()


def _metrics(model: CalibratedClassifier | None, data: Dataset) -> HeldOutMetrics | None:
    if model is None or data.rows == 0:
        return None
    values = evaluate(data.y, _proba(model, data))
    return HeldOutMetrics(**{**values, "n": int(values["n"])})


def _relative(live: HeldOutMetrics | None, candidate: HeldOutMetrics | None) -> float | None:
    """(candidate - live) / live log-loss; ``None`` when either is missing."""
    if live is None or candidate is None or live.log_loss <= 0:
        return None
    return (candidate.log_loss - live.log_loss) / live.log_loss


def judge(
    policy: RefitPolicy,
    recent_rows: int,
    recent_change: float | None,
    replay_change: float | None,
    recent_se: float | None = None,
    recent_positives: int | None = None,
) -> tuple[Decision, list[str]]:
    """The offline verdict from relative log-loss changes (negative = the candidate is better).

    The recent gate needs ``min_holdout_positives`` positives among the held-out recent rows
    to judge: with fewer (a drift refit holds out a few dozen rows with a handful of clicks)
    one click moves the log-loss by tens of percent, so the gate only rejects a candidate that
    is significantly worse (``change - recent_gate_z · recent_se > 0``) and otherwise leaves
    the verdict to the shadow, which judges ``shadow_examples`` live rows.

    Examples
    --------
    >>> p = RefitPolicy(min_examples=100, min_recent_improvement=0.01, max_replay_regression=0.02)
    >>> judge(p, 500, -0.05, 0.01)
    ('promote', ['recent log-loss -5.00% (need <= -1.00%)', 'replay log-loss +1.00% (allowed <= +2.00%)'])
    >>> judge(p, 500, -0.05, 0.10)[0], judge(p, 500, 0.0, None)[0], judge(p, 50, -0.5, 0.0)[1][0]
    ('reject', 'reject', 'only 50 recent examples (need 100)')
    >>> decision, reasons = judge(p, 500, 0.03, 0.0, recent_se=0.04, recent_positives=4)
    >>> decision, reasons[0]
    ('promote', 'recent log-loss +3.00% ± 8.00% with 4 held-out positives (30 to judge): the shadow decides')
    >>> judge(p, 500, 0.03, 0.0, recent_se=0.01, recent_positives=4)[1][0]
    'recent log-loss +3.00% ± 2.00% with 4 held-out positives: significantly worse'
    >>> judge(p, 500, 0.03, 0.0, recent_se=0.04, recent_positives=80)[1][0]
    'recent log-loss +3.00% (need <= -1.00%)'
    """
    if recent_rows < policy.min_examples:
        return "reject", [f"only {recent_rows} recent examples (need {policy.min_examples})"]
    reasons, ok = [], True
    need = -policy.min_recent_improvement
    few_positives = recent_positives is not None and recent_positives < policy.min_holdout_positives
    if recent_change is None:
        reasons.append("no live model to compare on recent data")
    elif recent_change <= need:
        reasons.append(f"recent log-loss {recent_change:+.2%} (need <= {need:+.2%})")
    elif few_positives:
        margin = 0.0 if recent_se is None else policy.recent_gate_z * recent_se
        evidence = f"recent log-loss {recent_change:+.2%} ± {margin:.2%} with {recent_positives} held-out positives"
        if recent_change - margin > 0:
            ok = False
            reasons.append(f"{evidence}: significantly worse")
        else:
            reasons.append(f"{evidence} ({policy.min_holdout_positives} to judge): the shadow decides")
    else:
        ok = False
        reasons.append(f"recent log-loss {recent_change:+.2%} (need <= {need:+.2%})")
    if replay_change is not None:
        ok &= replay_change <= policy.max_replay_regression
        reasons.append(f"replay log-loss {replay_change:+.2%} (allowed <= {policy.max_replay_regression:+.2%})")
    return ("promote" if ok else "reject"), reasons


def fit_segment_offsets(
    candidate: CalibratedClassifier, model: str, rows: Dataset, prior_precision: float, min_z: float
) -> dict[str, float]:
    """Set ``candidate``'s logit offset for each segment of ``model`` that ``rows`` show is off; returns them by name.

    A segment is a row's hot column in the model's one-hot block (:data:`~agents.features.SEGMENTS`).
    Only offsets at least ``min_z`` standard errors from 0 are kept: noise stays out.

    Examples
    --------
    >>> from agents.features import N_CTR_FEATURES
    >>> _ = torch.manual_seed(0)
    >>> block, names = SEGMENTS["ctr"]
    >>> x = np.zeros((400, N_CTR_FEATURES), dtype=np.float32)
    >>> x[:200, block.start] = 1.0
    >>> x[200:, block.start + 1] = 1.0
    >>> y = np.zeros(400, dtype=np.float32)
    >>> y[:100] = 1.0                                   # the first segment's events: half of its rows
    >>> net = CalibratedClassifier(MLP(N_CTR_FEATURES, (4,)), bias=-3.0)
    >>> with torch.no_grad():
    ...     _ = net.net.layers[-1].weight.zero_(), net.net.layers[-1].bias.zero_()
    >>> offsets = fit_segment_offsets(net, "ctr", Dataset(x, y), 1.0, 2.0)
    >>> round(offsets[names[0]], 1), offsets[names[1]] < 0, round(float(net.offsets[block.start]), 1)
    (2.9, True, 2.9)
    >>> y[:] = 0.0
    >>> y[:10], y[200:209] = 1.0, 1.0                   # 10 and 9 events in 200 rows each: what 4.7% gives
    >>> fit_segment_offsets(CalibratedClassifier(net.net, bias=-3.0), "ctr", Dataset(x, y), 1.0, 2.0)
    {}
    """
    if model not in SEGMENTS or rows.rows == 0:
        return {}
    block, names = SEGMENTS[model]
    with torch.inference_mode():
        logits = candidate.logits(torch.from_numpy(rows.x)).double().numpy().ravel()
    hot = rows.x[:, block]
    segment = np.where(hot.max(axis=1) > 0, hot.argmax(axis=1), -1)
    offsets: dict[str, float] = {}
    for j, name in enumerate(names):
        mask = segment == j
        if not mask.any():
            continue
        offset, z_score = fit_offset(logits[mask], rows.y[mask], prior_precision)
        if abs(z_score) >= min_z:
            offsets[name] = round(offset, 6)
            candidate.offsets[block.start + j] = offsets[name]
    return offsets


def refit(
    model: str,
    recent: Dataset,
    replay: Dataset,
    policy: RefitPolicy,
    seed: int,
    live: CalibratedClassifier | None = None,
    live_version: int | None = None,
    shuffle_labels: bool = False,
    config: TrainingConfig = FINE_TUNE,
) -> RefitOutcome:
    """Fit and judge a candidate for ``model`` on ``recent`` plus ``replay`` rows.

    Parameters
    ----------
    model
        ``ctr``, ``conversion`` or ``fraud``.
    recent, replay
        The recent window and the replay sample of older data.
    policy
        Holdout share and the gates.
    seed
        Seeds the splits, the label shuffle and the fit.
    live, live_version
        The serving model (fine-tuned from, and compared with); none = train from scratch.
    shuffle_labels
        Shuffle the training labels (never the held-out ones): a deliberately worse candidate.
    config
        Epochs, batch size and learning rate of the fit.

    Returns
    -------
    RefitOutcome
        The candidate and a :class:`RefitCard` holding the evaluation and the decision.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    if recent.rows < policy.min_examples:
        raise InsufficientExamplesError(model, recent.rows, policy.min_examples)
    torch.set_num_threads(TORCH_THREADS)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    train_recent, hold_recent = _cut(recent, policy.holdout_fraction, rng)
    train_replay, hold_replay = _cut(replay, policy.holdout_fraction, rng) if replay.rows else (replay, replay)
    fit_rows, calibration = _cut(_concat(train_recent, train_replay), CALIBRATION_SHARE, rng)
    if shuffle_labels:
        fit_rows = Dataset(fit_rows.x, rng.permutation(fit_rows.y))
        calibration = Dataset(calibration.x, rng.permutation(calibration.y))
    pos_weight = POS_WEIGHTS[model]
    if live is not None:
        candidate_net = from_artifact(to_artifact(live)).net
        fine_tune(candidate_net, fit_rows, config, pos_weight, seed)
    else:
        candidate_net = fit_net(fit_rows, TrainingConfig(rows=fit_rows.rows, pos_weight=pos_weight), seed, False, model)
    ranks = True
    try:
        scaling, method = _calibrate(candidate_net, calibration) if calibration.rows else (PlattScaling(), "none")
    except ValueError:  # the logits rank the labels backwards: leave them uncalibrated, the gates judge
        scaling, method, ranks = PlattScaling(), "none", False
    if method == "none" and ranks and live is not None:
        scaling, method = live_scaling(live), "inherited"
    candidate = CalibratedClassifier(candidate_net, scaling.temperature, scaling.bias).eval()
    segment_offsets: dict[str, float] = {}
    if ranks:  # offsets refine a calibration; logits that rank the labels backwards get neither
        offset_rows = Dataset(train_recent.x, rng.permutation(train_recent.y)) if shuffle_labels else train_recent
        segment_offsets = fit_segment_offsets(candidate, model, offset_rows, policy.segment_offset_prior,
                                              policy.segment_offset_min_z)  # fmt: skip
    network_only = CalibratedClassifier(candidate_net, scaling.temperature, scaling.bias).eval()
    scores = {
        name: _metrics(m, d)
        for name, m, d in (("candidate_recent", candidate, hold_recent), ("live_recent", live, hold_recent),
                           ("candidate_replay", network_only, hold_replay), ("live_replay", live, hold_replay))
    }  # fmt: skip
    paired = None if live is None else relative_log_loss_change(hold_recent.y, _proba(live, hold_recent),
                                                                 _proba(candidate, hold_recent))  # fmt: skip
    recent_change, recent_se = paired if paired is not None else (None, None)
    replay_change = _relative(scores["live_replay"], scores["candidate_replay"])
    replay_change_with_offsets = _relative(scores["live_replay"], _metrics(candidate, hold_replay))
    decision, reasons = judge(policy, recent.rows, recent_change, replay_change, recent_se, int(hold_recent.y.sum()))
    evaluation = RefitEvaluation(
        live_version=live_version, decision=decision, reasons=reasons, recent_rows=recent.rows,
        replay_rows=replay.rows, train_rows=fit_rows.rows, calibration_rows=calibration.rows,
        holdout_recent_rows=hold_recent.rows, holdout_replay_rows=hold_replay.rows,
        recent_improvement=None if recent_change is None else -recent_change,
        recent_improvement_se=recent_se,
        replay_regression=replay_change, replay_regression_with_offsets=replay_change_with_offsets,
        shuffled_labels=shuffle_labels, **scores,
    )  # fmt: skip
    all_y = np.concatenate([recent.y, replay.y])
    card = RefitCard(
        model=model,
        version=0,
        created_at=datetime.now(UTC),
        seed=seed,
        training_seconds=round(time.perf_counter() - started, 3),
        feature_width=MODEL_FEATURES[model],
        data=DataDescription(
            source=f"refit: {recent.rows} recent labelled examples + {replay.rows} replayed older examples"
            + (f", fine-tuned from version {live_version}" if live_version is not None else ""),
            rows=len(all_y),
            train_rows=fit_rows.rows,
            calibration_rows=calibration.rows,
            test_rows=hold_recent.rows + hold_replay.rows,
            positive_rate=float(all_y.mean()) if len(all_y) else None,
        ),
        metrics=scores["candidate_recent"],
        calibration=Calibration(method=method, temperature=scaling.temperature, bias=scaling.bias,
                                segment_offsets=segment_offsets),
        hyperparameters={"epochs": config.epochs, "batch_size": config.batch_size,
                         "learning_rate": config.learning_rate, "pos_weight": pos_weight,
                         "holdout_fraction": policy.holdout_fraction},
        refit=evaluation,
    )  # fmt: skip
    return RefitOutcome(candidate, card)


def write_candidate(repository: Path, outcome: RefitOutcome) -> RefitCard:
    """Write the candidate as the next version of its model (staged, then renamed); returns its card."""
    written = write_version(repository, outcome.card, to_artifact(outcome.model))
    return outcome.card.model_copy(update={"version": written.version})


def read_refit_card(version_dir: Path) -> RefitCard | None:
    """The refit card of a version directory, ``None`` for a version not made by a refit."""
    from pydantic import ValidationError

    from triton_models.repository import CARD_FILE

    try:
        return RefitCard.model_validate_json((version_dir / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None
