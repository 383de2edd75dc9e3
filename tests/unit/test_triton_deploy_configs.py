"""deploy/triton holds the current GPU variant of every model config (like the JSON Schema files)."""

from __future__ import annotations

from agents.features import MODEL_FEATURES
from triton_models.cli import ALL_MODELS
from triton_models.deploy import DEPLOY_DIR, deploy_configs
from triton_models.query_intent.contract import MODEL_NAME as QUERY_INTENT
from triton_models.query_intent.repository import render_intent_config
from triton_models.repository import CONFIG_FILE, render_config

SHARED_KEYS = ("name", "backend", "input", "output")


def test_gpu_configs_are_current() -> None:
    configs = deploy_configs()
    assert sorted(configs) == sorted(ALL_MODELS)
    on_disk = {p.parent.name: p.read_text(encoding="utf-8") for p in DEPLOY_DIR.glob(f"*/{CONFIG_FILE}")}
    stale = sorted(name for name, text in configs.items() if on_disk.get(name) != text)
    assert not stale, f"run `python -m triton_models.deploy`: stale or missing {stale}"
    assert set(on_disk) == set(configs), "deploy/triton has configs no model produces"


def test_gpu_configs_differ_from_local_ones_only_in_batching_and_placement() -> None:
    local = {name: render_config(name, width) for name, width in MODEL_FEATURES.items()}
    local[QUERY_INTENT] = render_intent_config()
    for name, text in deploy_configs().items():
        shared = [line for line in text.splitlines() if line.startswith(SHARED_KEYS)]
        assert shared == [line for line in local[name].splitlines() if line.startswith(SHARED_KEYS)], name
        assert "kind: KIND_GPU" in text and "kind: KIND_CPU" in local[name]
        assert "dynamic_batching { preferred_batch_size" in text and "max_queue_delay_microseconds" in text
