"""Classifying queries with one ``query_intent`` version outside any server: what the python backend calls."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoTokenizer

from triton_models.query_intent.network import BASE_LAYERS, IntentNet, base_weights_sha256, build_net, pad
from triton_models.query_intent.repository import ADAPTER_DIR, ARTIFACT_FILE, ARTIFACT_FORMAT, TOKENIZER_DIR
from triton_models.query_intent.temperature import softmax

FORWARD_ROWS: Final = 32
"""Queries per forward pass, taken in order of length, so little padding is computed: the encoder's
cost grows with rows × padded tokens. Measured, 2-layer encoder, one thread, 2,048 generated search
queries in requests of 256, fp32: 890 µs per query in passes of 8, 792 of 16, 711 of 32, 726 of 64."""

Precision = Literal["auto", "fp32", "bf16"]
"""The encoder's number format: ``auto`` is bf16 where the device computes it natively, else fp32."""
PRECISIONS: Final[tuple[str, ...]] = get_args(Precision)
DEFAULT_PRECISION: Final = "auto"


class ArtifactError(ValueError):
    """A version directory that cannot be served: missing files, wrong format, or another base model."""


@dataclass(frozen=True)
class IntentScores:
    """Category probabilities (float32 ``[rows, 8]``) and detected languages of some queries."""

    category_proba: np.ndarray
    languages: list[str]


def decode_texts(array: np.ndarray) -> list[str]:
    """The queries of a ``TEXT`` tensor: an object (bytes) array of shape ``[rows, 1]``, UTF-8.

    Examples
    --------
    >>> decode_texts(np.array([["手机壳".encode()], [b"lego"]], dtype=object))
    ['手机壳', 'lego']
    >>> decode_texts(np.array([[b"\\xff"]], dtype=object))
    Traceback (most recent call last):
    ...
    ValueError: TEXT row 0 is not valid UTF-8
    >>> decode_texts(np.array([b"a", b"b"], dtype=object))
    Traceback (most recent call last):
    ...
    ValueError: expected TEXT of shape (rows, 1), got (2,)
    """
    if array.ndim != 2 or array.shape[1] != 1:
        raise ValueError(f"expected TEXT of shape (rows, 1), got {array.shape}")
    texts = []
    for row, value in enumerate(array[:, 0]):
        if isinstance(value, str):
            texts.append(value)
            continue
        try:
            texts.append(bytes(value).decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"TEXT row {row} is not valid UTF-8") from None
    return texts


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 matrices in hardware (CPU: oneDNN's AVX-512 bf16 check; CUDA: Ampere on)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The dtype to score in for a ``precision`` setting on ``device``.

    bf16 halves the encoder's time where the hardware has it (2,048 queries on this machine's
    AVX-512 bf16 CPU: 940 → 446 µs per query) and moved no query's category or language;
    probabilities moved by at most 0.0063 (``BENCHMARKS.md``).

    Examples
    --------
    >>> resolve_precision("fp32", torch.device("cpu"))
    torch.float32
    >>> resolve_precision("bf16", torch.device("cpu"))
    torch.bfloat16
    >>> resolve_precision("fp16", torch.device("cpu"))
    Traceback (most recent call last):
    ...
    ValueError: precision must be one of auto, fp32, bf16, got 'fp16'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" or (precision == "auto" and bf16_native(device)):
        return torch.bfloat16
    return torch.float32


class QueryIntentScorer:
    """Category probabilities and language of queries, from one version directory.

    The adapter is merged into the base weights once at load time, so scoring costs
    one plain MiniLM forward pass per :data:`FORWARD_ROWS` queries. The encoder keeps the
    ``encoder_layers`` its ``intent.json`` records (all six when absent: versions written before the key).

    Parameters
    ----------
    version_dir
        A ``query_intent`` version directory (``adapter/``, ``tokenizer/``, ``intent.json``).
    device
        Torch device to score on (``"cpu"``, or ``"cuda:0"`` in a GPU instance group).
    precision
        ``auto``, ``fp32`` or ``bf16`` (:func:`resolve_precision`); the chosen dtype is :attr:`dtype`.

    Raises
    ------
    ArtifactError
        When the directory is incomplete, of another format, or was trained on other base weights.
    ValueError
        When ``precision`` is none of :data:`PRECISIONS`.
    """

    def __init__(self, version_dir: Path, device: str = "cpu", precision: str = DEFAULT_PRECISION) -> None:
        try:
            artifact = json.loads((version_dir / ARTIFACT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{version_dir}: unreadable {ARTIFACT_FILE}: {exc}") from None
        if artifact.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError(
                f"{version_dir}: {ARTIFACT_FILE} format {artifact.get('format')!r} is not {ARTIFACT_FORMAT}"
            )
        if artifact["base_sha256"] != base_weights_sha256():
            raise ArtifactError(
                f"{version_dir}: adapter trained on {artifact['base_model']} weights sha256 "
                f"{artifact['base_sha256'][:12]}, installed {artifact['base_package']} has {base_weights_sha256()[:12]}"
            )
        self.categories: tuple[str, ...] = tuple(artifact["categories"])
        self.languages: tuple[str, ...] = tuple(artifact["languages"])
        self.max_length = int(artifact["max_length"])
        self.temperature = float(artifact["temperature"])
        self.device = torch.device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(version_dir / TOKENIZER_DIR), local_files_only=True)
        extra_tokens = int(artifact["extra_tokens"])
        self.encoder_layers = int(artifact.get("encoder_layers", BASE_LAYERS))
        try:
            net = build_net(
                int(artifact["base_vocab"]), extra_tokens, len(self.categories), len(self.languages),
                self.encoder_layers,
            )  # fmt: skip
        except ValueError as exc:
            raise ArtifactError(f"{version_dir}: {exc}") from None
        if len(self.tokenizer) != net.base_vocab + extra_tokens:
            raise ArtifactError(
                f"{version_dir}: tokenizer has {len(self.tokenizer)} tokens, "
                f"{ARTIFACT_FILE} expects {net.base_vocab + extra_tokens}"
            )
        self.net: IntentNet = PeftModel.from_pretrained(net, str(version_dir / ADAPTER_DIR)).merge_and_unload()
        self.net.to(device=self.device, dtype=self.dtype).eval()

    def score(self, texts: Sequence[str]) -> IntentScores:
        """Calibrated category probabilities and the most likely language of each query.

        Examples
        --------
        Scoring needs a trained version directory; see ``tests/unit/test_query_intent.py``.
        """
        if not texts:
            return IntentScores(np.empty((0, len(self.categories)), dtype=np.float32), [])
        token_ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = np.argsort([len(t) for t in token_ids], kind="stable")
        proba = np.empty((len(texts), len(self.categories)), dtype=np.float32)
        language = np.empty(len(texts), dtype=np.int64)
        with torch.inference_mode():
            for start in range(0, len(order), FORWARD_ROWS):
                rows = order[start : start + FORWARD_ROWS]
                ids, mask = pad([token_ids[i] for i in rows])
                category_logits, language_logits = self.net(ids.to(self.device), mask.to(self.device))
                proba[rows] = softmax(category_logits.double().cpu().numpy(), self.temperature)
                language[rows] = language_logits.argmax(dim=1).cpu().numpy()
        return IntentScores(proba, [self.languages[i] for i in language])

    def score_batches(self, batches: Sequence[list[str] | Exception]) -> list[IntentScores | Exception]:
        """Score the requests of one dynamic batch with as few forward passes as possible.

        Parameters
        ----------
        batches
            The queries of each request, or the exception met while reading them.

        Returns
        -------
        list
            Per request, in order: its scores, or its exception (a failed forward pass fails all).
        """
        texts = [t for item in batches if not isinstance(item, Exception) for t in item]
        try:
            scores = self.score(texts)
        except (RuntimeError, ValueError) as exc:
            return [item if isinstance(item, Exception) else exc for item in batches]
        results: list[IntentScores | Exception] = []
        start = 0
        for item in batches:
            if isinstance(item, Exception):
                results.append(item)
                continue
            end = start + len(item)
            results.append(IntentScores(scores.category_proba[start:end], scores.languages[start:end]))
            start = end
        return results
