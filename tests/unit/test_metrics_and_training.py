"""Metrics, calibration, training, the model repository, ModelScorer and the python-backend template."""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agents.features import FEATURES_TENSOR, MODEL_FEATURES, PROBA_TENSOR
from streams.settings import Settings
from triton_models import cli
from tests.unit.setup_models import setup_card
from triton_models.calibration import fit_platt
from triton_models.card import ModelCard
from triton_models.metrics import average_precision, evaluate, expected_calibration_error, log_loss, roc_auc
from triton_models.nets import to_artifact
from triton_models.repository import (
    CARD_FILE,
    CONFIG_FILE,
    MODEL_FILE,
    WEIGHTS_FILE,
    list_versions,
    render_config,
    write_version,
)
from triton_models.serving import ModelScorer
from triton_models.train import DEFAULT_CONFIGS, TrainingConfig, fit_model, train_model

SMALL = TrainingConfig(rows=6000, epochs=2, hidden=(16,))
MODELS = ("ctr", "conversion", "fraud")


def _pairwise_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def _reference_ap(y: np.ndarray, s: np.ndarray) -> float:
    total, n_pos = 0.0, y.sum()
    for threshold in np.unique(s)[::-1]:
        chosen = s >= threshold
        new_tp = y[s == threshold].sum()
        total += (y[chosen].sum() / chosen.sum()) * new_tp / n_pos
    return float(total)


@pytest.mark.parametrize("seed", range(5))
def test_ranking_metrics_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(300) < 0.2).astype(float)
    s = np.round(rng.random(300) + 0.5 * y, 1)
    assert roc_auc(y, s) == pytest.approx(_pairwise_auc(y, s))
    assert average_precision(y, s) == pytest.approx(_reference_ap(y, s))


def test_metrics_edge_cases() -> None:
    assert np.isnan(roc_auc(np.zeros(4), np.arange(4)))
    assert np.isnan(average_precision(np.zeros(4), np.arange(4)))
    assert log_loss(np.array([1.0]), np.array([1.0])) < 1e-6
    assert expected_calibration_error(np.array([1.0]), np.array([1.0])) == 0.0
    with pytest.raises(ValueError, match="3 values but scores have 2"):
        roc_auc(np.zeros(3), np.zeros(2))


def test_perfectly_calibrated_scores_have_small_ece() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(200_000) * 0.2
    y = (rng.random(p.size) < p).astype(float)
    metrics = evaluate(y, p)
    assert metrics["ece"] < 0.005
    assert 0.6 < metrics["auc"] < 0.8


def test_platt_recovers_a_shifted_base_rate() -> None:
    rng = np.random.default_rng(1)
    logit = rng.normal(-5.0, 1.5, 100_000)
    y = (rng.random(logit.size) < 1 / (1 + np.exp(-logit))).astype(float)
    fitted = fit_platt(logit + np.log(10.0), y)
    assert fitted.temperature == pytest.approx(1.0, abs=0.1)
    assert fitted.bias == pytest.approx(-np.log(10.0), abs=0.2)


def test_train_model_writes_version_card_and_config(tmp_path: Path) -> None:
    card = train_model("ctr", seed=1, out_repository=tmp_path, progress=False, config=SMALL)
    version_dir = tmp_path / "ctr" / "1"
    assert card.version == 1 and card.model == "ctr" and card.feature_width == MODEL_FEATURES["ctr"]
    assert sorted(p.name for p in version_dir.iterdir()) == sorted([CARD_FILE, MODEL_FILE, WEIGHTS_FILE])
    config = (tmp_path / "ctr" / CONFIG_FILE).read_text()
    assert config == render_config("ctr", MODEL_FEATURES["ctr"])
    assert f'dims: [ {MODEL_FEATURES["ctr"]} ]' in config and "max_batch_size: 8192" in config
    assert card.data.rows == SMALL.rows and card.data.test_rows > 0 and 0 < card.data.positive_rate < 1
    assert set(card.metrics.model_dump()) == {"auc", "pr_auc", "log_loss", "ece", "base_rate", "n"}

    (tmp_path / "ctr" / CONFIG_FILE).write_text(config + "# hand-tuned\n")
    again = train_model("ctr", seed=2, out_repository=tmp_path, progress=False, config=SMALL)
    assert again.version == 2
    assert (tmp_path / "ctr" / CONFIG_FILE).read_text().endswith("# hand-tuned\n")
    assert [(m, v) for m, v, _ in list_versions(tmp_path)] == [("ctr", 1), ("ctr", 2)]
    assert not [p for p in (tmp_path / "ctr").iterdir() if p.name.startswith(".")]


def test_training_is_deterministic_for_a_seed() -> None:
    first = fit_model("fraud", seed=5, config=SMALL).model.state_dict()
    second = fit_model("fraud", seed=5, config=SMALL).model.state_dict()
    other = fit_model("fraud", seed=6, config=SMALL).model.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize("name", MODELS)
def test_model_scorer_equals_the_in_process_net(name: str, tmp_path: Path) -> None:
    trained = fit_model(name, seed=3, config=SMALL)
    card = write_version(tmp_path, trained.card, to_artifact(trained.model))
    scorer = ModelScorer(tmp_path / name / str(card.version))
    x = trained.splits.test.x[:256]
    with torch.inference_mode():
        expected = trained.model(torch.from_numpy(x)).numpy()
    out = scorer.score(x)
    assert out.shape == (len(x), 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="NaN"):
        scorer.score(np.full((1, MODEL_FEATURES[name]), np.nan, dtype=np.float32))


class _FakeTensor:
    def __init__(self, name: str, array: np.ndarray) -> None:
        self._name, self._array = name, array

    def as_numpy(self) -> np.ndarray:
        return self._array

    def name(self) -> str:
        return self._name


class _FakeResponse:
    def __init__(self, output_tensors: list[_FakeTensor], error: Any = None) -> None:
        self.output_tensors, self.error = output_tensors, error


def _fake_pb_utils() -> types.ModuleType:
    module = types.ModuleType("triton_python_backend_utils")
    module.Tensor = _FakeTensor  # type: ignore[attr-defined]
    module.InferenceResponse = _FakeResponse  # type: ignore[attr-defined]
    module.TritonError = lambda message: message  # type: ignore[attr-defined]
    module.get_input_tensor_by_name = lambda request, name: request.get(name)  # type: ignore[attr-defined]
    return module


def test_python_backend_template_batches_requests_and_isolates_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = train_model("fraud", seed=4, out_repository=tmp_path, progress=False, config=SMALL)
    version_dir = tmp_path / "fraud" / str(card.version)
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", _fake_pb_utils())
    spec = importlib.util.spec_from_file_location("served_fraud_model", version_dir / MODEL_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TritonPythonModel()
    model.initialize({"model_name": "fraud", "model_repository": str(tmp_path / "fraud"),
                      "model_version": str(card.version)})  # fmt: skip

    width = MODEL_FEATURES["fraud"]
    rng = np.random.default_rng(0)
    good_a = rng.normal(size=(3, width)).astype(np.float32)
    good_b = rng.normal(size=(5, width)).astype(np.float32)
    bad = np.full((2, width), np.nan, dtype=np.float32)
    requests = [{FEATURES_TENSOR: _FakeTensor(FEATURES_TENSOR, a)} for a in (good_a, bad, good_b)] + [{}]
    responses = model.execute(requests)

    scorer = ModelScorer(version_dir)
    assert len(responses) == 4
    (out_a,), (out_b,) = responses[0].output_tensors, responses[2].output_tensors
    assert out_a.name() == PROBA_TENSOR
    np.testing.assert_allclose(out_a.as_numpy(), scorer.score(good_a), atol=1e-6)
    np.testing.assert_allclose(out_b.as_numpy(), scorer.score(good_b), atol=1e-6)
    assert responses[0].error is None and responses[2].error is None
    assert responses[1].error == "fraud: features contain NaN or infinity"
    assert responses[3].error == f"fraud: missing input {FEATURES_TENSOR}"


def test_cli_train_if_missing_and_describe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def small_train(name: str, seed: int, out_repository: Path, progress: bool) -> Any:
        return train_model(name, seed, out_repository, progress=False, config=SMALL)

    monkeypatch.setattr(cli, "train_model", small_train)
    settings = Settings(_env_file=None, model_repository=tmp_path / "repo")
    assert [c.model for c in cli.train(settings, ["fraud"], if_missing=False)] == ["fraud"]
    assert [c.model for c in cli.train(settings, list(MODELS), if_missing=True)] == ["ctr", "conversion"]
    assert cli.train(settings, list(MODELS), if_missing=True) == []
    rows = cli.describe(settings)
    assert [(r["model"], r["version"]) for r in rows] == [("conversion", 1), ("ctr", 1), ("fraud", 1)]
    assert {"created_at", "auc", "pr_auc", "log_loss", "ece"} <= set(rows[0])
    with pytest.raises(ValueError, match="unknown model"):
        cli.train(settings, ["bogus"], if_missing=False)


@pytest.fixture(scope="module")
def default_cards(tmp_path_factory: pytest.TempPathFactory) -> list[ModelCard]:
    """The default models' cards: ``make setup``'s when trained with today's defaults, else trained here."""
    seed = 7
    reused = [setup_card(m, seed, asdict(DEFAULT_CONFIGS[m])) for m in MODELS]
    if all(card is not None for card in reused):
        return [card for card in reused if card is not None]
    settings = Settings(_env_file=None, model_repository=tmp_path_factory.mktemp("default-models"), seed=seed)
    return cli.train(settings, list(MODELS))


def test_default_training_meets_the_metric_thresholds(default_cards: list[ModelCard]) -> None:
    cards = default_cards
    by_model = {card.model: card for card in cards}
    assert sorted(by_model) == sorted(MODELS)
    assert by_model["ctr"].metrics.auc >= 0.75
    assert by_model["fraud"].metrics.pr_auc >= 0.5
    assert 0.001 <= by_model["fraud"].metrics.base_rate <= 0.005
    assert by_model["fraud"].metrics.n * by_model["fraud"].metrics.base_rate >= 150
    for card in cards:
        assert card.metrics.ece <= 0.05, card.model
    response = by_model["conversion"].price_response
    assert response is not None and response.prior is not None and response.prior.rows > 100_000
    assert -3.0 < response.prior.elasticity < -2.0 and response.prior.std_error < 0.2
    assert abs(response.elasticity - response.world_elasticity) < 0.3
    assert all(-4.0 < e < -1.0 for e in response.elasticity_by_category.values())


def test_default_configs_cover_every_model() -> None:
    assert set(DEFAULT_CONFIGS) == set(MODELS)
    assert DEFAULT_CONFIGS["fraud"].pos_weight > 1
