"""Models served by the real tritonserver score exactly like :class:`ModelScorer` in process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from agents.features import FEATURES_TENSOR, MODEL_FEATURES, PROBA_TENSOR
from tests.integration.conftest import TritonFactory
from triton_models.datasets import MODELS
from triton_models.repository import latest_version
from triton_models.serving import ModelScorer
from triton_models.train import TrainingConfig, train_model

pytestmark = pytest.mark.integration

SMALL = TrainingConfig(rows=4000, epochs=1)
BATCH_ROWS = 32
TOLERANCE = 1e-5
CLIENT_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def trained_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repository = tmp_path_factory.mktemp("served-models")
    for name in MODELS:
        train_model(name, seed=3, out_repository=repository, progress=False, config=SMALL)
    return repository


def _infer(url: str, model: str, x: np.ndarray) -> np.ndarray:
    with grpcclient.InferenceServerClient(url) as client:
        tensor = grpcclient.InferInput(FEATURES_TENSOR, list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        result = client.infer(model, [tensor], outputs=[grpcclient.InferRequestedOutput(PROBA_TENSOR)],
                              client_timeout=CLIENT_TIMEOUT_S)  # fmt: skip
        return result.as_numpy(PROBA_TENSOR)


def test_triton_output_equals_model_scorer(triton_factory: TritonFactory, trained_repository: Path) -> None:
    server = triton_factory(trained_repository, list(MODELS))
    rng = np.random.default_rng(0)
    for name in MODELS:
        x = rng.normal(size=(BATCH_ROWS, MODEL_FEATURES[name])).astype(np.float32)
        version_dir = trained_repository / name / str(latest_version(trained_repository, name))
        expected = ModelScorer(version_dir).score(x)
        served = _infer(server.grpc_url, name, x)
        assert served.shape == (BATCH_ROWS, 1) and served.dtype == np.float32
        np.testing.assert_allclose(served, expected, atol=TOLERANCE, rtol=0)

    bad = np.zeros((2, MODEL_FEATURES["fraud"]), dtype=np.float32)
    bad[1, 0] = np.nan
    with pytest.raises(grpcclient.InferenceServerException, match="fraud: features contain NaN"):
        _infer(server.grpc_url, "fraud", bad)
    assert _infer(server.grpc_url, "fraud", bad[:1]).shape == (1, 1)
