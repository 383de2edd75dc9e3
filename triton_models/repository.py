"""The Triton model repository on disk: ``<repo>/<model>/config.pbtxt`` and numbered versions.

A version directory holds ``model.py`` (the python-backend template), ``weights.pt``
and ``model_card.json``. It is written under a hidden staging name and renamed into
place, so a server never sees half a version; the next version is ``max + 1``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import torch

from agents.features import FEATURES_TENSOR, PROBA_TENSOR
from triton_models.card import ModelCard

CONFIG_FILE: Final = "config.pbtxt"
MODEL_FILE: Final = "model.py"
WEIGHTS_FILE: Final = "weights.pt"
CARD_FILE: Final = "model_card.json"
TEMPLATE: Final = Path(__file__).parent / "templates" / MODEL_FILE
STAGING_PREFIX: Final = ".staging-"
MAX_WRITE_ATTEMPTS: Final = 5
VERSION_DIR_MODE: Final = 0o755


@dataclass(frozen=True)
class ServingConfig:
    """Batching and placement written into ``config.pbtxt``."""

    max_batch_size: int = 8192
    preferred_batch_sizes: tuple[int, ...] = (256, 1024, 4096)
    max_queue_delay_us: int = 200
    instance_count: int = 1
    instance_kind: str = "KIND_CPU"
    versions_served: int = 1


def render_config(model: str, width: int, serving: ServingConfig = ServingConfig()) -> str:
    """The ``config.pbtxt`` of a python-backend model with input ``FEATURES[width]`` and output ``PROBA[1]``.

    Examples
    --------
    >>> print(render_config("ctr", 29))  # doctest: +NORMALIZE_WHITESPACE
    name: "ctr"
    backend: "python"
    max_batch_size: 8192
    input [ { name: "FEATURES", data_type: TYPE_FP32, dims: [ 29 ] } ]
    output [ { name: "PROBA", data_type: TYPE_FP32, dims: [ 1 ] } ]
    dynamic_batching { preferred_batch_size: [ 256, 1024, 4096 ] max_queue_delay_microseconds: 200 }
    instance_group [ { count: 1, kind: KIND_CPU } ]
    version_policy: { latest: { num_versions: 1 } }
    """
    preferred = ", ".join(str(s) for s in serving.preferred_batch_sizes)
    return "\n".join(
        [
            f'name: "{model}"',
            'backend: "python"',
            f"max_batch_size: {serving.max_batch_size}",
            f'input [ {{ name: "{FEATURES_TENSOR}", data_type: TYPE_FP32, dims: [ {width} ] }} ]',
            f'output [ {{ name: "{PROBA_TENSOR}", data_type: TYPE_FP32, dims: [ 1 ] }} ]',
            f"dynamic_batching {{ preferred_batch_size: [ {preferred} ] "
            f"max_queue_delay_microseconds: {serving.max_queue_delay_us} }}",
            f"instance_group [ {{ count: {serving.instance_count}, kind: {serving.instance_kind} }} ]",
            f"version_policy: {{ latest: {{ num_versions: {serving.versions_served} }} }}",
            "",
        ]
    )


def version_numbers(model_dir: Path) -> list[int]:
    """Sorted version numbers present in ``model_dir`` (numeric subdirectories only)."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def write_config(repository: Path, model: str, width: int, serving: ServingConfig = ServingConfig()) -> Path:
    """Write ``<repository>/<model>/config.pbtxt`` unless it already exists (then it is left alone)."""
    path = repository / model / CONFIG_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f"{STAGING_PREFIX}{CONFIG_FILE}")
        staged.write_text(render_config(model, width, serving), encoding="utf-8")
        staged.replace(path)
    return path


def write_version(repository: Path, card: ModelCard, artifact: dict[str, Any]) -> ModelCard:
    """Add the next version of ``card.model``: template, weights and card (with its version set).

    Returns
    -------
    ModelCard
        ``card`` with ``version`` = the number of the directory written.
    """
    model_dir = repository / card.model
    write_config(repository, card.model, card.feature_width)
    for _ in range(MAX_WRITE_ATTEMPTS):
        version = max(version_numbers(model_dir), default=0) + 1
        final = card.model_copy(update={"version": version})
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=model_dir))
        try:
            staging.chmod(VERSION_DIR_MODE)
            shutil.copyfile(TEMPLATE, staging / MODEL_FILE)
            torch.save(artifact, staging / WEIGHTS_FILE)
            (staging / CARD_FILE).write_text(final.model_dump_json(indent=2), encoding="utf-8")
            staging.rename(model_dir / str(version))
            return final
        except OSError:
            if not (model_dir / str(version)).exists():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    raise FileExistsError(f"{model_dir}: could not claim a new version after {MAX_WRITE_ATTEMPTS} attempts")


def read_card(version_dir: Path) -> ModelCard:
    """The model card of one version directory."""
    return ModelCard.model_validate_json((version_dir / CARD_FILE).read_text(encoding="utf-8"))


def list_versions(repository: Path) -> list[tuple[str, int, ModelCard]]:
    """Every ``(model, version, card)`` in ``repository``, by model then version."""
    if not repository.is_dir():
        return []
    rows = []
    for model_dir in sorted(p for p in repository.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for version in version_numbers(model_dir):
            if (model_dir / str(version) / CARD_FILE).is_file():
                rows.append((model_dir.name, version, read_card(model_dir / str(version))))
    return rows


def latest_version(repository: Path, model: str) -> int | None:
    """The highest version of ``model``, or ``None`` when it has none."""
    return max(version_numbers(repository / model), default=None)
