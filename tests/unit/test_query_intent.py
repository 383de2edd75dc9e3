"""query_intent: the corpus, a fast fine-tune into a version directory, the scorer, the template, the default fit."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import types
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tritonclient.utils import InferenceServerException

from agents.intent import classify_queries
from agents.scoring import ScoringUnavailable, TritonScorer
from schemas.common import CATEGORIES
from schemas.reasons import Reason
from streams.settings import Settings, TritonClientSettings
from streams.synthetic.vocabulary import LANGUAGES, PRODUCT_NOUNS
from triton_models import cli
from tests.unit.setup_models import setup_card
from triton_models.card import IntentMetrics, ModelCard
from triton_models.query_intent.contract import (
    CATEGORY_PROBA_TENSOR,
    INTENT_LANGUAGES,
    LANGUAGE_TENSOR,
    MODEL_NAME,
    TEXT_TENSOR,
)
from triton_models.query_intent.corpus import (
    EXTRA_NOUNS,
    FILLER_WORDS,
    HELD_OUT_TEMPLATES,
    TRAIN_TEMPLATES,
    draw_queries,
    generator_queries,
    nouns,
)
from triton_models.query_intent.network import BASE_LAYERS, build_net
from triton_models.query_intent.repository import (
    ADAPTER_DIR,
    ARTIFACT_FILE,
    TOKENIZER_DIR,
    render_intent_config,
    write_intent_version,
)
from triton_models.query_intent.scorer import ArtifactError, QueryIntentScorer, resolve_precision
from triton_models.query_intent.temperature import softmax
from triton_models.query_intent.train import (
    IntentTrainingConfig,
    fit_intent,
    predict_logits,
    save_artifacts,
    train_query_intent,
)
from triton_models.repository import CARD_FILE, CONFIG_FILE, MODEL_FILE, read_card

TINY = IntentTrainingConfig(
    train_per_language=(40, 40, 40), calibration_per_language=20, test_per_language=20, generator_per_language=10,
    epochs=1,
)  # fmt: skip
SCORER_TOLERANCE = 1e-5
"""Merged adapter (served) vs. unmerged adapter (training): float32 rounding only."""
BF16_TOLERANCE = 0.02
"""bf16 against fp32 scoring, absolute, on a probability (the default model moved by at most 0.0063)."""
MIN_ACCURACY = 0.90
MAX_ECE = 0.05
SLOT = re.compile(r"\{\w+\}")


def test_corpus_is_deterministic_for_a_seed() -> None:
    first = draw_queries(50, 3, TRAIN_TEMPLATES, "train", fillers=True)
    assert first == draw_queries(50, 3, TRAIN_TEMPLATES, "train", fillers=True)
    assert first != draw_queries(50, 4, TRAIN_TEMPLATES, "train", fillers=True)
    assert draw_queries(50, 3, TRAIN_TEMPLATES, "calibration") != draw_queries(50, 3, TRAIN_TEMPLATES, "train")
    assert generator_queries(20, 1) == generator_queries(20, 1)


def test_held_out_templates_are_disjoint_from_training_ones() -> None:
    for language in LANGUAGES:
        assert not set(TRAIN_TEMPLATES[language]) & set(HELD_OUT_TEMPLATES[language]), language
        held_out_words = {w for t in HELD_OUT_TEMPLATES[language] for w in SLOT.sub(" ", t).split()}
        assert not held_out_words & set(FILLER_WORDS[language]), language
    test = draw_queries(200, 0, HELD_OUT_TEMPLATES, "test")
    train = draw_queries(200, 0, TRAIN_TEMPLATES, "train", fillers=True)
    assert {q.template for q in test}.isdisjoint({q.template for q in train})
    assert all(q.template in HELD_OUT_TEMPLATES[q.language] for q in test)
    assert {q.language for q in test} == set(LANGUAGES) and {q.category for q in test} == set(CATEGORIES)


def test_vocabulary_covers_every_category_and_language() -> None:
    assert INTENT_LANGUAGES == LANGUAGES
    for category in CATEGORIES:
        assert all(len(t) == len(LANGUAGES) for t in EXTRA_NOUNS[category])
        for language in LANGUAGES:
            assert len(nouns(language, category)) == len(PRODUCT_NOUNS[language][category]) + len(EXTRA_NOUNS[category])
    every = [(language, noun) for language in LANGUAGES for c in CATEGORIES for noun in nouns(language, c)]
    owners: dict[tuple[str, str], set[str]] = {}
    for category in CATEGORIES:
        for language in LANGUAGES:
            for noun in nouns(language, category):
                owners.setdefault((language, noun), set()).add(category)
    assert len(owners) == len(set(every)) and all(len(c) == 1 for c in owners.values()), "a noun in two categories"


@dataclass
class Tiny:
    repository: Path
    version_dir: Path
    trained: Any


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    repository = tmp_path_factory.mktemp("intent")
    trained = fit_intent(seed=1, config=TINY)
    card = write_intent_version(repository, trained.card, lambda staging: save_artifacts(trained, staging))
    return Tiny(repository, repository / MODEL_NAME / str(card.version), trained)


def test_fast_training_writes_a_version_with_card_and_tokenizer(tiny: Tiny) -> None:
    version_dir = tiny.version_dir
    assert version_dir.name == "1"
    assert {p.name for p in version_dir.iterdir()} == {MODEL_FILE, CARD_FILE, ARTIFACT_FILE, ADAPTER_DIR, TOKENIZER_DIR}
    adapter_files = {p.name for p in (version_dir / ADAPTER_DIR).iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= adapter_files
    assert {"tokenizer.json", "tokenizer_config.json"} <= {p.name for p in (version_dir / TOKENIZER_DIR).iterdir()}
    assert (tiny.repository / MODEL_NAME / CONFIG_FILE).read_text() == render_intent_config()
    card = read_card(version_dir)
    assert card.model == MODEL_NAME and card.version == 1 and card.seed == 1 and card.feature_width == 1
    assert isinstance(card.metrics, IntentMetrics)
    assert set(card.metrics.accuracy_by_language) == set(LANGUAGES)
    assert card.calibration.method == "temperature" and card.calibration.temperature > 0
    assert card.data.train_rows == 120 and card.data.test_rows == 60 and card.data.positive_rate is None
    artifact = json.loads((version_dir / ARTIFACT_FILE).read_text())
    assert artifact["categories"] == list(CATEGORIES) and artifact["extra_tokens"] > 0
    assert not [p for p in (tiny.repository / MODEL_NAME).iterdir() if p.name.startswith(".")]


def test_scorer_equals_the_trained_network_and_knows_chinese(tiny: Tiny) -> None:
    scorer = QueryIntentScorer(tiny.version_dir, precision="fp32")
    texts = [q.text for q in tiny.trained.data.test] + ["手机壳", ""]
    logits, _ = predict_logits(tiny.trained.model, tiny.trained.tokenizer, texts, TINY.max_length)
    scores = scorer.score(texts)
    assert scores.category_proba.shape == (len(texts), len(CATEGORIES)) and scores.category_proba.dtype == np.float32
    np.testing.assert_allclose(scores.category_proba, softmax(logits, tiny.trained.temperature), atol=SCORER_TOLERANCE)
    assert set(scores.languages) <= set(LANGUAGES)
    assert scorer.tokenizer.unk_token_id not in scorer.tokenizer("手机壳")["input_ids"]
    assert scorer.score([]).category_proba.shape == (0, len(CATEGORIES))


def test_bf16_scoring_stays_within_tolerance_of_fp32(tiny: Tiny) -> None:
    texts = [q.text for q in tiny.trained.data.test] + ["手机壳", "lego 积木", ""]
    exact = QueryIntentScorer(tiny.version_dir, precision="fp32")
    fast = QueryIntentScorer(tiny.version_dir, precision="bf16")
    assert exact.dtype == torch.float32 and fast.dtype == torch.bfloat16
    assert next(fast.net.parameters()).dtype == torch.bfloat16
    want, got = exact.score(texts), fast.score(texts)
    assert got.category_proba.dtype == np.float32
    np.testing.assert_allclose(got.category_proba, want.category_proba, atol=BF16_TOLERANCE, rtol=0)
    top2 = np.sort(want.category_proba, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2 * BF16_TOLERANCE
    assert clear.any()
    np.testing.assert_array_equal(got.category_proba[clear].argmax(1), want.category_proba[clear].argmax(1))
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp8'"):
        QueryIntentScorer(tiny.version_dir, precision="fp8")


def test_build_net_keeps_the_first_encoder_layers() -> None:
    full = build_net(30522, 3, len(CATEGORIES), len(INTENT_LANGUAGES))
    assert len(full.encoder.encoder.layer) == full.encoder.config.num_hidden_layers == BASE_LAYERS
    short = build_net(30522, 3, len(CATEGORIES), len(INTENT_LANGUAGES), encoder_layers=2)
    assert len(short.encoder.encoder.layer) == short.encoder.config.num_hidden_layers == 2
    kept, base = short.encoder.encoder.layer.parameters(), full.encoder.encoder.layer[:2].parameters()
    assert all(torch.equal(k, b) for k, b in zip(kept, base, strict=True))
    with pytest.raises(ValueError, match="encoder_layers must be between 1 and 6, got 7"):
        build_net(30522, 3, len(CATEGORIES), len(INTENT_LANGUAGES), encoder_layers=7)


def test_scorer_builds_the_recorded_encoder_depth_and_six_layers_without_the_key(tmp_path: Path) -> None:
    config = replace(TINY, train_per_language=(16, 16, 16), encoder_layers=BASE_LAYERS)
    card = train_query_intent(1, tmp_path / "repository", progress=False, config=config)
    version_dir = tmp_path / "repository" / MODEL_NAME / str(card.version)
    artifact = json.loads((version_dir / ARTIFACT_FILE).read_text())
    assert artifact["encoder_layers"] == BASE_LAYERS == card.hyperparameters["encoder_layers"]
    texts = ["手机壳", "lego", "zapatillas de running", "usb c cable"]
    expected = QueryIntentScorer(version_dir).score(texts).category_proba
    old = tmp_path / "1"
    shutil.copytree(version_dir, old)
    del artifact["encoder_layers"]
    (old / ARTIFACT_FILE).write_text(json.dumps(artifact))
    scorer = QueryIntentScorer(old)
    assert scorer.encoder_layers == len(scorer.net.encoder.encoder.layer) == BASE_LAYERS
    np.testing.assert_array_equal(scorer.score(texts).category_proba, expected)
    (old / ARTIFACT_FILE).write_text(json.dumps({**artifact, "encoder_layers": 9}))
    with pytest.raises(ArtifactError, match="encoder_layers must be between 1 and 6, got 9"):
        QueryIntentScorer(old)


def test_a_shallow_encoder_trains_and_scores_with_its_layers(tmp_path: Path) -> None:
    config = replace(TINY, train_per_language=(16, 16, 16), encoder_layers=2)
    card = train_query_intent(1, tmp_path, progress=False, config=config)
    version_dir = tmp_path / MODEL_NAME / str(card.version)
    assert card.hyperparameters["encoder_layers"] == 2
    assert json.loads((version_dir / ARTIFACT_FILE).read_text())["encoder_layers"] == 2
    scorer = QueryIntentScorer(version_dir)
    assert scorer.encoder_layers == len(scorer.net.encoder.encoder.layer) == 2
    assert scorer.score(["手机壳", "lego"]).category_proba.shape == (2, len(CATEGORIES))


def test_scorer_refuses_an_adapter_trained_on_other_base_weights(tiny: Tiny, tmp_path: Path) -> None:
    copy = tmp_path / "1"
    shutil.copytree(tiny.version_dir, copy)
    artifact = json.loads((copy / ARTIFACT_FILE).read_text())
    (copy / ARTIFACT_FILE).write_text(json.dumps({**artifact, "base_sha256": "0" * 64}))
    with pytest.raises(ArtifactError, match="weights sha256 000000000000"):
        QueryIntentScorer(copy)
    (copy / ARTIFACT_FILE).unlink()
    with pytest.raises(ArtifactError, match="unreadable intent.json"):
        QueryIntentScorer(copy)


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
    module.Logger = _FakeLogger  # type: ignore[attr-defined]
    return module


class _FakeLogger:
    lines: list[str] = []

    @classmethod
    def log_info(cls, message: str) -> None:
        cls.lines.append(message)


def _with_precision(precision: str) -> str:
    """A ``model_config`` argument (JSON) whose ``precision`` parameter is ``precision``."""
    return json.dumps({"parameters": {"precision": {"string_value": precision}}})


def _text_tensor(texts: list[bytes]) -> _FakeTensor:
    return _FakeTensor(TEXT_TENSOR, np.array(texts, dtype=np.object_).reshape(-1, 1))


def test_python_backend_template_batches_requests_and_isolates_errors(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", _fake_pb_utils())
    spec = importlib.util.spec_from_file_location("served_query_intent", tiny.version_dir / MODEL_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = {"model_name": MODEL_NAME, "model_repository": str(tiny.repository / MODEL_NAME),
            "model_version": "1", "model_instance_kind": "CPU"}  # fmt: skip
    model = module.TritonPythonModel()
    model.initialize({**args, "model_config": _with_precision("fp32")})
    assert model.scorer.dtype == torch.float32
    assert _FakeLogger.lines[-1] == f"{MODEL_NAME} version 1: scoring in float32 on cpu (precision fp32)"
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        module.TritonPythonModel().initialize({**args, "model_config": _with_precision("fp16")})
    unset = module.TritonPythonModel()
    unset.initialize({**args, "model_config": json.dumps({"parameters": {}})})
    assert unset.scorer.dtype == resolve_precision("auto", torch.device("cpu"))
    good_a = ["lego 积木".encode(), "funda para móvil barato".encode()]
    good_b = [b"wireless earbuds"]
    requests = [{TEXT_TENSOR: _text_tensor(good_a)}, {TEXT_TENSOR: _text_tensor([b"\xff\xfe"])},
                {TEXT_TENSOR: _text_tensor(good_b)}, {}]  # fmt: skip
    responses = model.execute(requests)
    scorer = QueryIntentScorer(tiny.version_dir, precision="fp32")
    assert len(responses) == 4
    for response, texts in ((responses[0], good_a), (responses[2], good_b)):
        proba, language = response.output_tensors
        assert response.error is None and proba.name() == CATEGORY_PROBA_TENSOR and language.name() == LANGUAGE_TENSOR
        expected = scorer.score([t.decode() for t in texts])
        np.testing.assert_allclose(proba.as_numpy(), expected.category_proba, atol=SCORER_TOLERANCE)
        assert language.as_numpy().shape == (len(texts), 1)
        assert [v.decode() for v in language.as_numpy()[:, 0]] == expected.languages
    assert responses[1].error == f"{MODEL_NAME}: TEXT row 0 is not valid UTF-8"
    assert responses[3].error == f"{MODEL_NAME}: missing input {TEXT_TENSOR}"


def test_cli_trains_query_intent_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def tiny_train(seed: int, out_repository: Path, progress: bool) -> Any:
        return train_query_intent(seed, out_repository, progress=False, config=TINY)

    monkeypatch.setattr(cli, "train_query_intent", tiny_train)
    settings = Settings(_env_file=None, model_repository=tmp_path / "repo")
    assert [c.model for c in cli.train(settings, [MODEL_NAME])] == [MODEL_NAME]
    assert cli.train(settings, [MODEL_NAME], if_missing=True) == []
    (row,) = cli.describe(settings)
    assert row["model"] == MODEL_NAME and row["live"] and {"accuracy_en", "accuracy_zh", "accuracy_es"} <= set(row)
    assert cli.ALL_MODELS[-1] == MODEL_NAME


@pytest.fixture(scope="module")
def default_card() -> ModelCard:
    """The default fit's card: ``make setup``'s when trained with today's defaults, else fitted here."""
    seed = Settings(_env_file=None).seed
    card = setup_card(MODEL_NAME, seed, asdict(IntentTrainingConfig()))
    return card if card is not None else fit_intent(seed=seed, progress=False).card


def test_default_training_meets_the_held_out_thresholds(default_card: ModelCard) -> None:
    metrics = default_card.metrics
    assert isinstance(metrics, IntentMetrics)
    for language in LANGUAGES:
        assert metrics.accuracy_by_language[language] >= MIN_ACCURACY, (language, metrics.accuracy_by_language)
        assert metrics.language_accuracy_by_language[language] >= MIN_ACCURACY, language
    assert metrics.ece <= MAX_ECE
    assert metrics.auc >= 0.95


class _FailingClient:
    def __init__(self) -> None:
        self.calls = 0

    async def infer(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise InferenceServerException("connection refused", status="StatusCode.UNAVAILABLE")


async def test_classify_queries_fails_as_scoring_unavailable_and_opens_the_breaker() -> None:
    scorer = TritonScorer("127.0.0.1:1", TritonClientSettings(breaker_failures=2), clock=lambda: 0.0)
    client = _FailingClient()
    scorer._client = client  # type: ignore[assignment]
    assert await classify_queries(scorer, []) == [] and client.calls == 0
    for _ in range(2):
        with pytest.raises(ScoringUnavailable) as failure:
            await classify_queries(scorer, ["手机壳"])
        assert failure.value.reason == Reason.TRITON_UNAVAILABLE
    with pytest.raises(ScoringUnavailable) as failure:
        await classify_queries(scorer, ["手机壳"])
    assert failure.value.reason == Reason.CIRCUIT_OPEN and client.calls == 2
    assert scorer.stats.failures == 2
