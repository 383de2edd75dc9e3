"""Triton python-backend model ``query_intent``: ``TEXT`` strings → ``CATEGORY_PROBA`` and ``LANGUAGE``.

Copied into every version directory. It only moves tensors: tokenizing and scoring live in
:class:`triton_models.query_intent.scorer.QueryIntentScorer`, imported from the venv that runs
the stub. A GPU instance group scores on its own device. The config's ``precision`` parameter
(``auto``, ``fp32`` or ``bf16``; ``auto`` when absent) picks the encoder's number format; an
unknown value fails the model's load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import triton_python_backend_utils as pb_utils

from triton_models.query_intent.contract import CATEGORY_PROBA_TENSOR, LANGUAGE_TENSOR, TEXT_TENSOR
from triton_models.query_intent.scorer import DEFAULT_PRECISION, QueryIntentScorer, decode_texts

INTRA_OP_THREADS = 1
GPU_KIND = "GPU"
PRECISION_PARAMETER = "precision"


class TritonPythonModel:
    """One instance per model instance; adapter and tokenizer come from this version's directory."""

    def initialize(self, args: dict[str, str]) -> None:
        torch.set_num_threads(INTRA_OP_THREADS)
        self.model_name = args["model_name"]
        on_gpu = args.get("model_instance_kind") == GPU_KIND
        device = f"cuda:{args.get('model_instance_device_id', '0')}" if on_gpu else "cpu"
        parameters = json.loads(args.get("model_config") or "{}").get("parameters") or {}
        precision = (parameters.get(PRECISION_PARAMETER) or {}).get("string_value", DEFAULT_PRECISION)
        self.scorer = QueryIntentScorer(Path(args["model_repository"]) / args["model_version"], device, precision)
        pb_utils.Logger.log_info(
            f"{self.model_name} version {args['model_version']}: scoring in {str(self.scorer.dtype).removeprefix('torch.')}"
            f" on {device} (precision {precision})"
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        scored = self.scorer.score_batches([self._texts(request) for request in requests])
        responses = []
        for result in scored:
            if isinstance(result, Exception):
                error = pb_utils.TritonError(f"{self.model_name}: {result}")
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
                continue
            languages = np.array([[language.encode()] for language in result.languages], dtype=np.object_)
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor(CATEGORY_PROBA_TENSOR, result.category_proba),
                        pb_utils.Tensor(LANGUAGE_TENSOR, languages.reshape(-1, 1)),
                    ]
                )
            )
        return responses

    def _texts(self, request: Any) -> list[str] | Exception:
        tensor = pb_utils.get_input_tensor_by_name(request, TEXT_TENSOR)
        if tensor is None:
            return ValueError(f"missing input {TEXT_TENSOR}")
        try:
            return decode_texts(tensor.as_numpy())
        except ValueError as exc:
            return exc

    def finalize(self) -> None:
        self.scorer = None
