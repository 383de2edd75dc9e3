"""The ``query_intent`` model in the Triton repository: its ``config.pbtxt`` and its version directories.

A version directory holds ``model.py`` (the python-backend template), ``adapter/`` (LoRA
weights, extra token embeddings and heads), ``tokenizer/`` (the extended tokenizer),
``intent.json`` (labels, sizes, temperature, base-weights checksum) and ``model_card.json``.
Like the other models it is written under a hidden staging name and renamed into place.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

from schemas.common import CATEGORIES
from triton_models.card import ModelCard
from triton_models.query_intent.contract import (
    CATEGORY_PROBA_TENSOR,
    LANGUAGE_TENSOR,
    MAX_BATCH_SIZE,
    MODEL_NAME,
    TEXT_TENSOR,
)
from triton_models.repository import (
    CARD_FILE,
    CONFIG_FILE,
    MAX_WRITE_ATTEMPTS,
    MODEL_FILE,
    STAGING_PREFIX,
    VERSION_DIR_MODE,
    ServingConfig,
    version_numbers,
)

TEMPLATE: Final = Path(__file__).parents[1] / "templates" / "query_intent.py"
ADAPTER_DIR: Final = "adapter"
TOKENIZER_DIR: Final = "tokenizer"
ARTIFACT_FILE: Final = "intent.json"
ARTIFACT_FORMAT: Final = 1
SERVING: Final = ServingConfig(
    max_batch_size=MAX_BATCH_SIZE, preferred_batch_sizes=(32, 64, 128), max_queue_delay_us=2000
)
"""A forward pass costs milliseconds, so waiting 2 ms for a fuller batch is cheap."""


def render_intent_config(serving: ServingConfig = SERVING) -> str:
    """The ``config.pbtxt`` of ``query_intent``: ``TEXT`` string in, ``CATEGORY_PROBA`` and ``LANGUAGE`` out.

    Examples
    --------
    >>> print(render_intent_config())  # doctest: +NORMALIZE_WHITESPACE
    name: "query_intent"
    backend: "python"
    max_batch_size: 256
    input [ { name: "TEXT", data_type: TYPE_STRING, dims: [ 1 ] } ]
    output [ { name: "CATEGORY_PROBA", data_type: TYPE_FP32, dims: [ 8 ] },
             { name: "LANGUAGE", data_type: TYPE_STRING, dims: [ 1 ] } ]
    dynamic_batching { preferred_batch_size: [ 32, 64, 128 ] max_queue_delay_microseconds: 2000 }
    instance_group [ { count: 1, kind: KIND_CPU } ]
    version_policy: { latest: { num_versions: 1 } }
    """
    preferred = ", ".join(str(s) for s in serving.preferred_batch_sizes)
    return "\n".join(
        [
            f'name: "{MODEL_NAME}"',
            'backend: "python"',
            f"max_batch_size: {serving.max_batch_size}",
            f'input [ {{ name: "{TEXT_TENSOR}", data_type: TYPE_STRING, dims: [ 1 ] }} ]',
            f'output [ {{ name: "{CATEGORY_PROBA_TENSOR}", data_type: TYPE_FP32, dims: [ {len(CATEGORIES)} ] }},'
            f' {{ name: "{LANGUAGE_TENSOR}", data_type: TYPE_STRING, dims: [ 1 ] }} ]',
            f"dynamic_batching {{ preferred_batch_size: [ {preferred} ] "
            f"max_queue_delay_microseconds: {serving.max_queue_delay_us} }}",
            f"instance_group [ {{ count: {serving.instance_count}, kind: {serving.instance_kind} }} ]",
            f"version_policy: {{ latest: {{ num_versions: {serving.versions_served} }} }}",
            "",
        ]
    )


def write_intent_config(repository: Path) -> Path:
    """Write ``<repository>/query_intent/config.pbtxt`` unless it exists (a hand-tuned one is kept)."""
    path = repository / MODEL_NAME / CONFIG_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f"{STAGING_PREFIX}{CONFIG_FILE}")
        staged.write_text(render_intent_config(), encoding="utf-8")
        staged.replace(path)
    return path


def write_intent_version(repository: Path, card: ModelCard, populate: Callable[[Path], None]) -> ModelCard:
    """Add the next ``query_intent`` version: ``populate(staging_dir)`` writes the artifacts, then template and card.

    Returns
    -------
    ModelCard
        ``card`` with ``version`` = the number of the directory written.
    """
    model_dir = repository / MODEL_NAME
    write_intent_config(repository)
    for _ in range(MAX_WRITE_ATTEMPTS):
        version = max(version_numbers(model_dir), default=0) + 1
        final = card.model_copy(update={"version": version})
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=model_dir))
        try:
            staging.chmod(VERSION_DIR_MODE)
            populate(staging)
            shutil.copyfile(TEMPLATE, staging / MODEL_FILE)
            (staging / CARD_FILE).write_text(final.model_dump_json(indent=2), encoding="utf-8")
            staging.rename(model_dir / str(version))
            return final
        except OSError:
            if not (model_dir / str(version)).exists():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    raise FileExistsError(f"{model_dir}: could not claim a new version after {MAX_WRITE_ATTEMPTS} attempts")
