"""Refit on a shifted synthetic world: the candidate beats the live model after the shift, a worse one is rejected."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import cache
from typing import Final

import numpy as np
import pytest

from agents.features import CTR_SCENES
from schemas.common import CATEGORIES, KNOWN_CHANNELS
from streams.settings import RefitPolicy
from streams.synthetic.world import World, WorldConfig
from triton_models.datasets import Dataset, ctr_row
from triton_models.nets import CalibratedClassifier
from triton_models.refit import InsufficientExamplesError, RefitOutcome, judge, refit
from triton_models.repository import latest_version, read_card, version_numbers
from triton_models.train import TrainedModel, TrainingConfig, fit_model

SEED: Final = 11
WORLD: Final = WorldConfig(products_per_category=12, campaigns_per_category=3, n_users=800)
LIVE_TRAINING: Final = TrainingConfig(rows=30_000, epochs=3)
SHIFTED_CATEGORY: Final = "toys"
CTR_LOGIT_SHIFT: Final = 2.0
"""After the shift, ads of the shifted category are clicked e^2 ≈ 7 times as often (in odds)."""
RECENT_ROWS: Final = 12_000
REPLAY_ROWS: Final = 12_000
POLICY: Final = RefitPolicy(min_examples=2_000, holdout_fraction=0.25, min_recent_improvement=0.005,
                            max_replay_regression=0.05)  # fmt: skip
CAMPAIGN_CATEGORY_OFFSET: Final = len(KNOWN_CHANNELS) + 1 + len(CTR_SCENES)
"""Index of the first campaign-category one-hot in :func:`agents.features.ctr_feature_block`."""

Drawer = Callable[[random.Random, World], tuple[list[float], float]]


def shifted_ctr_row(category: str = SHIFTED_CATEGORY, logit_shift: float = CTR_LOGIT_SHIFT) -> Drawer:
    """The generator's ``ctr`` rows with the click logit of one campaign category shifted."""
    index = CAMPAIGN_CATEGORY_OFFSET + CATEGORIES.index(category)

    def draw(rng: random.Random, world: World) -> tuple[list[float], float]:
        features, proba = ctr_row(rng, world)
        if features[index] == 1.0:
            proba = 1.0 / (1.0 + math.exp(-(math.log(proba / (1.0 - proba)) + logit_shift)))
        return features, proba

    return draw


def draw_rows(draw: Drawer, world: World, rows: int, seed: int) -> Dataset:
    """``rows`` rows from ``draw`` with Bernoulli labels (as :func:`triton_models.datasets.draw_dataset`)."""
    rng = random.Random(f"shifted/{seed}")
    x = np.empty((rows, len(draw(random.Random(0), world)[0])), dtype=np.float32)
    y = np.empty(rows, dtype=np.float32)
    for i in range(rows):
        features, proba = draw(rng, world)
        x[i] = features
        y[i] = 1.0 if rng.random() < proba else 0.0
    return Dataset(x, y)


@cache
def live_model() -> tuple[World, TrainedModel]:
    """The small world and a ctr model trained on it before the shift (the live version)."""
    world = World.from_seed(SEED, WORLD)
    return world, fit_model("ctr", SEED, LIVE_TRAINING, world=world)


@cache
def shifted_world() -> tuple[World, CalibratedClassifier, Dataset, Dataset]:
    """A world, a live ctr model trained before the shift, post-shift (recent) and pre-shift (replay) rows."""
    world, trained = live_model()
    live = trained.model
    recent = draw_rows(shifted_ctr_row(), world, RECENT_ROWS, SEED + 1)
    replay = draw_rows(ctr_row, world, REPLAY_ROWS, SEED + 2)
    return world, live, recent, replay


@cache
def good_refit() -> RefitOutcome:
    _, live, recent, replay = shifted_world()
    return refit("ctr", recent, replay, POLICY, SEED, live=live, live_version=1)


def test_refit_beats_live_after_shift_and_keeps_old_data() -> None:
    outcome = good_refit()
    ev = outcome.evaluation
    print(f"\nshifted ctr refit: recent log-loss live={ev.live_recent.log_loss:.5f} "
          f"candidate={ev.candidate_recent.log_loss:.5f} ({ev.recent_improvement:+.2%} better), "
          f"auc {ev.live_recent.auc:.4f} -> {ev.candidate_recent.auc:.4f}; replay log-loss "
          f"live={ev.live_replay.log_loss:.5f} candidate={ev.candidate_replay.log_loss:.5f} "
          f"({ev.replay_regression:+.2%}); rows recent={ev.recent_rows} replay={ev.replay_rows} "
          f"in {outcome.card.training_seconds:.1f} s")  # fmt: skip
    assert outcome.promote, ev.reasons
    assert ev.recent_improvement is not None and ev.recent_improvement >= POLICY.min_recent_improvement
    assert ev.replay_regression is not None and ev.replay_regression <= POLICY.max_replay_regression
    assert ev.candidate_recent.log_loss < ev.live_recent.log_loss
    assert ev.holdout_recent_rows == round(RECENT_ROWS * POLICY.holdout_fraction)
    assert outcome.card.refit.live_version == 1 and outcome.card.seed == SEED


def test_shuffled_labels_candidate_is_rejected() -> None:
    _, live, recent, replay = shifted_world()
    outcome = refit("ctr", recent, replay, POLICY, SEED, live=live, live_version=1, shuffle_labels=True)
    ev = outcome.evaluation
    print(f"\nshuffled-label candidate: recent log-loss live={ev.live_recent.log_loss:.5f} "
          f"candidate={ev.candidate_recent.log_loss:.5f}; auc {ev.live_recent.auc:.4f} -> "
          f"{ev.candidate_recent.auc:.4f}; replay {ev.replay_regression:+.2%}")  # fmt: skip
    print(f"reasons: {ev.reasons}")
    assert not outcome.promote
    assert ev.shuffled_labels and ev.decision == "reject"
    assert ev.candidate_recent.auc < ev.live_recent.auc


def test_a_refit_with_too_few_positives_to_calibrate_keeps_the_live_scaling() -> None:
    """Rare positives (fraud's chargebacks): the fine-tuned candidate inherits the live Platt scaling, not none."""
    _, live, recent, _ = shifted_world()
    rows = POLICY.min_examples
    rare = Dataset(recent.x[:rows], np.where(np.arange(rows) < 10, 1.0, 0.0).astype(np.float32))
    no_replay = Dataset(recent.x[:0], recent.y[:0])
    outcome = refit("ctr", rare, no_replay, POLICY, SEED, live=live, live_version=1)
    scaling = outcome.card.calibration
    assert scaling.method == "inherited"
    assert (scaling.temperature, scaling.bias) == pytest.approx((float(live.temperature), float(live.bias)))
    assert float(outcome.model.temperature) == pytest.approx(float(live.temperature))


def test_too_few_examples_is_an_error() -> None:
    _, live, recent, replay = shifted_world()
    small = Dataset(recent.x[:100], recent.y[:100])
    with pytest.raises(InsufficientExamplesError, match="only 100 recent labelled examples"):
        refit("ctr", small, replay, POLICY, SEED, live=live, live_version=1)


def test_judge_gates() -> None:
    assert judge(POLICY, 5000, -0.02, 0.0)[0] == "promote"
    assert judge(POLICY, 5000, -0.001, 0.0)[0] == "reject"
    assert judge(POLICY, 5000, -0.05, 0.08)[0] == "reject"
    assert judge(POLICY, 5000, None, None)[0] == "promote"


def test_the_recent_gate_leaves_a_holdout_with_few_positives_to_the_shadow() -> None:
    """A handful of held-out clicks cannot reject a candidate unless it is significantly worse; enough clicks can."""
    few = POLICY.min_holdout_positives - 1
    assert judge(POLICY, 5000, 0.04, 0.0, recent_se=0.05, recent_positives=few)[0] == "promote"
    assert judge(POLICY, 5000, 0.04, 0.0, recent_se=0.01, recent_positives=few)[0] == "reject"
    assert judge(POLICY, 5000, 0.04, 0.0, recent_se=0.05, recent_positives=POLICY.min_holdout_positives)[0] == "reject"
    assert judge(POLICY, 5000, 0.04, 0.08, recent_se=0.05, recent_positives=few)[0] == "reject", "replay still gates"


def test_written_candidate_is_the_next_version_with_its_evaluation(tmp_path) -> None:
    from triton_models.refit import read_refit_card, write_candidate

    outcome = good_refit()
    (tmp_path / "ctr" / "1").mkdir(parents=True)
    card = write_candidate(tmp_path, outcome)
    assert card.version == 2 and version_numbers(tmp_path / "ctr") == [1, 2] and latest_version(tmp_path, "ctr") == 2
    again = read_refit_card(tmp_path / "ctr" / "2")
    assert again is not None and again.refit.decision == "promote" and again.refit.recent_rows == RECENT_ROWS
    assert read_card(tmp_path / "ctr" / "2").version == 2
