"""query_intent served by the real tritonserver: same answers as in process, and a broken version never goes live."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from agents.intent import check_intent_contract, classify_queries
from agents.scoring import TritonScorer
from schemas.common import CATEGORIES
from streams.embedded.triton import ModelLoadError
from streams.settings import TritonClientSettings
from tests.integration.conftest import TritonFactory
from triton_models.query_intent.contract import (
    CATEGORY_PROBA_TENSOR,
    LANGUAGE_TENSOR,
    MAX_BATCH_SIZE,
    MODEL_NAME,
    TEXT_TENSOR,
)
from triton_models.query_intent.repository import ADAPTER_DIR
from triton_models.query_intent.scorer import QueryIntentScorer
from triton_models.query_intent.train import IntentTrainingConfig, train_query_intent

pytestmark = pytest.mark.integration

SMALL = IntentTrainingConfig(
    train_per_language=(300, 300, 450), calibration_per_language=60, test_per_language=60, generator_per_language=20,
)  # fmt: skip
SERVED_TOLERANCE = 1e-5
"""Served and in-process scores run the same code on the same padded batch: float32 rounding only."""
CLIENT_TIMEOUT_S = 30.0
QUERIES: tuple[str, ...] = (
    "手机壳", "apple手机壳包邮", "无线耳机 降噪", "华为充电宝", "连衣裙女款", "耐克跑步鞋", "空气炸锅", "宜家台灯",
    "防晒霜 spf50", "口红正品", "瑜伽垫", "咖啡豆 进口",
    "wireless earbuds", "samsung 4k tv", "running shoes for women", "zara denim jacket", "dyson vacuum cleaner",
    "face cream for dry skin", "yoga mat", "organic coffee beans", "lego building blocks", "mystery novel paperback",
    "funda para móvil barato", "auriculares inalámbricos sony", "zapatillas de correr nike", "freidora de aire",
    "crema facial antiedad", "raqueta de tenis wilson", "aceite de oliva", "juego de mesa hasbro",
    "novela negra tapa blanda", "ratón gaming logitech",
)  # fmt: skip


@pytest.fixture(scope="module")
def intent_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repository = tmp_path_factory.mktemp("served-intent")
    train_query_intent(seed=3, out_repository=repository, progress=False, config=SMALL)
    return repository


def _infer(url: str, texts: tuple[str, ...]) -> tuple[np.ndarray, list[str], str]:
    with grpcclient.InferenceServerClient(url) as client:
        tensor = grpcclient.InferInput(TEXT_TENSOR, [len(texts), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=np.object_).reshape(-1, 1))
        outputs = [grpcclient.InferRequestedOutput(name) for name in (CATEGORY_PROBA_TENSOR, LANGUAGE_TENSOR)]
        result = client.infer(MODEL_NAME, [tensor], outputs=outputs, client_timeout=CLIENT_TIMEOUT_S)
        languages = [v.decode() for v in result.as_numpy(LANGUAGE_TENSOR)[:, 0]]
        return result.as_numpy(CATEGORY_PROBA_TENSOR), languages, result.get_response().model_version


async def test_served_query_intent_equals_the_in_process_scorer(
    triton_factory: TritonFactory, intent_repository: Path
) -> None:
    assert len(QUERIES) == 32 and {q for q in QUERIES if q.isascii()}
    server = triton_factory(intent_repository, [MODEL_NAME])
    proba, languages, version = _infer(server.grpc_url, QUERIES)
    expected = QueryIntentScorer(intent_repository / MODEL_NAME / "1").score(list(QUERIES))
    assert version == "1" and proba.shape == (32, len(CATEGORIES)) and proba.dtype == np.float32
    np.testing.assert_allclose(proba, expected.category_proba, atol=SERVED_TOLERANCE, rtol=0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert languages == expected.languages
    assert CATEGORIES[int(proba[QUERIES.index("手机壳")].argmax())] == "electronics"
    assert languages[QUERIES.index("手机壳")] == "zh"

    scorer = TritonScorer(server.grpc_url, TritonClientSettings(deadline_s=CLIENT_TIMEOUT_S))
    try:
        assert await check_intent_contract(scorer, timeout_s=CLIENT_TIMEOUT_S) == MAX_BATCH_SIZE
        intents = await classify_queries(scorer, list(QUERIES))
    finally:
        await scorer.close()
    assert [i.category for i in intents] == [CATEGORIES[int(k)] for k in proba.argmax(axis=1)]
    assert [i.language for i in intents] == languages
    np.testing.assert_allclose([i.confidence for i in intents], proba.max(axis=1), atol=SERVED_TOLERANCE)
    assert {i.model_version for i in intents} == {f"{MODEL_NAME}:1"}
    assert scorer.stats.requests == 1 and scorer.stats.rows == 32


def test_malformed_version_fails_to_load_and_the_previous_one_keeps_serving(
    triton_factory: TritonFactory, intent_repository: Path, tmp_path: Path
) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(intent_repository, repository)
    server = triton_factory(repository, [MODEL_NAME])
    before, _, _ = _infer(server.grpc_url, QUERIES)

    broken = repository / MODEL_NAME / "2"
    shutil.copytree(repository / MODEL_NAME / "1", broken)
    weights = broken / ADAPTER_DIR / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError) as failure:
        server.load_model(MODEL_NAME)
    assert failure.value.status == 400 and "version 2" in failure.value.detail

    assert server.model_versions_ready(MODEL_NAME) == [1]
    after, _, version = _infer(server.grpc_url, QUERIES)
    assert version == "1"
    np.testing.assert_array_equal(after, before)
