"""GPU variants of every model's ``config.pbtxt`` for production, kept in ``deploy/triton/<model>/``.

Same tensors as the local (CPU) configs; only batching and placement differ: instances in
``KIND_GPU`` groups, larger preferred batches. Regenerate after a change with
``python -m triton_models.deploy`` (a unit test fails while they are stale).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from agents.features import MODEL_FEATURES
from triton_models.query_intent.contract import MAX_BATCH_SIZE
from triton_models.query_intent.contract import MODEL_NAME as QUERY_INTENT
from triton_models.query_intent.repository import render_intent_config
from triton_models.repository import CONFIG_FILE, ServingConfig, render_config

DEPLOY_DIR: Final = Path(__file__).resolve().parents[1] / "deploy" / "triton"
GPU_TABULAR: Final = ServingConfig(
    max_batch_size=8192, preferred_batch_sizes=(1024, 4096, 8192), max_queue_delay_us=500, instance_kind="KIND_GPU"
)
"""The MLPs are tiny: one instance per GPU, large batches, half a millisecond of queueing at most."""
GPU_INTENT: Final = ServingConfig(
    max_batch_size=MAX_BATCH_SIZE, preferred_batch_sizes=(64, 128, 256), max_queue_delay_us=2000,
    instance_count=2, instance_kind="KIND_GPU",
)  # fmt: skip
"""Two instances per GPU, so tokenizing one batch on the CPU overlaps the forward pass of another."""


def deploy_configs() -> dict[str, str]:
    """``config.pbtxt`` text of every model's GPU variant, by model name.

    Examples
    --------
    >>> configs = deploy_configs()
    >>> sorted(configs)
    ['conversion', 'ctr', 'fraud', 'query_intent']
    >>> all("kind: KIND_GPU" in text for text in configs.values())
    True
    """
    configs = {name: render_config(name, width, GPU_TABULAR) for name, width in MODEL_FEATURES.items()}
    configs[QUERY_INTENT] = render_intent_config(GPU_INTENT)
    return configs


def write_deploy_configs(root: Path = DEPLOY_DIR) -> list[Path]:
    """Write :func:`deploy_configs` under ``root`` (``<root>/<model>/config.pbtxt``); returns the paths."""
    paths = []
    for name, text in deploy_configs().items():
        path = root / name / CONFIG_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_deploy_configs(Path(sys.argv[1]) if len(sys.argv) > 1 else DEPLOY_DIR):
        print(written)
